/**
 * `pnpm bench` as a reader runs it, at small sizes: every part finishes, every figure line carries its figure
 * and its target, every record and person is accounted for, and a mistake in the command line is one line.
 * Times are never asserted (they vary by machine); only what a run must produce whatever its speed. The README's
 * test command builds the bench first (`pnpm test` = `pnpm build && vitest run`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodePath from "node:path"
import { runNode } from "./utils/node.js"

const main = NodePath.resolve(import.meta.dirname, "../dist/main.js")

const bench = (args: ReadonlyArray<string>) => runNode(main, args)

/** The line of the figure `label`, checked for its shape: `label: figure (target ...)`, then OK/MISS or nothing. */
const figureLine = (stdout: string, label: string): string => {
  const line = stdout.split("\n").find((l) => l.startsWith(`${label}: `))
  assert.isDefined(line, `no "${label}" line in:\n${stdout}`)
  assert.match(line!, /: \S+.* \(target [^)]+\)(  (OK|MISS))?$/, line)
  return line!
}

const assertClean = (result: { stdout: string; stderr: string; exitCode: number }) => {
  assert.strictEqual(result.exitCode, 0, result.stderr)
  assert.notMatch(result.stdout, /WARNING|failed/, result.stdout)
  assert.notMatch(result.stderr, /\n\s+at /, "a stack trace")
}

describe("pnpm bench", () => {
  it.effect("ingest: every generated record is decoded and committed, and each figure has its target", () =>
    Effect.gen(function*() {
      const result = yield* bench(["ingest", "--records", "3000"])
      assertClean(result)
      assert.match(result.stdout, /decoded \+ committed: 3000 records in /)
      assert.match(result.stdout, /Schema decode, nothing stored: 3000 records in /)
      for (
        const label of [
          "ingest throughput",
          "ingest cost vs raw gunzip + JSON.parse",
          "ingest floor: gunzip + JSON.parse + Schema decode, nothing stored, vs raw",
          "ingest part: Journal.commitPage alone (outcome encoding + SQLite) vs raw",
          "ingest peak RSS"
        ]
      ) figureLine(result.stdout, label)
    }))

  it.effect("credits: the waterfall pays the same-order minimum, and less than every provider for everyone", () =>
    Effect.gen(function*() {
      const result = yield* bench(["credits", "--credit-people", "60"])
      assertClean(result)
      // credits do not depend on speed: the simulators' billing is deterministic for a seed
      assert.match(figureLine(result.stdout, "credits waterfall vs same-order minimum"), /  OK$/)
      assert.match(figureLine(result.stdout, "credits waterfall vs every provider for everyone"), /  OK$/)
      figureLine(result.stdout, "credits waterfall vs any-order oracle minimum")
      // the cost model's lines: the auto order against the oracle (fill kept), and the estimate of other people
      assert.match(
        figureLine(result.stdout, "credits auto order vs any-order oracle"),
        /\(fill not below the user order\) \(target <= 1\.15, fill no more than 1 point below\)/
      )
      figureLine(result.stdout, "credits best fixed order in hindsight vs any-order oracle")
      figureLine(result.stdout, "estimate vs actual spend")
      assert.match(result.stdout, /estimated \d+ \(95% range \d+–\d+\), spent \d+ .*in the range: (yes|no)/)
    }))

  it.effect("ceiling: both providers and the naive client account for every person", () =>
    Effect.gen(function*() {
      const result = yield* bench(["ceiling", "--people", "100", "--naive-time-scale", "600"])
      assertClean(result)
      for (const provider of ["fiber", "crustdata"]) {
        assert.match(result.stdout, new RegExp(`  ${provider}: lower bound .* people accounted 100/100`))
        assert.match(result.stdout, new RegExp(`  naive ${provider}: .* rows 100,`))
        figureLine(result.stdout, `ceiling efficiency ${provider} 100 people`)
        figureLine(result.stdout, `speed-up vs naive client ${provider}`)
      }
    }))

  it.effect("waterfall: both set-ups print their ratios, and pipelined and stage by stage agree person by person", () =>
    Effect.gen(function*() {
      const result = yield* bench(["waterfall", "--people", "300", "--time-scale", "100"])
      assertClean(result)
      for (const setUp of ["default", "comparable"]) {
        figureLine(result.stdout, `waterfall makespan vs bound (${setUp})`)
        assert.match(
          result.stdout,
          new RegExp(
            `^same outcomes and credits person by person, pipelined vs stage by stage \\(${setUp}\\): yes `,
            "m"
          )
        )
      }
      figureLine(result.stdout, "first finished row at")
    }))

  it.effect("rss: the built enrich run over a list writes one output row per input row", () =>
    Effect.gen(function*() {
      const result = yield* bench(["rss", "--rss-people", "300"])
      assertClean(result)
      assert.match(result.stdout, /  enrich run: 300 input rows, exit 0 /)
      figureLine(result.stdout, "run peak RSS 300 people")
      assert.match(figureLine(result.stdout, "run output rows"), /: 300 of 300 input rows .*  OK$/)
    }))

  it.effect("a mistake in the command line is one line and exit code 2", () =>
    Effect.gen(function*() {
      for (
        const [args, mentions] of [
          [["ingest", "--records", "-1"], /^bench: --records must be a positive number, got -1$/m],
          [["nope"], /^bench: unknown part "nope"/m],
          [["ceiling", "--provider", "thehog"], /^bench: --provider must be fiber or crustdata/m],
          [["waterfall", "--setup", "fast"], /^bench: --setup must be default or comparable, got fast$/m],
          [["waterfall", "--people", "0"], /^bench: --people must be a positive number, got 0$/m],
          [["rss", "--rss-people", "many"], /^bench: --rss-people must be a positive number, got many$/m]
        ] as const
      ) {
        const result = yield* bench(args)
        assert.strictEqual(result.exitCode, 2, result.stderr)
        assert.match(result.stderr, mentions)
        assert.notMatch(result.stderr, /\n\s+at /, "a stack trace")
      }
    }))
})
