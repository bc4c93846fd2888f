/**
 * Scale-out (issue 16): 1, 2 and 4 built `enrich worker` processes on one Postgres ledger, their providers' limits
 * shared in Redis, against `enrich simulate` in a process of its own; the same Fiber run each time (the ceiling
 * part's run: its people, its latency, its lower bound). N workers share one account, so the bound is the same as
 * for one process: the figure is how close N workers together get to it, and how many 429s they caused.
 * Then an informative ingest throughput, 1 against 2 workers, at a time scale where the client's work, not the
 * provider's limits, sets the pace.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { ChunkPlan, FiberAiProvider } from "@enrich/core"
import { FiberAiApi } from "@enrich/core/wire"
import { Universe } from "@enrich/simulator"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { createInterface } from "node:readline"
import { fiberLatency, fiberLowerBound } from "./Ceiling.js"
import { figure, fixed, say, tempDir } from "./Common.js"
import * as EnrichSimulate from "./EnrichSimulate.js"

export interface Options {
  readonly people: number
  /** provider seconds per real second for the ceiling runs */
  readonly timeScale: number
  /** the same, for the ingest runs: high, so that the client's work sets the pace */
  readonly ingestTimeScale: number
  readonly seed: number
  /** input rows per shard; by default a quarter of the people, so that 4 workers each have one */
  readonly shardSize: number | undefined
  readonly workers: ReadonlyArray<number>
  /** the built worker, `apps/worker/dist/main.js` */
  readonly enrich: string
  readonly databaseUrl: string | undefined
  readonly redisUrl: string | undefined
  /** the part was named on the command line: a skip is then a failure (exit code 1) */
  readonly required: boolean
}

export const defaults = {
  /**
   * the ceiling part's Fiber run (bound 118 s of provider time); at 10000 even one process's chunk plan is 0.85
   * of the bound (chunks of at least `ChunkPlan.minChunk`)
   */
  people: 20_000,
  /**
   * the ceiling part's scale for this Fiber run (client CPU counts ×2 in provider time; against a real provider
   * it counts once): three set-ups of ~1 minute each
   */
  timeScale: 2,
  ingestTimeScale: 100,
  workers: [1, 2, 4]
} as const

/** Shards each worker works at once (the worker's default, passed so the report says what ran). */
const concurrency = 4

/** Where `enrich simulate` serves its counters (`Simulate.countersPath` in apps/worker). */
const countersPath = "/_simulator/counters"

interface Counters {
  readonly rateLimited: Record<string, number>
  readonly submissions: Record<string, Record<string, number>>
}

/** One set-up's run: wall times (real ms) and what the simulator counted. */
interface Measured {
  /**
   * from the first worker's note that it works on a shard of the run until the run's last shard was done (every
   * result committed), as the ceiling part times `Waterfall.run`; the run's report (counted from the ledger after
   * that) is not throughput
   */
  readonly working: number
  /** from the start of `enrich submit` until a worker's note that the run finished */
  readonly wall: number
  readonly rateLimited: number
  /** distinct people Fiber received, and how many of them more than once */
  readonly sent: number
  readonly sentTwice: number
  readonly exits: ReadonlyArray<number | null>
  readonly requeued: number
  readonly finished: boolean
  /** CPU seconds the workers used, all together (Linux: /proc; NaN elsewhere) */
  readonly workerCpu: number
}

/** CPU seconds (user + system) of a live process so far, from /proc; NaN where that cannot be read. */
const cpuSeconds = (pid: number | undefined): number => {
  try {
    // fields after the command's closing parenthesis: utime and stime are the 12th and 13th, in clock ticks
    const fields = NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}

const failure = (message: string) => new Error(message)

/** `node enrich ...args`: exit code, stdout, the end of stderr. */
const runEnrich = (enrich: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv) =>
  Effect.async<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resume) => {
    const child = spawn(process.execPath, EnrichSimulate.nodeArgs(enrich, args), {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (chunk) => stdout += chunk)
    child.stderr!.on("data", (chunk) => stderr = (stderr + chunk).slice(-4000))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
  })

/** A fresh Postgres schema for the scope (dropped after), and the URL whose tables land in it. */
const freshLedger = (url: string, name: string) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(PgClient.layer({ url: Redacted.make(url) }))
    const admin = Context.get(context, PgClient.PgClient)
    yield* Effect.acquireRelease(
      admin`CREATE SCHEMA ${admin(name)}`,
      () => Effect.orDie(admin`DROP SCHEMA ${admin(name)} CASCADE`)
    )
    const parsed = new URL(url)
    parsed.searchParams.set("options", `-c search_path=${name}`)
    return parsed.toString()
  })

/** `enrich simulate` on a free port for the scope; its base URL. */
const simulator = (options: Options, timeScale: number, cwd: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => EnrichSimulate.serve(options.enrich, { people: options.people, seed: options.seed, timeScale }, cwd),
      catch: (error) => error instanceof Error ? error : failure(String(error))
    }),
    (served) => Effect.promise(served.stop)
  )

/** The input: the LinkedIn URLs of the universe's first `people` people, as the ceiling part sends them. */
const writeList = (file: string, options: Options) => {
  const universe = new Universe.Universe({ seed: options.seed, size: options.people })
  const urls = universe.people.slice(0, options.people).map((p) => p.linkedinUrl)
  NodeFs.writeFileSync(file, ["linkedin_url", ...urls].join("\n") + "\n")
}

const minute = 60_000

/**
 * The best the workers' plan allows, provider ms, as `Ceiling.planBound` for one process: the shards, `slots` at
 * a time (workers × shards per worker), each taken when a slot frees; each shard chunked by the waterfall for its
 * own people on its share of Fiber's start limit and sent no earlier than its plan's minute (`ChunkPlan`, shared
 * with as many shards as a worker holds at once, as the worker's `partOfRun`); the chunks of all shards started
 * no faster
 * than the one shared limit allows (a sliding minute), in the order they became ready (shards round-robin);
 * each chunk lasting the simulator's job latency; no polling delay, no client time.
 */
export const shardedPlanBound = (people: number, shardSize: number, slots: number) => {
  const pacing = FiberAiProvider.capabilities.pacing!
  const duration = (size: number) => fiberLatency.firstResultMillis + (size - 1) * fiberLatency.perPersonMillis
  const startsPerMinute = FiberAiApi.requestsPerMinute["batch/start"]
  const shards: Array<Array<ChunkPlan.Planned>> = []
  // as the worker plans them: each shard on its share of the starts, shared with the shards worked at once, each
  // chunk sent no earlier than its plan's minute
  const count = Math.ceil(people / shardSize)
  const of = Math.min(concurrency, count)
  for (let left = people, index = 0; left > 0; left -= shardSize, index++) {
    // all of the run's shards at once start together and split the starts as one plan (the worker's partOfRun)
    const part = count <= of ? { index: index % of, of, people: shardSize } : { index: index % of, of }
    shards.push(ChunkPlan.plan(Math.min(shardSize, left), FiberAiApi.maxBatchPeople, pacing, part))
  }
  // per slot: the shard on it, its chunks not started yet, and when it ends (known once all have started)
  const slot = Array.from({ length: Math.min(slots, shards.length) }, () => ({ unstarted: 0, end: 0 }))
  const pending: Array<{ ready: number; index: number; shard: number; size: number; slot: number }> = []
  const starts: Array<number> = []
  let nextShard = 0
  let end = 0
  const begin = (s: number, at: number) => {
    const planned = shards[nextShard]!
    planned.forEach(({ size, window }, index) =>
      pending.push({ ready: at + ChunkPlan.windowStartMillis(pacing, window), index, shard: nextShard, size, slot: s })
    )
    slot[s] = { unstarted: planned.length, end: at }
    nextShard++
  }
  for (let s = 0; s < slot.length; s++) begin(s, 0)
  while (pending.length > 0) {
    pending.sort((a, b) => a.ready - b.ready || a.index - b.index || a.shard - b.shard)
    const chunk = pending[0]!
    const earliest = starts.length >= startsPerMinute ? starts[starts.length - startsPerMinute]! + minute : 0
    const start = Math.max(chunk.ready, earliest)
    // a slot whose shard has started every chunk frees at its end: if before this start, its next shard comes first
    const free = slot.findIndex((s) => s.unstarted === 0 && s.end <= start)
    if (free >= 0 && nextShard < shards.length) {
      begin(free, slot[free]!.end)
      continue
    }
    pending.shift()
    starts.push(start)
    const held = slot[chunk.slot]!
    held.unstarted--
    held.end = Math.max(held.end, start + duration(chunk.size))
    end = Math.max(end, held.end)
    // nothing waits to start: the next shard takes the slot that frees first
    if (pending.length === 0 && nextShard < shards.length) {
      const first = slot.reduce((best, s, i) => s.end < slot[best]!.end ? i : best, 0)
      begin(first, slot[first]!.end)
    }
  }
  return { end, chunks: shards.reduce((n, sizes) => n + sizes.length, 0) }
}

let setUps = 0

/** With `BENCH_TRACE` set: the workers' notes and chunk starts, in provider seconds from the first shard taken. */
const trace = process.env.BENCH_TRACE !== undefined

const traceLine = (line: string, from: bigint | undefined, timeScale: number) => {
  const at = from === undefined ? 0 : Number(process.hrtime.bigint() - from) / 1e6 * timeScale / 1000
  if (!line.startsWith("{")) return process.stdout.write(`    ${fixed(at, 1)} s ${line}\n`)
  const event = JSON.parse(line) as { readonly _tag?: string; readonly shard?: number; readonly people?: number }
  if (event._tag === "ChunkSubmitted") {
    process.stdout.write(`    ${fixed(at, 1)} s shard ${event.shard} chunk of ${event.people} submitted\n`)
  }
}

/** What a worker process's notes (stderr lines) told the bench so far, in real time (`process.hrtime`). */
interface Notes {
  /** workers that printed "taking shards" */
  ready: number
  /** the first note of a worker working on a shard of the run */
  working: bigint | undefined
  lastShardDone: bigint | undefined
  finished: bigint | undefined
  requeued: number
}

/**
 * `workers` long-running `enrich worker` processes (no `--drain`), as a deployment keeps them: each one's notes
 * are read into `notes`; the effect completes with their exit codes once they have been stopped (SIGTERM, a clean
 * stop: exit 0) by `stop`. `cpu` collects the CPU seconds each used.
 */
const spawnWorkers = (
  options: Options,
  setUp: {
    readonly workers: number
    readonly ledger: string
    readonly dir: string
    readonly env: NodeJS.ProcessEnv
    readonly timeScale: number
  },
  notes: Notes,
  runId: () => string | undefined,
  cpu: Array<number>
) => {
  const { dir, env, ledger, timeScale, workers } = setUp
  const children: Array<ReturnType<typeof spawn>> = []
  const exits = Effect.all(
    Array.from({ length: workers }, (_, index) =>
      Effect.async<number | null>((resume) => {
        const child = spawn(
          process.execPath,
          EnrichSimulate.nodeArgs(options.enrich, [
            "worker",
            "--database-url",
            ledger,
            "--redis-url",
            options.redisUrl!,
            "--concurrency",
            String(concurrency)
          ]),
          { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] }
        )
        children.push(child)
        // the worker's notes: when it is ready, when the run is done, shards that failed and went back
        createInterface({ input: child.stderr! }).on("line", (line) => {
          if (trace) traceLine(line, notes.working, timeScale)
          if (line.startsWith("{")) return
          const run = runId()
          if (line.includes(": taking shards")) notes.ready++
          else if (run === undefined) return
          else if (line.includes(`working on ${run} shard `)) notes.working ??= process.hrtime.bigint()
          else if (line.includes(`${run} shard `) && line.endsWith(" done (0 left)")) {
            notes.lastShardDone ??= process.hrtime.bigint()
          } else if (line.startsWith(`run ${run} finished`)) notes.finished ??= process.hrtime.bigint()
          else if (line.includes("failed, queued again")) {
            notes.requeued++
            process.stdout.write(`    worker: ${line}\n`)
          }
        })
        // the last reading before the process ends is (within 100 ms) all the CPU it used
        const poll = setInterval(() => {
          cpu[index] = cpuSeconds(child.pid)
        }, 100)
        child.on("close", (code) => {
          clearInterval(poll)
          resume(Effect.succeed(code))
        })
        return Effect.sync(() => child.kill("SIGKILL"))
      })),
    { concurrency: "unbounded" }
  )
  const stop = Effect.sync(() => {
    for (const child of children) child.kill("SIGTERM")
  })
  return { exits, stop }
}

/** Polls `holds` every 50 ms until it is true, failing with `what` after `atMostMillis`. */
const waitFor = (holds: () => boolean, what: string, atMostMillis: number) =>
  Effect.async<void, Error>((resume) => {
    const began = Date.now()
    const timer = setInterval(() => {
      if (holds()) {
        clearInterval(timer)
        resume(Effect.void)
      } else if (Date.now() - began > atMostMillis) {
        clearInterval(timer)
        resume(Effect.fail(failure(`timed out waiting for ${what}`)))
      }
    }, 50)
    return Effect.sync(() => clearInterval(timer))
  })

/**
 * One set-up, on a fresh schema, Redis prefix and simulator: N workers started and ready (their start-up, loading
 * modules at full CPU, is not in the run's time: a deployment's workers are up before a list comes), then the run
 * submitted; measured until the run's last shard is done, then the workers stopped.
 */
const measure = (options: Options, workers: number, timeScale: number, list: string, dir: string) =>
  Effect.gen(function*() {
    const tag = `${process.pid}_${Date.now().toString(36)}_${setUps++}`
    const ledger = yield* freshLedger(options.databaseUrl!, `enrich_bench_scale_${tag}`)
    const served = yield* simulator(options, timeScale, dir)
    const env: NodeJS.ProcessEnv = { ...process.env, REDIS_KEY_PREFIX: `enrich-bench-scale:${tag}:` }
    const notes: Notes = {
      ready: 0,
      working: undefined,
      lastShardDone: undefined,
      finished: undefined,
      requeued: 0
    }
    let runId: string | undefined
    const cpu: Array<number> = []
    const { exits, stop } = spawnWorkers(
      options,
      { workers, ledger, dir, env, timeScale },
      notes,
      () => runId,
      cpu
    )
    const running = yield* Effect.fork(exits)
    // the ledger's tables are created by the first process that opens it: the workers, before the submit
    yield* waitFor(() => notes.ready === workers, `${workers} workers ready`, 120_000)
    const start = process.hrtime.bigint()
    const submitted = yield* runEnrich(
      options.enrich,
      [
        "submit",
        list,
        "--providers",
        "fiber",
        "--fields",
        "work_email,personal_email,phone",
        "--simulator-url",
        served.url,
        "--time-scale",
        String(timeScale),
        "--database-url",
        ledger,
        "--shard-size",
        String(options.shardSize ?? Math.ceil(options.people / 4))
      ],
      dir,
      env
    )
    if (submitted.code !== 0) {
      yield* stop
      return yield* Effect.fail(failure(`enrich submit exited ${submitted.code}: ${submitted.stderr.trim()}`))
    }
    runId = submitted.stdout.trim()
    // the run's own end; a worker's note of it can only come after the submit printed the run's id
    yield* waitFor(
      () => notes.finished !== undefined && notes.lastShardDone !== undefined,
      `run ${runId} to finish`,
      30 * 60_000
    )
    const wall = Number(notes.finished! - start) / 1e6
    yield* stop
    const codes = yield* running.await.pipe(Effect.flatMap((exit) => exit))
    const counters = yield* Effect.promise(async () =>
      (await (await fetch(`${served.url}${countersPath}`)).json()) as Counters
    )
    const fiber = Object.values(counters.submissions.fiber ?? {})
    const working = notes.working !== undefined && notes.lastShardDone !== undefined
      ? Number(notes.lastShardDone - notes.working) / 1e6
      : NaN
    return {
      working,
      wall,
      rateLimited: Object.values(counters.rateLimited).reduce((n, count) => n + count, 0),
      sent: fiber.length,
      sentTwice: fiber.filter((n) => n > 1).length,
      exits: codes,
      requeued: notes.requeued,
      finished: notes.finished !== undefined,
      workerCpu: cpu.reduce((a, b) => a + b, 0)
    } satisfies Measured
  }).pipe(Effect.scoped)

/** What went wrong in a set-up, in one line, or nothing. */
const problems = (measured: Measured, people: number): string | undefined => {
  const wrong = [
    ...(measured.exits.every((code) => code === 0) ? [] : [`worker exits ${measured.exits.join(", ")}`]),
    ...(measured.finished ? [] : ["the run was not marked finished"]),
    ...(measured.sent === people ? [] : [`Fiber received ${measured.sent} of ${people} people`]),
    ...(measured.sentTwice === 0 ? [] : [`${measured.sentTwice} people sent to Fiber twice`])
  ]
  return wrong.length === 0 ? undefined : wrong.join("; ")
}

const skip = (options: Options, why: string) =>
  Effect.gen(function*() {
    yield* say(`  scale: skipped: ${why}`)
    if (options.required) process.exitCode = 1
  })

export const run = (options: Options) =>
  Effect.gen(function*() {
    if (options.databaseUrl === undefined) return yield* skip(options, "DATABASE_URL is not set (Postgres ledger)")
    if (options.redisUrl === undefined) return yield* skip(options, "REDIS_URL is not set (shared limits)")
    if (!NodeFs.existsSync(options.enrich)) return yield* skip(options, `the worker is not built (${options.enrich})`)
    const dir = yield* tempDir("scale")
    const list = NodePath.join(dir, "people.csv")
    writeList(list, options)
    const bound = fiberLowerBound(options.people)
    const shardSize = options.shardSize ?? Math.ceil(options.people / 4)
    yield* say(
      `  ${options.people} people to Fiber, shards of ${shardSize}, each worker ${concurrency} shards at a time; ` +
        `lower bound ${fixed(bound / 1000, 0)} s of provider time (×${options.timeScale} time scale, the same ` +
        `for any number of workers: they share one account's limits)`
    )
    let ok = true
    for (const workers of options.workers) {
      const measured = yield* measure(options, workers, options.timeScale, list, dir)
      const elapsed = measured.working * options.timeScale
      const efficiency = bound / elapsed
      const wrong = problems(measured, options.people)
      if (wrong !== undefined) ok = false
      const plan = shardedPlanBound(options.people, shardSize, workers * concurrency)
      yield* say(
        `  ${workers} worker${workers === 1 ? "" : "s"}: measured ${fixed(elapsed / 1000, 0)} s of provider time ` +
          `from the first shard taken to the last shard done, Fiber received ${measured.sent}/${options.people} ` +
          `people (${measured.sentTwice} twice), shards queued again ${measured.requeued}` +
          (wrong === undefined ? "" : `; WRONG: ${wrong}`)
      )
      yield* say(
        `    the shards' plans (${Math.ceil(options.people / shardSize)} shards, ${workers * concurrency} at a time, ` +
          `each planned on its share of the starts: ${plan.chunks} chunks) allow ${
            fixed(plan.end / 1000, 0)
          } s: plan ` +
          `${fixed(bound / plan.end)} of the bound, execution ${fixed(plan.end / elapsed)} of the plan`
      )
      yield* say(
        figure(`workers ${workers}`, `ceiling efficiency ${fixed(efficiency)}`, ">= 0.95", efficiency >= 0.95) +
          " | " +
          figure("429s caused by client", String(measured.rateLimited), "0", measured.rateLimited === 0)
      )
    }
    // people finished per second of wall time, submit to finished, where the provider's limits do not bind
    const rates: Array<number> = []
    const parts: Array<string> = []
    for (const workers of [1, 2]) {
      const measured = yield* measure(options, workers, options.ingestTimeScale, list, dir)
      parts.push(
        `${workers} worker${workers === 1 ? "" : "s"} ${fixed(measured.wall / 1000, 1)} s (of which ` +
          `${fixed(measured.working / 1000, 1)} s from the first shard taken to the last shard done; the workers ` +
          `used ${fixed(measured.workerCpu, 1)} CPU s; 429s ${measured.rateLimited})`
      )
      const wrong = problems(measured, options.people)
      if (wrong !== undefined) {
        ok = false
        yield* say(`  ingest, ${workers} worker${workers === 1 ? "" : "s"}: WRONG: ${wrong}`)
      }
      rates.push(options.people / (measured.wall / 1000))
    }
    yield* say(
      `  ingest: people finished (one Fiber outcome each, committed to the ledger) per second of wall time from ` +
        `the start of enrich submit (the workers already up) to the run's finished note, ×${options.ingestTimeScale} time scale ` +
        `(informative): ${parts.join(", ")}`
    )
    yield* say(
      `ingest throughput: 1 worker ${fixed(rates[0]!, 0)} records/s, 2 workers ${fixed(rates[1]!, 0)} records/s ` +
        `(ratio ${fixed(rates[1]! / rates[0]!)})`
    )
    if (!ok) process.exitCode = 1
  }).pipe(Effect.scoped)
