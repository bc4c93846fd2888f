/**
 * Ceiling efficiency: how close the real client gets to what the documented limits and the simulator's job
 * latency allow, on a time-scaled simulator; and a naive client written from the docs, on the same settings.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ChunkPlan, Contact, type ContactProvider, FiberAiProvider, Polling, Waterfall } from "@enrich/core"
import { CrustdataApi, FiberAiApi } from "@enrich/core/wire"
import { Credentials, Universe } from "@enrich/simulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { clients, figure, fixed, ledger, peopleOf, print, say, scaledPolling, since, tempDir } from "./Common.js"
import { spawnSimulators } from "./SimulatorProcess.js"

export interface Options {
  readonly people: number
  /** for our client, whose per-record work (decode, SQLite) the time scale multiplies: kept moderate */
  readonly timeScale: number
  /** for the naive client, which does no per-record work worth counting and mostly sleeps */
  readonly naiveTimeScale: number
  readonly seed: number
}

/**
 * Provider seconds per real second for our client. Every real millisecond of client CPU counts as `timeScale`
 * provider milliseconds, where against a real provider it counts once: the scale is kept as low as a run of
 * reasonable length allows. Fiber's bound is ~2 minutes (×2: about a minute of real time); Crustdata's ~40
 * minutes of provider time, made of long jobs, so its client work per job is small even at ×20.
 */
export const defaultTimeScale = { fiber: 2, crustdata: 20 } as const

/** Job latency the simulators are started with (their defaults, passed explicitly so the bound uses the same). */
export const fiberLatency = { firstResultMillis: 5_000, perPersonMillis: 250 } as const
export const crustdataLatency = { pendingMillis: 20_000, processingMillis: 120_000, perUrlMillis: 100 } as const

const minute = 60_000

/** The simulator's Fiber model as a `JobPacing`: the documented start limit and the latency it is started with. */
const fiberSimulatorPacing: ContactProvider.JobPacing = {
  startsPerMinute: FiberAiApi.requestsPerMinute["batch/start"],
  firstMillis: fiberLatency.firstResultMillis,
  perPersonMillis: fiberLatency.perPersonMillis
}

/** The smallest whole millisecond `t` with `enough(t)`, for a monotone predicate. */
const smallest = (enough: (t: number) => boolean): number => {
  let high = minute
  while (!enough(high)) high *= 2
  let low = 0
  while (low < high) {
    const mid = Math.floor((low + high) / 2)
    if (enough(mid)) high = mid
    else low = mid + 1
  }
  return low
}

/**
 * Fiber, provider ms: any client, any task sizes. Starts are limited to `batch/start` per minute (so at most
 * that many tasks start in each minute), a task of `s` people ends `first + (s-1) × perPerson` after its start
 * (the simulator's model, ignoring its jitter), at most 2000 people a task, tasks run in parallel (no
 * documented cap). The bound is the earliest time by which that many people can have finished; the poll
 * limit (100 rows a poll, 240 polls a minute) is added when it binds.
 */
export const fiberLowerBound = (
  people: number,
  latency: { readonly firstResultMillis: number; readonly perPersonMillis: number } = fiberLatency
): number => {
  const pacing = {
    ...fiberSimulatorPacing,
    firstMillis: latency.firstResultMillis,
    perPersonMillis: latency.perPersonMillis
  }
  const jobs = ChunkPlan.earliestFinish(pacing, FiberAiApi.maxBatchPeople, people)
  const polls = Math.ceil(people / FiberAiApi.maxTake)
  const pollLimit = FiberAiApi.requestsPerMinute["batch/poll"]
  const polling = Math.max(0, polls - pollLimit) / pollLimit * minute
  return Math.max(jobs, polling)
}

/**
 * Crustdata, provider ms: at most 5 active jobs of at most 300 URLs; a job of `s` URLs is active for
 * `pending + processing + s × perUrl`. Each of the 5 slots runs jobs back to back; the bound is the earliest
 * time by which 5 slots, each at its best job count, can have finished everyone (submit and status limits
 * do not bind at these rates).
 */
export const crustdataLowerBound = (
  people: number,
  latency: { readonly pendingMillis: number; readonly processingMillis: number; readonly perUrlMillis: number } =
    crustdataLatency
): number => {
  const { pendingMillis, perUrlMillis, processingMillis } = latency
  const fixedMillis = pendingMillis + processingMillis
  const slot = (t: number) => {
    let best = 0
    for (let jobs = 1; jobs * fixedMillis <= t; jobs++) {
      best = Math.max(
        best,
        Math.min(jobs * CrustdataApi.maxBatchUrls, Math.floor((t - jobs * fixedMillis) / perUrlMillis))
      )
    }
    return best
  }
  return smallest((t) => CrustdataApi.maxActiveJobs * slot(t) >= people)
}

/** The chunk sizes and in-flight chunks `Waterfall.run` uses by default for a single provider. */
export const waterfallPlan = (provider: "fiber" | "crustdata", people: number) => {
  const capabilities = provider === "fiber" ? FiberAiProvider.capabilities : undefined
  const cap = provider === "fiber" ? FiberAiApi.maxBatchPeople : CrustdataApi.maxBatchUrls
  const pacing = capabilities?.pacing
  return {
    sizes: ChunkPlan.chunkSizes(people, cap, pacing),
    concurrency: pacing === undefined ? CrustdataApi.maxActiveJobs : ChunkPlan.usefulConcurrency(pacing, cap)
  }
}

/**
 * The best the client's own plan allows, provider ms: its chunks, as many in flight as the waterfall runs,
 * each lasting the simulator's job latency, started no faster than the start limit (Fiber), scheduled greedily,
 * with no polling delay and no client time. Separates the plan (chunking, concurrency) from its execution.
 */
export const planBound = (provider: "fiber" | "crustdata", people: number): number => {
  const { concurrency, sizes } = waterfallPlan(provider, people)
  const duration = (size: number) =>
    provider === "fiber"
      ? ChunkPlan.jobMillis(fiberSimulatorPacing, size)
      : crustdataLatency.pendingMillis + crustdataLatency.processingMillis + size * crustdataLatency.perUrlMillis
  const startsPerMinute = provider === "fiber" ? FiberAiApi.requestsPerMinute["batch/start"] : Infinity
  const slots: Array<number> = Array.from({ length: Math.min(concurrency, sizes.length) }, () => 0)
  const starts: Array<number> = []
  let end = 0
  for (const size of sizes) {
    const slot = slots.indexOf(Math.min(...slots))
    // a sliding minute: the start `startsPerMinute` before this one must be a minute old
    const earlier = starts.length >= startsPerMinute ? starts[starts.length - startsPerMinute]! + minute : 0
    const start = Math.max(slots[slot]!, earlier)
    starts.push(start)
    slots[slot] = start + duration(size)
    end = Math.max(end, slots[slot]!)
  }
  return end
}

export interface Measured {
  /** provider ms */
  readonly elapsed: number
  readonly rateLimited: number
  readonly accounted: number
  readonly credits: number
}

const simulatorOptions = (options: Options) => ({
  seed: options.seed,
  timeScale: options.timeScale,
  universe: { size: options.people },
  fiber: fiberLatency,
  crustdata: crustdataLatency
})

/** Our client: the waterfall with one provider, the SQL journal, limits and polling scaled like the worker's. */
export const ours = (provider: "fiber" | "crustdata", options: Options) =>
  Effect.gen(function*() {
    const served = yield* spawnSimulators(simulatorOptions(options))
    const dir = yield* tempDir("ceiling")
    const people = peopleOf(new Universe.Universe({ seed: options.seed, size: options.people }), options.people)
    // clients, ledger and migrations are built before the clock starts: a run's setup is not its throughput
    const context = yield* Layer.build(
      Layer.merge(clients(served.url, options.timeScale, [provider]), ledger(join(dir, "ledger.db")))
    )
    const start = process.hrtime.bigint()
    const result = yield* Waterfall.run({
      runId: `bench-${provider}`,
      people: Waterfall.peopleOf(people),
      providers: [provider],
      fields: Contact.allFields as [Contact.Field, ...Array<Contact.Field>],
      ...(process.env.BENCH_TRACE === undefined ? {} : {
        onEvent: (event: Waterfall.Event) =>
          Effect.sync(() =>
            print(`    t=${fixed(since(start) * options.timeScale / 1000, 1)}s ${JSON.stringify(event)}`)
          )
      })
    }).pipe(
      Effect.provide(context),
      Effect.provideService(Polling.Polling, scaledPolling(options.timeScale))
    )
    const real = since(start)
    const counters = yield* served.counters
    if (process.env.BENCH_TRACE !== undefined) print(`    counters ${JSON.stringify(counters.snapshot)}`)
    const summary = result.providers[0]!
    return {
      elapsed: real * options.timeScale,
      rateLimited: counters.totalRateLimited(`${provider}:`),
      accounted: summary.found + summary.notFound + summary.failed + summary.rejected,
      credits: counters.netCredits(provider)
    } satisfies Measured
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

// ---------------------------------------------------------------------------------------------------------------
// The naive client: what a user writes from the docs. Sequential jobs, a fixed 5 s poll, one page at a time.
// ---------------------------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Naive {
  readonly rows: number
  readonly rateLimited: number
}

const postJson = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  })
  return { status: response.status, body: await response.json() as any }
}

const naiveFiber = async (base: string, urls: ReadonlyArray<string>, timeScale: number): Promise<Naive> => {
  const apiKey = Credentials.credentials.fiber.apiKey
  const pollEvery = 5_000 / timeScale
  let rows = 0
  let rateLimited = 0
  for (let i = 0; i < urls.length; i += FiberAiApi.maxBatchPeople) {
    const chunk = urls.slice(i, i + FiberAiApi.maxBatchPeople)
    let started = await postJson(`${base}${FiberAiApi.paths["batch/start"]}`, {
      apiKey,
      personDetails: chunk.map((value) => ({ linkedinUrl: { value } }))
    })
    while (started.status === 429) {
      rateLimited++
      await sleep(pollEvery)
      started = await postJson(`${base}${FiberAiApi.paths["batch/start"]}`, {
        apiKey,
        personDetails: chunk.map((value) => ({ linkedinUrl: { value } }))
      })
    }
    const taskId: string = started.body.output.taskId
    let cursor: string | null = null
    for (;;) {
      await sleep(pollEvery)
      let done = false
      // page through what is ready, one page after the other
      for (;;) {
        const page = await postJson(`${base}${FiberAiApi.paths["batch/poll"]}`, { apiKey, taskId, cursor, take: 100 })
        if (page.status === 429) {
          rateLimited++
          break
        }
        const output = page.body.output
        rows += output.pageResults.length
        cursor = output.nextCursor ?? cursor
        done = output.done
        if (output.pageResults.length < 100) break
      }
      if (done) break
    }
  }
  return { rows, rateLimited }
}

const naiveCrustdata = async (base: string, urls: ReadonlyArray<string>, timeScale: number): Promise<Naive> => {
  const headers = {
    authorization: `Bearer ${Credentials.credentials.crustdata.apiKey}`,
    "x-api-version": CrustdataApi.apiVersion
  }
  const pollEvery = 5_000 / timeScale
  let rows = 0
  let rateLimited = 0
  for (let i = 0; i < urls.length; i += CrustdataApi.maxBatchUrls) {
    const chunk = urls.slice(i, i + CrustdataApi.maxBatchUrls)
    const body = { professional_network_profile_urls: chunk, fields: ["business_email", "personal_contact_info"] }
    let submitted = await postJson(`${base}/batch/person/contact/enrich`, body, headers)
    while (submitted.status === 429) {
      rateLimited++
      await sleep(pollEvery)
      submitted = await postJson(`${base}/batch/person/contact/enrich`, body, headers)
    }
    const id: string = submitted.body.batch_id
    let status: any
    for (;;) {
      await sleep(pollEvery)
      const response = await fetch(`${base}/batch/${id}`, { headers })
      if (response.status === 429) {
        rateLimited++
        continue
      }
      status = await response.json()
      if (status.status === "completed" || status.status === "failed") break
    }
    if (status.status === "completed") {
      const file = await fetch(new URL(status.download_url, base))
      const text = gunzipSync(new Uint8Array(await file.arrayBuffer())).toString("utf8")
      for (const line of text.split("\n")) {
        if (line.trim() !== "") {
          JSON.parse(line)
          rows++
        }
      }
    }
  }
  return { rows, rateLimited }
}

export const naive = (provider: "fiber" | "crustdata", options: Options) =>
  Effect.gen(function*() {
    const served = yield* spawnSimulators(simulatorOptions(options))
    const universe = new Universe.Universe({ seed: options.seed, size: options.people })
    const urls = universe.people.slice(0, options.people).map((p) => p.linkedinUrl)
    const start = process.hrtime.bigint()
    const run = provider === "fiber" ? naiveFiber : naiveCrustdata
    const result = yield* Effect.promise(() => run(`${served.url}/${provider}`, urls, options.timeScale))
    const elapsed = since(start) * options.timeScale
    const counters = yield* served.counters
    return {
      elapsed,
      rateLimited: counters.totalRateLimited(`${provider}:`),
      accounted: result.rows,
      credits: counters.netCredits(provider)
    } satisfies Measured
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

const seconds = (ms: number) => `${fixed(ms / 1000, 0)} s`

/** Runs ours and the naive client for one provider and prints the figures. */
export const run = (provider: "fiber" | "crustdata", options: Options, withNaive: boolean) =>
  Effect.gen(function*() {
    const bound = provider === "fiber" ? fiberLowerBound(options.people) : crustdataLowerBound(options.people)
    const measured = yield* ours(provider, options)
    const efficiency = bound / measured.elapsed
    const plan = planBound(provider, options.people)
    const { concurrency, sizes } = waterfallPlan(provider, options.people)
    yield* say(
      `  ${provider}: lower bound ${seconds(bound)}, measured ${seconds(measured.elapsed)} (provider time, ` +
        `×${options.timeScale} time scale), people accounted ${measured.accounted}/${options.people}, ` +
        `credits ${measured.credits}`
    )
    yield* say(
      `  ${provider}: the client's plan (${sizes.length} chunks of ${sizes[sizes.length - 1]}..${sizes[0]}, ` +
        `${Math.min(concurrency, sizes.length)} in flight) allows ` +
        `${seconds(plan)}: plan ${fixed(bound / plan)} of the bound, execution ${
          fixed(plan / measured.elapsed)
        } of the plan`
    )
    yield* say(
      figure(
        `ceiling efficiency ${provider} ${options.people} people`,
        fixed(efficiency),
        ">= 0.95",
        efficiency >= 0.95
      ) + " | " +
        figure("429s caused by client", String(measured.rateLimited), "0", measured.rateLimited === 0)
    )
    if (!withNaive) return
    const simple = yield* naive(provider, { ...options, timeScale: options.naiveTimeScale })
    const speedUp = simple.elapsed / measured.elapsed
    yield* say(
      `  naive ${provider}: ${seconds(simple.elapsed)} (provider time, ×${options.naiveTimeScale} time scale), ` +
        `rows ${simple.accounted}, 429s ${simple.rateLimited}`
    )
    yield* say(figure(`speed-up vs naive client ${provider}`, `${fixed(speedUp)}x`, "> 1", speedUp > 1))
  })
