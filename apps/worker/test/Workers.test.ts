/**
 * Several `enrich worker` processes on one Postgres ledger: a submitted run is shared out in shards through the
 * persisted queue; a worker killed with SIGKILL loses its shards when their leases lapse and the others finish
 * them from the ledger. The output must equal a single-process `enrich run`, and the simulators (served by this
 * test process, so they outlive every worker) must have charged nobody twice.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Command from "@effect/platform/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { serve } from "@enrich/simulator/node"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { enrich, examplePeople as input, main, nth, runUntil } from "./utils/binary.js"
import { databaseUrl, freshSchema } from "./utils/db.js"
import { redisUrl, uniquePrefix } from "./utils/redis.js"

const seed = 42
const timeScale = 300
// Crustdata and TheHog say whether a job reached them (job list, Idempotency-Key), so a worker killed at any
// instant leaves nothing ambiguous and the output is exactly the uninterrupted one; Fiber's ambiguous chunks
// are reported instead (see Crash.test.ts).
const providers = ["thehog", "crustdata"] as const
const env = { PATH: process.env.PATH ?? "", NO_COLOR: "1" }

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-workers-" }))

const simulatorFlags = (url: string, scale = timeScale) => ["--simulator-url", url, "--time-scale", String(scale)]

/**
 * A worker on `ledger` that exits when the queue is empty; with `limits`, its providers' limits are counted in
 * Redis under that key prefix, shared with the other workers given the same.
 */
const worker = (dir: string, ledger: string, options: { readonly lease?: number; readonly limits?: string } = {}) =>
  Command.make(
    "node",
    main,
    "worker",
    "--database-url",
    ledger,
    "--drain",
    "--lease-seconds",
    String(options.lease ?? 3),
    ...(options.limits === undefined || redisUrl === undefined ? [] : ["--redis-url", redisUrl])
  ).pipe(
    Command.workingDirectory(dir),
    Command.env({ ...env, ...(options.limits === undefined ? {} : { REDIS_KEY_PREFIX: options.limits }) }, {
      extendEnv: false
    })
  )

/** Two workers on `ledger` at once, to the end: both exit 0; their notes, for what they worked on. */
const twoWorkers = (dir: string, ledger: string, options: Parameters<typeof worker>[2] = {}) =>
  Effect.gen(function*() {
    const done = yield* Effect.all([
      runUntil(worker(dir, ledger, options), undefined),
      runUntil(worker(dir, ledger, options), undefined)
    ], { concurrency: 2 })
    assert.deepStrictEqual(done.map((w) => Number(w.exitCode)), [0, 0], done.flatMap((w) => w.notes).join("\n"))
    return done
  })

/** Nobody was submitted twice to any provider (the simulators' own counts). */
const assertNobodyTwice = (served: Effect.Effect.Success<ReturnType<typeof serve>>) =>
  assert.deepStrictEqual(
    providers.flatMap((p) => served.simulators.env.counters.resubmitted(p).map((person) => `${p}:${person}`)),
    [],
    "people submitted twice to a provider"
  )

/** An uninterrupted single-process run of the same input, in a world of its own: output and credits. */
const referenceRun = (dir: string) =>
  Effect.scoped(Effect.gen(function*() {
    const served = yield* serve({ port: 0, timeScale, seed })
    const ran = yield* enrich([
      "run",
      input,
      "--providers",
      providers.join(","),
      ...simulatorFlags(served.url),
      "--db",
      NodePath.join(dir, "reference.db"),
      "--out",
      NodePath.join(dir, "reference.csv")
    ], { cwd: dir, env })
    assert.strictEqual(ran.exitCode, 0, ran.stderr)
    return {
      output: NodeFs.readFileSync(NodePath.join(dir, "reference.csv"), "utf8"),
      credits: providers.map((p) => served.simulators.env.counters.netCredits(p))
    }
  }))

/** The input submitted in shards of `shardSize` rows on a fresh Postgres ledger. */
const submitted = (dir: string, url: string, shardSize = 40, scale = timeScale, extra: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const ledger = yield* freshSchema(databaseUrl!, "workers")
    const done = yield* enrich([
      "submit",
      input,
      "--providers",
      providers.join(","),
      ...simulatorFlags(url, scale),
      "--database-url",
      ledger,
      "--shard-size",
      String(shardSize),
      ...extra
    ], { cwd: dir, env })
    assert.strictEqual(done.exitCode, 0, done.stderr)
    const runId = done.stdout.trim()
    assert.match(runId, /^run-/)
    return { ledger, runId }
  })

/** The run is finished, and its export equals the reference with nobody charged twice. */
const assertSameAsReference = (
  dir: string,
  ledger: string,
  runId: string,
  served: Effect.Effect.Success<ReturnType<typeof serve>>,
  reference: Effect.Effect.Success<ReturnType<typeof referenceRun>>
) =>
  Effect.gen(function*() {
    const status = yield* enrich(["status", "--run", runId, "--database-url", ledger], { cwd: dir, env })
    assert.include(status.stdout, `${runId}: finished`)
    assert.include(status.stdout, "shards: 8 of 8 done")
    // the per-provider figures read every shard of the run
    assert.match(status.stdout, /crustdata +asked [1-9]/)
    const out = NodePath.join(dir, "workers.csv")
    const exported = yield* enrich(["export", "--run", runId, "--out", out, "--database-url", ledger], {
      cwd: dir,
      env
    })
    assert.strictEqual(exported.exitCode, 0, exported.stderr)
    assert.strictEqual(NodeFs.readFileSync(out, "utf8"), reference.output)
    assertNobodyTwice(served)
    assert.deepStrictEqual(providers.map((p) => served.simulators.env.counters.netCredits(p)), reference.credits)
  })

const environment = Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)

describe.skipIf(databaseUrl === undefined)(
  databaseUrl === undefined
    ? "enrich worker on Postgres (skipped: DATABASE_URL is not set)"
    : "enrich worker on Postgres",
  () => {
    it.live(
      "three workers share a submitted run; one is SIGKILLed: same output as one process, nobody charged twice, " +
        (redisUrl === undefined
          ? "(429s not checked: REDIS_URL is not set)"
          : "no 429 from the simulators (limits shared in Redis)"),
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir
          const reference = yield* referenceRun(dir)
          const served = yield* serve({ port: 0, timeScale, seed })
          const { ledger, runId } = yield* submitted(dir, served.url)
          const limits = uniquePrefix()

          // the first worker dies holding shards, with jobs in flight at both providers
          const killed = yield* runUntil(worker(dir, ledger, { limits }), nth("ChunkSubmitted", "crustdata", 2))
          assert.isTrue(killed.killed, "the first worker finished before the kill point")
          const others = yield* twoWorkers(dir, ledger, { limits })
          // the shards the killed worker held (begun, not done) were taken over by the others
          const shards = (notes: ReadonlyArray<string>, what: RegExp) =>
            notes.flatMap((line) => {
              const m = what.exec(line)
              return m === null ? [] : [Number(m[1])]
            })
          const begun = /working on run-\S+ shard (\d+)/
          const held = shards(killed.notes, begun).filter((n) =>
            !shards(killed.notes, /run-\S+ shard (\d+) done/).includes(n)
          )
          assert.isAbove(held.length, 0, killed.notes.join("\n"))
          const takenOver = others.flatMap((w) => shards(w.notes, begun))
          for (const n of held) assert.include(takenOver, n, `shard ${n} held by the killed worker`)

          yield* assertSameAsReference(dir, ledger, runId, served, reference)
          if (redisUrl !== undefined) {
            assert.deepStrictEqual(
              served.simulators.env.counters.snapshot().rateLimited,
              {},
              "429s sent to the workers"
            )
          }
        }).pipe(Effect.scoped, Effect.provide(environment)),
      120_000
    )

    it.live(
      "a shard that runs past its lease stays with its worker: a second worker never takes it over",
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir
          // one shard of every row, at a slower provider clock: it runs for several 2-second leases
          const scale = 100
          const served = yield* serve({ port: 0, timeScale: scale, seed })
          const { ledger } = yield* submitted(dir, served.url, 1000, scale)
          const workers = yield* twoWorkers(dir, ledger, { lease: 2 })
          const begun = workers.flatMap((w) => w.notes.filter((line) => line.includes("working on run-")))
          assert.strictEqual(begun.length, 1, workers.flatMap((w) => w.notes).join("\n"))
          assertNobodyTwice(served)
        }).pipe(Effect.scoped, Effect.provide(environment)),
      120_000
    )

    it.live(
      "a budget is one for the whole run: two workers together spend no more than it",
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir
          const served = yield* serve({ port: 0, timeScale, seed })
          const budget = 300
          const { ledger, runId } = yield* submitted(dir, served.url, 40, timeScale, ["--budget", String(budget)])
          yield* twoWorkers(dir, ledger)
          const billed = providers.reduce((n, p) => n + served.simulators.env.counters.netCredits(p), 0)
          assert.isAbove(billed, 0)
          assert.isAtMost(billed, budget)
          const out = NodePath.join(dir, "budget.csv")
          const exported = yield* enrich(["export", "--run", runId, "--out", out, "--database-url", ledger], {
            cwd: dir,
            env
          })
          assert.strictEqual(exported.exitCode, 0, exported.stderr)
          // people the budget left unsent are said so in the output
          assert.include(NodeFs.readFileSync(out, "utf8"), "budget reached before this person was sent")
        }).pipe(Effect.scoped, Effect.provide(environment)),
      120_000
    )

    it.live(
      "two runs of overlapping lists at once on one ledger: a person is bought once, the later run waits for it",
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir
          const served = yield* serve({ port: 0, timeScale, seed })
          const ledger = yield* freshSchema(databaseUrl!, "workers")
          const runOf = (name: string) =>
            Command.make(
              "node",
              main,
              "run",
              input,
              "--providers",
              providers.join(","),
              ...simulatorFlags(served.url),
              "--database-url",
              ledger,
              "--out",
              NodePath.join(dir, `${name}.csv`)
            ).pipe(Command.workingDirectory(dir), Command.env(env, { extendEnv: false }))
          let signal: () => void = () => {}
          const firstHasJobsOut = new Promise<void>((resolve) => {
            signal = resolve
          })
          // the second run starts once the first has a job out, and asks about the same people
          const second = yield* Effect.fork(Effect.zipRight(
            Effect.promise(() => firstHasJobsOut),
            runUntil(runOf("second"), undefined)
          ))
          // the first provider asked (TheHog) has the first run's first job out
          const jobOut = nth("ChunkSubmitted", providers[0], 1)
          let overlapped = false
          const first = yield* runUntil(runOf("first"), (event) => {
            if (jobOut(event)) {
              overlapped = true
              signal()
            }
            return false
          })
          // never left waiting, even if the first run sent no job
          signal()
          assert.isTrue(overlapped, "the first run finished before it had a job out")
          const later = yield* Fiber.join(second)
          assert.deepStrictEqual([Number(first.exitCode), Number(later.exitCode)], [0, 0], later.notes.join("\n"))
          assertNobodyTwice(served)
          const output = (name: string) => NodeFs.readFileSync(NodePath.join(dir, `${name}.csv`), "utf8")
          assert.strictEqual(output("second"), output("first"))
        }).pipe(Effect.scoped, Effect.provide(environment)),
      120_000
    )

    it.live(
      "SIGTERM: the worker gives its shards back at once and exits 0; the next worker finishes the run",
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir
          const reference = yield* referenceRun(dir)
          const served = yield* serve({ port: 0, timeScale, seed })
          const { ledger, runId } = yield* submitted(dir, served.url)
          // a lease of 10 minutes: the next worker can only finish within the test's time if the shards were given
          // back, not left to lapse
          const stopped = yield* runUntil(
            worker(dir, ledger, { lease: 600 }),
            nth("ChunkSubmitted", "crustdata", 2),
            "SIGTERM"
          )
          assert.isTrue(stopped.killed, "the worker finished before the signal")
          assert.strictEqual(Number(stopped.exitCode), 0, stopped.notes.join("\n"))
          assert.isTrue(stopped.notes.some((line) => line.includes("shards in hand are back in the queue")))
          const next = yield* runUntil(worker(dir, ledger), undefined)
          assert.strictEqual(Number(next.exitCode), 0, next.notes.join("\n"))
          yield* assertSameAsReference(dir, ledger, runId, served, reference)
        }).pipe(Effect.scoped, Effect.provide(environment)),
      120_000
    )
  }
)
