/**
 * Several `enrich worker` processes on one Postgres ledger: a submitted run is shared out in shards through the
 * persisted queue; a worker killed with SIGKILL loses its shards when their leases lapse and the others finish
 * them from the ledger. The output must equal a single-process `enrich run`, and the simulators (served by this
 * test process, so they outlive every worker) must have charged nobody twice.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Command from "@effect/platform/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { serve } from "@enrich/simulator/node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { enrich, examplePeople as input, main, nth, runUntil } from "./utils/binary.js"
import { databaseUrl, withSearchPath } from "./utils/db.js"

const seed = 42
const timeScale = 300
// Crustdata and TheHog say whether a job reached them (job list, Idempotency-Key), so a worker killed at any
// instant leaves nothing ambiguous and the output is exactly the uninterrupted one; Fiber's ambiguous chunks
// are reported instead (see Crash.test.ts).
const providers = ["thehog", "crustdata"] as const
const env = { PATH: process.env.PATH ?? "", NO_COLOR: "1" }

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-workers-" }))

/** A fresh Postgres schema for this test's ledger, dropped afterwards; the URL that lands in it. */
const freshLedger = (url: string) =>
  Effect.gen(function*() {
    const schema = `enrich_workers_${process.pid}_${Date.now().toString(36)}`
    const admin = yield* PgClient.make({ url: Redacted.make(url) })
    yield* Effect.acquireRelease(
      admin`CREATE SCHEMA ${admin(schema)}`,
      () => Effect.orDie(admin`DROP SCHEMA ${admin(schema)} CASCADE`)
    )
    return withSearchPath(url, schema)
  }).pipe(Effect.provide(Reactivity.layer))

const simulatorFlags = (url: string) => ["--simulator-url", url, "--time-scale", String(timeScale)]

const worker = (dir: string, ledger: string) =>
  Command.make("node", main, "worker", "--database-url", ledger, "--drain", "--lease-seconds", "3").pipe(
    Command.workingDirectory(dir),
    Command.env(env, { extendEnv: false })
  )

const environment = Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)

describe.skipIf(databaseUrl === undefined)(
  databaseUrl === undefined
    ? "enrich worker on Postgres (skipped: DATABASE_URL is not set)"
    : "enrich worker on Postgres",
  () => {
    it.live(
      "three workers share a submitted run; one is SIGKILLed: same output as one process, nobody charged twice",
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir
          // the uninterrupted reference, in a world of its own
          const reference = yield* Effect.scoped(Effect.gen(function*() {
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

          const served = yield* serve({ port: 0, timeScale, seed })
          const ledger = yield* freshLedger(databaseUrl!)
          const submitted = yield* enrich([
            "submit",
            input,
            "--providers",
            providers.join(","),
            ...simulatorFlags(served.url),
            "--database-url",
            ledger,
            "--shard-size",
            "40"
          ], { cwd: dir, env })
          assert.strictEqual(submitted.exitCode, 0, submitted.stderr)
          const runId = submitted.stdout.trim()
          assert.match(runId, /^run-/)

          // the first worker dies holding shards, with jobs in flight at both providers
          const killed = yield* runUntil(worker(dir, ledger), nth("ChunkSubmitted", "crustdata", 2))
          assert.isTrue(killed.killed, "the first worker finished before the kill point")
          const others = yield* Effect.all([
            runUntil(worker(dir, ledger), undefined),
            runUntil(worker(dir, ledger), undefined)
          ], { concurrency: 2 })
          assert.deepStrictEqual(
            others.map((w) => Number(w.exitCode)),
            [0, 0],
            others.flatMap((w) => w.notes).join("\n")
          )
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

          const status = yield* enrich(["status", "--run", runId, "--database-url", ledger], { cwd: dir, env })
          assert.include(status.stdout, `${runId}: finished`)
          assert.include(status.stdout, "shards: 8 of 8 done")
          const out = NodePath.join(dir, "workers.csv")
          const exported = yield* enrich(["export", "--run", runId, "--out", out, "--database-url", ledger], {
            cwd: dir,
            env
          })
          assert.strictEqual(exported.exitCode, 0, exported.stderr)
          assert.strictEqual(NodeFs.readFileSync(out, "utf8"), reference.output)
          assert.deepStrictEqual(
            providers.flatMap((p) => served.simulators.env.counters.resubmitted(p)),
            [],
            "people submitted twice to a provider"
          )
          assert.deepStrictEqual(providers.map((p) => served.simulators.env.counters.netCredits(p)), reference.credits)
        }).pipe(Effect.scoped, Effect.provide(environment)),
      120_000
    )
  }
)
