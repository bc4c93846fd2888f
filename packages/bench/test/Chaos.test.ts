/**
 * `pnpm chaos` small, as CI runs it: 300 people, 10 random SIGKILLs plus the kills in the known windows and a
 * concurrent resume, fault-free so the output must be identical to an uninterrupted run's. Asserts what the run
 * must produce (no row lost, nobody paid for twice, the same credits, the same output), never a time.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodePath from "node:path"
import { runNode } from "./utils/node.js"

const main = NodePath.resolve(import.meta.dirname, "../dist/chaos-main.js")

// the ledger is SQLite unless asked: a DATABASE_URL of the test runner does not leak in
const chaos = (args: ReadonlyArray<string>) => runNode(main, args, { PATH: globalThis.process.env.PATH ?? "" })

interface Result {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

/** One small chaos run, shared by the tests that read it (it takes a minute or two). */
let small: Promise<Result> | undefined
const smallRun = Effect.promise(() =>
  small ??= Effect.runPromise(
    chaos(["--people", "300", "--kills", "10", "--pairs", "1", "--faults", "none", "--time-scale", "600"])
  )
)

const verdict = (result: Result) => {
  const lines = result.stdout.trimEnd().split("\n")
  const match =
    /^chaos: (\d+) kills, rows lost (\d+), double charges (\d+), credits equal: (yes|no), output identical: (yes|no)$/
      .exec(lines[lines.length - 1]!)
  assert.isNotNull(match, `${result.stdout}\n${result.stderr}`)
  const [, kills, rowsLost, doubleCharges, creditsEqual, outputIdentical] = match!
  return {
    kills: Number(kills),
    rowsLost: Number(rowsLost),
    doubleCharges: Number(doubleCharges),
    creditsEqual,
    outputIdentical
  }
}

describe("pnpm chaos", () => {
  it.effect(
    "300 people, 10 random kills and the known windows: no row lost, no empty run, one process per run",
    () =>
      Effect.gen(function*() {
        const result = yield* smallRun
        const v = verdict(result)
        // the random kills at least (the windows add more); a run that ended before them would prove little
        assert.isAtLeast(v.kills, 10, result.stdout)
        assert.strictEqual(v.rowsLost, 0, result.stdout)
        assert.match(result.stdout, /one resume refused: .*is being worked on by/)
        assert.notMatch(result.stdout, /an empty run|two concurrent resumes both|temporary output files left/)
      }),
    { timeout: 300_000 }
  )

  // A kill the moment Fiber takes a batch start leaves that chunk "ambiguous": Fiber has no idempotency key and no
  // job list, so nobody can know whether the start arrived. Such a chunk is reported and never resent (resending
  // could pay twice); its people end failed at Fiber, so the output then differs from the uninterrupted run.
  // Whether one of the random kills lands in that instant varies from run to run: the test asserts the rule, not
  // the luck. Otherwise the ledger's credits equal what the simulator billed, which equals the uninterrupted
  // run's bill (two causes of the ledger booking more were found by this test and fixed, each with its own test in
  // Waterfall.test.ts: a job's last page booked twice on resume, and Fiber refunds reported to a killed process).
  it.effect(
    "… nobody paid for twice; the same output and credits as an uninterrupted run, unless a Fiber start was left " +
      "ambiguous (reported)",
    () =>
      Effect.gen(function*() {
        const result = yield* smallRun
        const v = verdict(result)
        assert.strictEqual(v.doubleCharges, 0, result.stdout)
        if (v.outputIdentical === "yes") assert.strictEqual(v.creditsEqual, "yes", result.stdout)
        else {
          // the last resume's summary, printed by the harness when something differs, names the ambiguous chunks
          assert.match(result.stdout, /\d+ chunk\(s\) left unsent after a crash/, result.stdout)
          // an ambiguous chunk that did reach Fiber is billed and never read: the ledger books less, never more
          const credits = /the ledger booked credits: (\d+).*?, the simulator billed (\d+)/.exec(result.stdout)
          if (credits !== null) assert.isAtMost(Number(credits[1]), Number(credits[2]), result.stdout)
        }
      }),
    { timeout: 300_000 }
  )

  it.effect("a mistake in the command line is one line and exit code 2", () =>
    Effect.gen(function*() {
      const result = yield* chaos(["--kills", "-1"])
      assert.strictEqual(result.exitCode, 2)
      assert.match(result.stderr, /^chaos: --kills must be a number of at least 0, got -1$/m)
    }))
})
