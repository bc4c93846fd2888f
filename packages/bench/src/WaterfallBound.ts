/**
 * The waterfall's makespan against its bound: 20,000 people through fiber, crustdata and thehog on time-scaled
 * simulators (in their own process), with providers working at once and, for comparison, stage by stage
 * (`stageBarrier`). The bound is what no client can beat: the slowest provider's own lower bound for the people it
 * actually received (from its documented limits and the simulator's job latency), plus the latency of the first
 * chunk at each provider before it (nobody reaches a provider sooner).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ChunkPlan, Contact, FiberAiProvider, type PersonResult, Polling, Waterfall } from "@enrich/core"
import { CrustdataApi, FiberAiApi, TheHogApi } from "@enrich/core/wire"
import { Universe } from "@enrich/simulator"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ceiling from "./Ceiling.js"
import {
  clients,
  figure,
  fixed,
  memoryJournal,
  peopleOf,
  print,
  type ProviderName,
  say,
  scaledPolling,
  since
} from "./Common.js"
import { spawnSimulators } from "./SimulatorProcess.js"

export interface Options {
  readonly people: number
  /** provider seconds per real second */
  readonly timeScale: number
  readonly seed: number
  /** the set-ups to run, by name (default: all) */
  readonly setUps?: ReadonlyArray<string>
}

/** Moderate: every real millisecond of client work counts as `timeScale` provider milliseconds. */
export const defaultTimeScale = 20

const minute = 60_000

interface Latencies {
  readonly fiber: { readonly firstResultMillis: number; readonly perPersonMillis: number }
  readonly crustdata: {
    readonly pendingMillis: number
    readonly processingMillis: number
    readonly perUrlMillis: number
  }
  readonly thehog: { readonly queuedMillis: number; readonly processingMillis: number; readonly perItemMillis: number }
}

/** The simulators' defaults, passed explicitly so that the bound uses the same. */
const defaultLatencies: Latencies = {
  fiber: Ceiling.fiberLatency,
  crustdata: Ceiling.crustdataLatency,
  thehog: { queuedMillis: 1_500, processingMillis: 4_000, perItemMillis: 200 }
}

export interface SetUp {
  readonly name: string
  /** what was chosen, for the report */
  readonly description: string
  readonly order: ReadonlyArray<ProviderName>
  readonly fields: readonly [Contact.Field, ...Array<Contact.Field>]
  readonly latencies: Latencies
}

export const setUps: ReadonlyArray<SetUp> = [
  {
    name: "default",
    description: "order fiber, crustdata, thehog; all fields; the simulators' default latencies",
    order: ["fiber", "crustdata", "thehog"],
    fields: Contact.allFields as [Contact.Field, ...Array<Contact.Field>],
    latencies: defaultLatencies
  },
  {
    // All fields send 96% of the people on to Crustdata and 83% to TheHog, where our client (4 jobs in flight,
    // a few polls each) takes far longer than TheHog's own bound: TheHog, not the slowest provider's limits,
    // would set the makespan. With work emails only, Crustdata gets 59% and TheHog 40%; Crustdata's shorter
    // jobs then bring its stage down to about the others' sum.
    name: "comparable",
    description: "order fiber, crustdata, thehog; work_email only; Crustdata's jobs processing 60 s instead of " +
      "120 s (pending 20 s, 100 ms per URL as by default)",
    order: ["fiber", "crustdata", "thehog"],
    fields: ["work_email"],
    latencies: {
      ...defaultLatencies,
      crustdata: { ...defaultLatencies.crustdata, processingMillis: 60_000 }
    }
  }
]

// ---------------------------------------------------------------------------------------------------------------
// The bound
// ---------------------------------------------------------------------------------------------------------------

/**
 * TheHog, provider ms: jobs of at most 100 identifiers, no documented active-job cap; each job is submitted once
 * and polled at least once after it ends, within 30 polls a minute and 300 requests a minute in all. A job of
 * `s` takes `queued + processing + s × perItem`.
 */
export const thehogLowerBound = (people: number, latency: Latencies["thehog"]): number => {
  if (people <= 0) return 0
  const jobs = Math.ceil(people / TheHogApi.maxIdentifiers)
  const job = latency.queuedMillis + latency.processingMillis + Math.min(people, TheHogApi.maxIdentifiers) *
      latency.perItemMillis
  const polls = Math.max(0, jobs - TheHogApi.pollLimitPerMinute) / TheHogApi.pollLimitPerMinute * minute
  const requests = Math.max(0, 2 * jobs - 300) / 300 * minute
  return Math.max(job, polls + job, requests + job)
}

/** A provider's lower bound for `people`, provider ms. */
const lowerBound = (provider: ProviderName, people: number, latencies: Latencies): number => {
  if (people <= 0) return 0
  switch (provider) {
    case "fiber":
      return Ceiling.fiberLowerBound(people, latencies.fiber)
    case "crustdata":
      return Ceiling.crustdataLowerBound(people, latencies.crustdata)
    case "thehog":
      return thehogLowerBound(people, latencies.thehog)
  }
}

/**
 * The latency of the first chunk the run sends to a provider that received `people`, provider ms: nobody gets
 * through it sooner (the size is the waterfall's plan: `ChunkPlan` for paced Fiber, else a full chunk).
 */
export const firstChunkMillis = (provider: ProviderName, people: number, latencies: Latencies): number => {
  if (people <= 0) return 0
  switch (provider) {
    case "fiber": {
      const pacing = FiberAiProvider.capabilities.pacing
      const size = ChunkPlan.chunkSizes(people, FiberAiApi.maxBatchPeople, pacing)[0]!
      return latencies.fiber.firstResultMillis + (size - 1) * latencies.fiber.perPersonMillis
    }
    case "crustdata": {
      const { pendingMillis, perUrlMillis, processingMillis } = latencies.crustdata
      return pendingMillis + processingMillis + Math.min(people, CrustdataApi.maxBatchUrls) * perUrlMillis
    }
    case "thehog": {
      const { perItemMillis, processingMillis, queuedMillis } = latencies.thehog
      return queuedMillis + processingMillis + Math.min(people, TheHogApi.maxIdentifiers) * perItemMillis
    }
  }
}

interface Bound {
  readonly millis: number
  readonly provider: ProviderName
  readonly perProvider: ReadonlyArray<
    { readonly provider: ProviderName; readonly own: number; readonly total: number; readonly first: number }
  >
}

/** The largest over providers of its own bound plus the first chunk's latency at each provider before it. */
export const boundOf = (setUp: SetUp, received: ReadonlyMap<string, number>): Bound => {
  let before = 0
  const perProvider = setUp.order.map((provider) => {
    const own = lowerBound(provider, received.get(provider) ?? 0, setUp.latencies)
    const total = own > 0 ? own + before : 0
    const first = firstChunkMillis(provider, received.get(provider) ?? 0, setUp.latencies)
    before += firstChunkMillis(provider, received.get(provider) ?? 0, setUp.latencies)
    return { provider, own, total, first }
  })
  const slowest = perProvider.reduce((a, b) => b.total > a.total ? b : a)
  return { millis: slowest.total, provider: slowest.provider, perProvider }
}

// ---------------------------------------------------------------------------------------------------------------
// A run
// ---------------------------------------------------------------------------------------------------------------

interface Measured {
  /** provider ms */
  readonly makespan: number
  /** provider ms when the first person was done with the waterfall */
  readonly firstDone: number
  /** people each provider was sent (from `ChunkSubmitted`) */
  readonly received: ReadonlyMap<string, number>
  /** chunks each provider was sent, and the smallest and largest */
  readonly chunks: ReadonlyMap<string, ReadonlyArray<number>>
  /** per person: every outcome with its values and its cost */
  readonly answers: ReadonlyMap<string, string>
  /** the simulators' net charges per provider */
  readonly credits: ReadonlyMap<string, number>
  readonly settled: number
}

/** One outcome as compared between runs: provider, tag, values with their verdicts, cost (not when it came). */
const describe = (outcome: PersonResult.ProviderOutcome): string => {
  switch (outcome._tag) {
    case "Found":
      return `${outcome.provenance.provider} Found ${
        outcome.emails.map((e) => `${e.address}/${e.kind}/${e.verdict}`).join(",")
      } ${outcome.phones.map((p) => `${p.number}/${p.kind}`).join(",")} cost ${outcome.provenance.cost}`
    case "NotFound":
      return `${outcome.provenance.provider} NotFound cost ${outcome.provenance.cost}`
    default:
      return `${outcome._tag} ${"provider" in outcome ? outcome.provider : ""} ${
        "reason" in outcome ? outcome.reason : ""
      }`
  }
}

const measure = (setUp: SetUp, options: Options, stageBarrier: boolean) =>
  Effect.gen(function*() {
    const served = yield* spawnSimulators({
      seed: options.seed,
      timeScale: options.timeScale,
      universe: { size: options.people },
      fiber: setUp.latencies.fiber,
      crustdata: setUp.latencies.crustdata,
      thehog: setUp.latencies.thehog
    })
    const people = peopleOf(new Universe.Universe({ seed: options.seed, size: options.people }), options.people)
    // clients are built before the clock starts: a run's setup is not its makespan
    const context = yield* Layer.build(Layer.merge(clients(served.url, options.timeScale, setUp.order), memoryJournal))
    const received = new Map<string, number>()
    const chunks = new Map<string, Array<number>>()
    let firstDone: number | undefined
    const start = process.hrtime.bigint()
    const trace = process.env.BENCH_TRACE !== undefined
    const result = yield* Waterfall.runCollecting({
      runId: `waterfall-${setUp.name}-${stageBarrier ? "barrier" : "pipelined"}`,
      people,
      providers: setUp.order,
      fields: setUp.fields,
      stageBarrier,
      // the client's own waits run on provider time too, as polling does
      flushAfter: Duration.millis(5_000 / options.timeScale),
      onEvent: (event) =>
        Effect.sync(() => {
          if (event._tag === "ChunkSubmitted") {
            received.set(event.provider, (received.get(event.provider) ?? 0) + event.people)
            chunks.set(event.provider, [...(chunks.get(event.provider) ?? []), event.people])
          }
          if (event._tag === "PeopleDone" && firstDone === undefined) firstDone = since(start)
          if (trace) print(`    t=${fixed(since(start) * options.timeScale / 1000, 1)}s ${JSON.stringify(event)}`)
        })
    }).pipe(
      Effect.provide(context),
      Effect.provideService(Polling.Polling, scaledPolling(options.timeScale))
    )
    const makespan = since(start) * options.timeScale
    const counters = yield* served.counters
    const answers = new Map<string, string>()
    for (const [key, outcomes] of result.outcomes) answers.set(key, outcomes.map(describe).join(" | "))
    return {
      makespan,
      firstDone: (firstDone ?? 0) * options.timeScale,
      received,
      chunks,
      answers,
      credits: new Map(setUp.order.map((p) => [p, counters.netCredits(p)])),
      settled: result.merged.size
    } satisfies Measured
  }).pipe(Effect.scoped)

const seconds = (ms: number) => `${fixed(ms / 1000, 0)} s`

const chunkSummary = (m: Measured, order: ReadonlyArray<string>) =>
  order.map((p) => {
    const sizes = m.chunks.get(p) ?? []
    if (sizes.length === 0) return `${p} none`
    return `${p} ${sizes.length} of ${Math.min(...sizes)}..${Math.max(...sizes)}`
  }).join(", ")

/** Where the two runs differ, person by person (outcomes and their costs) and in the simulators' charges. */
const differences = (a: Measured, b: Measured): Array<string> => {
  const out: Array<string> = []
  const keys = new Set([...a.answers.keys(), ...b.answers.keys()])
  for (const key of keys) {
    const x = a.answers.get(key)
    const y = b.answers.get(key)
    if (x !== y) out.push(`${key}: pipelined ${x ?? "nothing"}; stage by stage ${y ?? "nothing"}`)
  }
  for (const [provider, credits] of a.credits) {
    if (b.credits.get(provider) !== credits) {
      out.push(`${provider} charged ${credits} pipelined, ${b.credits.get(provider)} stage by stage`)
    }
  }
  return out
}

export const runSetUp = (setUp: SetUp, options: Options) =>
  Effect.gen(function*() {
    yield* say(`  ${setUp.name}: ${setUp.description}`)
    const pipelined = yield* measure(setUp, options, false)
    const barrier = yield* measure(setUp, options, true)
    const bound = boundOf(setUp, pipelined.received)
    yield* say(
      `    received: ${setUp.order.map((p) => `${p} ${pipelined.received.get(p) ?? 0}`).join(", ")}; own lower ` +
        `bounds: ${bound.perProvider.map((p) => `${p.provider} ${seconds(p.own)}`).join(", ")}; bound ` +
        `${seconds(bound.millis)} (${bound.provider}'s, after the first chunk at each provider before it: ${
          bound.perProvider.slice(0, setUp.order.indexOf(bound.provider)).map((p) =>
            `${p.provider} ${seconds(p.first)}`
          )
            .join(", ") || "none"
        })`
    )
    yield* say(
      `    pipelined: makespan ${seconds(pipelined.makespan)}, first person done at ${seconds(pipelined.firstDone)}; ` +
        `chunks ${chunkSummary(pipelined, setUp.order)}`
    )
    yield* say(
      `    stage by stage: makespan ${seconds(barrier.makespan)}, first person done at ${
        seconds(barrier.firstDone)
      }; chunks ${chunkSummary(barrier, setUp.order)} (provider time, ×${options.timeScale} time scale)`
    )
    const ratio = bound.millis / pipelined.makespan
    const barrierRatio = bound.millis / barrier.makespan
    yield* say(
      figure(`waterfall makespan vs bound (${setUp.name})`, fixed(ratio), ">= 0.90", ratio >= 0.9) + " | " +
        figure("stage by stage", fixed(barrierRatio), "none, for comparison", undefined)
    )
    const differ = differences(pipelined, barrier)
    const everyone = pipelined.settled === options.people && barrier.settled === options.people
    yield* say(
      `same outcomes and credits person by person, pipelined vs stage by stage (${setUp.name}): ` +
        (differ.length === 0 && everyone
          ? `yes (${options.people} people)`
          : `no (${differ.length} differences; settled ${pipelined.settled} and ${barrier.settled} of ` +
            `${options.people})`)
    )
    for (const line of differ.slice(0, 5)) yield* say(`    ${line}`)
    return { setUp, pipelined, barrier }
  })

export const run = (options: Options) =>
  Effect.gen(function*() {
    yield* say(`  ${options.people} people (×${options.timeScale} time scale; provider seconds below)`)
    for (const setUp of setUps.filter((s) => options.setUps === undefined || options.setUps.includes(s.name))) {
      const { barrier, pipelined } = yield* runSetUp(setUp, options)
      if (setUp.name === "comparable") {
        const first = pipelined.firstDone / pipelined.makespan
        const firstBarrier = barrier.firstDone / barrier.makespan
        yield* say(
          figure("first finished row at", `${fixed(first)} of the makespan`, "<= 0.20", first <= 0.2) + " | " +
            figure("stage by stage", `${fixed(firstBarrier)} of the makespan`, "none, for comparison", undefined)
        )
      }
    }
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))
