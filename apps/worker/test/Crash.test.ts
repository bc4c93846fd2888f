/**
 * The crash-safety guarantee, end to end: the real `enrich` binary (built `dist/main.js`) runs against
 * simulators served by this test process, so the simulators, their jobs and their counters outlive every
 * worker process. Killing the worker (SIGKILL, no chance to clean up) at several points and resuming must
 * give the same output as an uninterrupted run, and the simulators must have charged nobody twice.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Command from "@effect/platform/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { serve } from "@enrich/simulator/node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { examplePeople as input, main, nth, runUntil } from "./utils/binary.js"

const seed = 42
const timeScale = 120
const providers = ["fiber", "crustdata", "thehog"] as const

/** A simulated world: the three simulators on a loopback port, alive for the test's scope. */
const world = serve({ port: 0, timeScale, seed })

/** The worker as a user runs it, against the world at `url`, with its own ledger. */
const enrich = (url: string, dir: string, command: "run" | "resume") =>
  Command.make(
    "node",
    main,
    command,
    ...(command === "run"
      ? [input, "--simulator-url", url, "--time-scale", String(timeScale), "--out", NodePath.join(dir, "out.csv")]
      : []),
    "--db",
    NodePath.join(dir, "ledger.db")
  ).pipe(
    Command.workingDirectory(dir),
    // a clean environment: the runner's DATABASE_URL or provider keys must not reach the worker
    Command.env({ PATH: globalThis.process.env.PATH ?? "", NO_COLOR: "1" }, { extendEnv: false })
  )

/** `enrich <command> ...args` on the ledger in `dir`, which needs no provider (status, export). */
const onLedger = (dir: string, command: string, ...args: ReadonlyArray<string>) =>
  Command.make("node", main, command, ...args, "--db", NodePath.join(dir, "ledger.db")).pipe(
    Command.workingDirectory(dir),
    Command.env({ PATH: globalThis.process.env.PATH ?? "" }, { extendEnv: false })
  )

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-crash-" }))

const netCredits = (served: Effect.Effect.Success<typeof world>) =>
  Object.fromEntries(providers.map((p) => [p, served.simulators.env.counters.netCredits(p)]))

const resubmitted = (served: Effect.Effect.Success<typeof world>) =>
  providers.flatMap((p) => served.simulators.env.counters.resubmitted(p).map((person) => `${p}:${person}`))

/** An uninterrupted run in a fresh world: the reference output and credits. */
const reference = Effect.gen(function*() {
  const served = yield* world
  const dir = yield* tempDir
  let fiberJobs = 0
  const { exitCode } = yield* runUntil(enrich(served.url, dir, "run"), (event) => {
    if (event._tag === "ChunkSubmitted" && event.provider === "fiber") fiberJobs++
    return false
  })
  assert.strictEqual(Number(exitCode), 0)
  return {
    output: NodeFs.readFileSync(NodePath.join(dir, "out.csv"), "utf8"),
    credits: netCredits(served),
    fiberJobs
  }
})

const environment = Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)

describe("crash safety of the enrich binary", () => {
  it.live("dist/main.js is built (the README's test command builds it first)", () =>
    Effect.sync(() => assert.isTrue(NodeFs.existsSync(main), `${main} is missing: run pnpm build`)))

  it.live(
    "SIGKILL at four points, each followed by resume: same output, nobody charged twice",
    () =>
      Effect.gen(function*() {
        const expected = yield* Effect.scoped(reference)
        const served = yield* world
        const dir = yield* tempDir
        // each kill lands in a later phase: every Fiber job in flight, Crustdata stage, TheHog jobs in flight,
        // and right after the first resume started polling again. (Fiber gives no way to know whether a submit
        // arrived: a kill between recording a chunk and its job id leaves it ambiguous, reported and not resent;
        // the Waterfall tests cover that.)
        assert.isAbove(expected.fiberJobs, 0)
        const first = yield* runUntil(
          enrich(served.url, dir, "run"),
          nth("ChunkSubmitted", "fiber", expected.fiberJobs)
        )
        assert.isTrue(first.killed, "the run ended before the first kill point")
        const second = yield* runUntil(enrich(served.url, dir, "resume"), nth("ChunkFinished", "crustdata", 2))
        assert.isTrue(second.killed, "the resume ended before the second kill point")
        const third = yield* runUntil(enrich(served.url, dir, "resume"), nth("ChunkSubmitted", "thehog", 2))
        assert.isTrue(third.killed, "the resume ended before the third kill point")
        const fourth = yield* runUntil(enrich(served.url, dir, "resume"), nth("StageStarted", "thehog", 1))
        assert.isTrue(fourth.killed, "the resume ended before the fourth kill point")
        const last = yield* runUntil(enrich(served.url, dir, "resume"), undefined)
        assert.strictEqual(Number(last.exitCode), 0)

        const output = NodeFs.readFileSync(NodePath.join(dir, "out.csv"), "utf8")
        assert.strictEqual(output, expected.output)
        assert.deepStrictEqual(resubmitted(served), [])
        assert.deepStrictEqual(netCredits(served), expected.credits)
      }).pipe(Effect.scoped, Effect.provide(environment)),
    120_000
  )

  it.live(
    "two resumes of one run at once: one works on it, the other is refused; nothing is paid twice",
    () =>
      Effect.gen(function*() {
        const expected = yield* Effect.scoped(reference)
        const served = yield* world
        const dir = yield* tempDir
        // every Fiber job has its id in the ledger (no chunk left ambiguous), and they are all in flight
        const first = yield* runUntil(
          enrich(served.url, dir, "run"),
          nth("ChunkSubmitted", "fiber", expected.fiberJobs)
        )
        assert.isTrue(first.killed, "the run ended before the kill point")
        const both = yield* Effect.all(
          [
            runUntil(enrich(served.url, dir, "resume"), undefined),
            runUntil(enrich(served.url, dir, "resume"), undefined)
          ],
          { concurrency: 2 }
        )
        assert.deepStrictEqual(both.map((r) => Number(r.exitCode)).sort(), [0, 2])
        const refused = both.find((r) => Number(r.exitCode) === 2)!
        assert.isTrue(
          refused.notes.some((note) => /is being worked on by process \d+ on /.test(note)),
          refused.notes.join("\n")
        )
        assert.strictEqual(NodeFs.readFileSync(NodePath.join(dir, "out.csv"), "utf8"), expected.output)
        assert.deepStrictEqual(resubmitted(served), [])
        assert.deepStrictEqual(netCredits(served), expected.credits)
      }).pipe(Effect.scoped, Effect.provide(environment)),
    120_000
  )

  it.live(
    "SIGTERM stops the run, marks it interrupted, and resume finishes it with the same output",
    () =>
      Effect.gen(function*() {
        const expected = yield* Effect.scoped(reference)
        const served = yield* world
        const dir = yield* tempDir
        const stopped = yield* runUntil(
          enrich(served.url, dir, "run"),
          nth("ChunkSubmitted", "crustdata", 1),
          "SIGTERM"
        )
        assert.isTrue(stopped.killed)
        assert.strictEqual(Number(stopped.exitCode), 130)
        assert.isTrue(
          stopped.notes.some((note) =>
            /^enrich: interrupted; run \S+ is saved in the ledger: `enrich resume`/.test(note)
          ),
          stopped.notes.join("\n")
        )
        /** `enrich status ...args` on this test's ledger: what it prints */
        const statusOf = (...args: ReadonlyArray<string>) => Command.string(onLedger(dir, "status", ...args))
        const status = yield* statusOf()
        assert.match(status, /interrupted/)
        const runId = /^(run-\S+)\s+interrupted/m.exec(status)?.[1]
        assert.isDefined(runId, status)
        const detail = yield* statusOf("--run", runId!)
        assert.include(detail, `\`enrich resume --run ${runId}\` continues it`)
        const last = yield* runUntil(enrich(served.url, dir, "resume"), undefined)
        assert.strictEqual(Number(last.exitCode), 0)
        assert.strictEqual(NodeFs.readFileSync(NodePath.join(dir, "out.csv"), "utf8"), expected.output)
        assert.deepStrictEqual(resubmitted(served), [])
        assert.deepStrictEqual(netCredits(served), expected.credits)
      }).pipe(Effect.scoped, Effect.provide(environment)),
    120_000
  )

  it.live(
    "SIGKILL while two providers have chunks in flight; export before and after resume: every row, then the same output",
    () =>
      Effect.gen(function*() {
        const expected = yield* Effect.scoped(reference)
        const served = yield* world
        const dir = yield* tempDir
        // kill when a later provider submits while an earlier one still has a job out: providers at once
        const inFlight = new Map<string, number>()
        const killed = yield* runUntil(enrich(served.url, dir, "run"), (event) => {
          const provider = event.provider ?? ""
          if (event._tag === "ChunkSubmitted") inFlight.set(provider, (inFlight.get(provider) ?? 0) + 1)
          if (event._tag === "ChunkFinished") inFlight.set(provider, (inFlight.get(provider) ?? 1) - 1)
          return [...inFlight.values()].filter((n) => n > 0).length >= 2
        })
        assert.isTrue(killed.killed, "the run ended before two providers had chunks in flight at once")
        const exportTo = (name: string) => Command.exitCode(onLedger(dir, "export", "--out", NodePath.join(dir, name)))
        assert.strictEqual(Number(yield* exportTo("early.csv")), 0)
        const early = NodeFs.readFileSync(NodePath.join(dir, "early.csv"), "utf8").trimEnd().split("\n")
        const uninterrupted = expected.output.trimEnd().split("\n")
        assert.strictEqual(early.length, uninterrupted.length, "one row per input row, also mid-run")
        assert.isTrue(early.some((line) => line.endsWith(",pending,not finished yet: enrich resume continues")))
        const last = yield* runUntil(enrich(served.url, dir, "resume"), undefined)
        assert.strictEqual(Number(last.exitCode), 0)
        assert.strictEqual(NodeFs.readFileSync(NodePath.join(dir, "out.csv"), "utf8"), expected.output)
        assert.strictEqual(Number(yield* exportTo("late.csv")), 0)
        assert.strictEqual(NodeFs.readFileSync(NodePath.join(dir, "late.csv"), "utf8"), expected.output)
        assert.deepStrictEqual(resubmitted(served), [])
        assert.deepStrictEqual(netCredits(served), expected.credits)
      }).pipe(Effect.scoped, Effect.provide(environment)),
    120_000
  )

  it.live(
    "a second run of the same list reuses the ledger's results: same output, no new charge",
    () =>
      Effect.gen(function*() {
        const served = yield* world
        const dir = yield* tempDir
        const first = yield* runUntil(enrich(served.url, dir, "run"), undefined)
        assert.strictEqual(Number(first.exitCode), 0)
        const output = NodeFs.readFileSync(NodePath.join(dir, "out.csv"), "utf8")
        const credits = netCredits(served)
        assert.isAbove(Object.values(credits).reduce((a, b) => a + b, 0), 0)
        const requests = served.simulators.env.counters.snapshot().requests
        const second = yield* runUntil(enrich(served.url, dir, "run"), undefined)
        assert.strictEqual(Number(second.exitCode), 0)
        assert.strictEqual(NodeFs.readFileSync(NodePath.join(dir, "out.csv"), "utf8"), output)
        assert.deepStrictEqual(netCredits(served), credits)
        assert.deepStrictEqual(
          served.simulators.env.counters.snapshot().requests,
          requests,
          "a provider was asked again"
        )
      }).pipe(Effect.scoped, Effect.provide(environment)),
    60_000
  )
})
