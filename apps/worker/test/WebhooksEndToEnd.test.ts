/**
 * Crustdata's webhook ends a worker's wait: a run submitted with `--public-url` pointing at a worker's `--listen`
 * address, against a simulator (served by this test) that calls back when a job ends. The run's polling is slow
 * (its target says the provider's clock runs at half the real speed, so the first re-check comes 4 s after the
 * first, jittered to at least 3.2 s) while the simulator's jobs end within half a second: only the webhook can end
 * the wait before that re-check. The same run without `--public-url` is the control: it has to wait for the poll, and
 * gives the same output. And across workers: a callback taken by a worker that holds no shard wakes the job in
 * the worker that waits for it, through Postgres.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Command from "@effect/platform/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { serve } from "@enrich/simulator/node"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import * as NodePath from "node:path"
import { enrich, examplePeople as input, main } from "./utils/binary.js"
import { databaseUrl, freshSchema } from "./utils/db.js"

const seed = 42
/** the simulator's clock: a Crustdata job of 150 provider seconds ends 0.5 s after it was submitted */
const simulatorScale = 300
const crustdata = { pendingMillis: 30_000, processingMillis: 120_000, perUrlMillis: 0 }
/** the run's clock as the workers believe it: polling every 4 s at first (`Providers.simulatorPolling(0.5)`) */
const runScale = 0.5
/** the earliest a re-check can come under that polling: the 4 s initial delay, jittered by at most -20 % */
const earliestPoll = 3_200
/** a callback path with a token in it: never printed */
const secretPath = /\/webhooks\/crustdata\/[A-Za-z0-9_-]{20,}/
const env = { PATH: process.env.PATH ?? "", NO_COLOR: "1" }

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-hooks-" }))

/** A progress event of the worker (one JSON line on stderr), with its time. */
interface Event {
  readonly _tag: string
  readonly provider?: string
  readonly job?: string
  readonly at: string
}

/**
 * A worker, with `--listen` at `listen` if given, running until the scope ends (then SIGTERM). `line(re)` waits
 * for a message line matching `re` (also one printed already); events and messages are kept.
 */
const startWorker = (dir: string, ledger: string, listen: string | undefined) =>
  Effect.gen(function*() {
    const process = yield* Command.make(
      "node",
      main,
      "worker",
      "--database-url",
      ledger,
      ...(listen === undefined ? [] : ["--listen", listen]),
      "--concurrency",
      "1"
    ).pipe(Command.workingDirectory(dir), Command.env(env, { extendEnv: false }), Command.start)
    const events: Array<Event> = []
    const notes: Array<string> = []
    const waiting: Array<{ readonly re: RegExp; readonly found: Deferred.Deferred<RegExpExecArray> }> = []
    const ended = yield* Deferred.make<void>()
    const onLine = (line: string) =>
      Effect.suspend(() => {
        try {
          events.push(JSON.parse(line) as Event)
          return Effect.void
        } catch {
          if (line.trim() === "") return Effect.void
          notes.push(line)
          return Effect.forEach(waiting, (w) => {
            const match = w.re.exec(line)
            return match === null ? Effect.void : Deferred.succeed(w.found, match)
          }, { discard: true })
        }
      })
    // read to the end: a closed pipe would fail the worker's last writes
    yield* process.stderr.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach(onLine),
      Effect.ensuring(Deferred.succeed(ended, undefined)),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => Effect.ignore(process.kill("SIGTERM")))
    const line = (re: RegExp) =>
      Effect.gen(function*() {
        const found = yield* Deferred.make<RegExpExecArray>()
        waiting.push({ re, found })
        for (const note of notes) {
          const match = re.exec(note)
          if (match !== null) yield* Deferred.succeed(found, match)
        }
        // a worker that died says why instead of leaving the test waiting
        return yield* Effect.raceFirst(
          Deferred.await(found),
          Effect.zipRight(Deferred.await(ended), Effect.dieMessage(`worker ended:\n${notes.join("\n")}`))
        )
      })
    yield* line(/taking shards/)
    const url = listen === undefined ? undefined : (yield* line(/listening on (http:\/\/\S+)/))[1]
    return { url: url!, line, events, notes }
  })

/** The crustdata events of a worker, and the wait of its first job from submit to its chunk's end. */
const crustdataOf = (events: ReadonlyArray<Event>) => {
  const ofCrustdata = (tag: string) => events.filter((e) => e._tag === tag && e.provider === "crustdata")
  const submits = ofCrustdata("ChunkSubmitted")
  const finishes = ofCrustdata("ChunkFinished")
  assert.strictEqual(finishes.length, submits.length)
  // the longest wait of a job, from its submit to its chunk's end (in the order they were sent and ended)
  const waits = submits.map((s, i) => Date.parse(finishes[i]!.at) - Date.parse(s.at))
  return { jobs: submits.map((s) => s.job!), longestWait: Math.max(...waits) }
}

/** A loopback port nobody listens on now (for a worker started after the run that names it). */
const freePort = Effect.async<number>((resume) => {
  const server = NodeNet.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as NodeNet.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A run of the example list against Crustdata through one worker, with or without a webhook; its figures. */
const runThroughWorker = (dir: string, name: string, webhooks: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const served = yield* serve({ port: 0, timeScale: simulatorScale, seed, crustdata })
    const ledger = yield* freshSchema(databaseUrl!, `hooks_${name}`)
    const worker = yield* startWorker(dir, ledger, "127.0.0.1:0")
    const submitted = yield* enrich([
      "submit",
      input,
      "--providers",
      "crustdata",
      "--simulator-url",
      served.url,
      "--time-scale",
      String(runScale),
      "--database-url",
      ledger,
      "--shard-size",
      "1000",
      ...(webhooks ? ["--public-url", worker.url] : [])
    ], { cwd: dir, env })
    assert.strictEqual(submitted.exitCode, 0, submitted.stderr)
    assert.notMatch(submitted.stdout + submitted.stderr, secretPath)
    const runId = submitted.stdout.trim()
    yield* worker.line(new RegExp(`run ${runId} finished`))
    const out = NodePath.join(dir, `${name}.csv`)
    const exported = yield* enrich(["export", "--run", runId, "--out", out, "--database-url", ledger], {
      cwd: dir,
      env
    })
    assert.strictEqual(exported.exitCode, 0, exported.stderr)
    const { jobs, longestWait } = crustdataOf(worker.events)
    assert.isAbove(jobs.length, 0, worker.notes.join("\n"))
    return {
      output: NodeFs.readFileSync(out, "utf8"),
      jobs,
      longestWait,
      webhooksSent: served.simulators.env.counters.requestsTo("crustdata:webhook"),
      received: worker.notes.filter((n) => n.includes("webhook: crustdata job")),
      notes: worker.notes
    }
  }))

describe.skipIf(databaseUrl === undefined)(
  databaseUrl === undefined
    ? "Crustdata webhooks end a worker's wait (skipped: DATABASE_URL is not set)"
    : "Crustdata webhooks end a worker's wait",
  () => {
    it.live(
      "a run submitted with --public-url finishes each Crustdata job before a poll could have seen it done, with " +
        "the same output as without webhooks",
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir
          const polled = yield* runThroughWorker(dir, "polled", false)
          const hooked = yield* runThroughWorker(dir, "hooked", true)

          // without a public URL nothing is called back, and the wait lasts until a poll
          assert.strictEqual(polled.webhooksSent, 0)
          assert.deepStrictEqual(polled.received, [])
          assert.isAtLeast(polled.longestWait, earliestPoll, polled.notes.join("\n"))

          // with one, every job was called back, the worker took each callback, and no wait lasted until a poll
          assert.strictEqual(hooked.webhooksSent, hooked.jobs.length)
          for (const job of hooked.jobs) {
            assert.isTrue(hooked.received.some((n) => n.includes(job)), `no callback taken for ${job}`)
          }
          assert.isBelow(hooked.longestWait, earliestPoll, hooked.notes.join("\n"))
          // the token is a secret: no message of the worker carries it (nor the callback path with it)
          assert.isFalse(hooked.notes.some((n) => secretPath.test(n)))

          assert.strictEqual(hooked.output, polled.output)
        }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici))),
      120_000
    )

    it.live(
      "the callback taken by one worker wakes the job where another worker waits for it (Postgres LISTEN/NOTIFY)",
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir
          // a job of 5 s, and polling that re-checks 20 s after the first check at the earliest (16 s jittered)
          const served = yield* serve({
            port: 0,
            timeScale: simulatorScale,
            seed,
            crustdata: { pendingMillis: 30_000, processingMillis: 1_470_000, perUrlMillis: 0 }
          })
          const scale = 0.1
          const earliest = 16_000
          const ledger = yield* freshSchema(databaseUrl!, "hooks_two")
          const port = yield* freePort
          // the waiting worker is alone when the run comes, so it takes the shard; it has no listener
          const waiting = yield* startWorker(dir, ledger, undefined)
          const submitted = yield* enrich([
            "submit",
            input,
            "--providers",
            "crustdata",
            "--simulator-url",
            served.url,
            "--time-scale",
            String(scale),
            "--database-url",
            ledger,
            "--shard-size",
            "1000",
            "--public-url",
            `http://127.0.0.1:${port}`
          ], { cwd: dir, env })
          assert.strictEqual(submitted.exitCode, 0, submitted.stderr)
          const runId = submitted.stdout.trim()
          yield* waiting.line(new RegExp(`working on ${runId} shard 0`))
          // the receiving worker starts on the public URL's port once the shard is held elsewhere
          const receiving = yield* startWorker(dir, ledger, `127.0.0.1:${port}`)
          yield* waiting.line(new RegExp(`run ${runId} finished`))

          const { jobs, longestWait } = crustdataOf(waiting.events)
          assert.strictEqual(jobs.length, 1, waiting.notes.join("\n"))
          assert.strictEqual(served.simulators.env.counters.requestsTo("crustdata:webhook"), 1)
          assert.isTrue(
            receiving.notes.some((n) => n.includes(`webhook: crustdata job ${jobs[0]}`)),
            receiving.notes.join("\n")
          )
          assert.isFalse(receiving.notes.some((n) => n.includes("working on")), "the receiving worker took a shard")
          assert.isBelow(longestWait, earliest, waiting.notes.join("\n"))
        }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici))),
      120_000
    )
  }
)
