/**
 * The metrics of talking to providers, defined once: every HTTP call, 429 and retry per provider and endpoint,
 * credits, people asked and found per field (the hit rate), and chunks by state. They live in Effect's metric
 * registry; the worker exports them over OTLP when asked to (`@effect/opentelemetry`), programs may read them
 * with `Metric.value`.
 *
 * Tags are provider names, endpoint names, HTTP statuses, fields and states: bounded sets, never a person's
 * identifier, a contact value, a job id or a key.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricState from "effect/MetricState"
import type { Field } from "./Contact.js"
import type { EnrichmentError } from "./EnrichmentError.js"
import { candidatesOf } from "./Merge.js"
import type { ProviderOutcome } from "./PersonResult.js"

/** The names of the counters `requestTotals` reads back. */
const names = {
  requests: "enrich.provider.requests",
  rateLimited: "enrich.provider.rate_limited",
  retries: "enrich.provider.retries"
} as const

/** @since 0.1.0 @category Metrics */
export const requests = Metric.counter(names.requests, {
  description: "HTTP requests to a provider, by provider, endpoint and status (the HTTP status, or \"error\" when " +
    "none came: transport failure or timeout)",
  incremental: true
})

/** @since 0.1.0 @category Metrics */
export const rateLimited = Metric.counter(names.rateLimited, {
  description: "429 answers from a provider, by provider and endpoint",
  incremental: true
})

/** @since 0.1.0 @category Metrics */
export const retries = Metric.counter(names.retries, {
  description: "requests sent again after a transient failure (429, 5xx, transport), by provider, endpoint and " +
    "the error that caused the retry",
  incremental: true
})

/** @since 0.1.0 @category Metrics */
export const latency = Metric.histogram(
  "enrich.provider.latency",
  // 10 ms … ~82 s
  MetricBoundaries.exponential({ start: 10, factor: 2, count: 14 }),
  "milliseconds per HTTP request to a provider (one attempt, after its rate limit let it through), by provider " +
    "and endpoint"
)

/** @since 0.1.0 @category Metrics */
export const creditsCharged = Metric.counter("enrich.credits.charged", {
  description: "credits charged by a provider for settled chunks, before refunds, by provider",
  incremental: true
})

/** @since 0.1.0 @category Metrics */
export const creditsRefunded = Metric.counter("enrich.credits.refunded", {
  description: "credits a provider refunded for settled chunks, by provider",
  incremental: true
})

/** @since 0.1.0 @category Metrics */
export const creditsEstimated = Metric.counter("enrich.credits.estimated", {
  description: "the part of the credits booked for settled chunks that is our estimate from the provider's price " +
    "list (it reported no figure), by provider",
  incremental: true
})

/** @since 0.1.0 @category Metrics */
export const peopleAsked = Metric.counter("enrich.people.asked", {
  description: "people a provider answered (or failed) in chunks, per field asked, by provider and field",
  incremental: true
})

/** @since 0.1.0 @category Metrics */
export const peopleFound = Metric.counter("enrich.people.found", {
  description: "people a provider found a usable value for, per field, by provider and field (found / asked is the " +
    "hit rate)",
  incremental: true
})

/** @since 0.1.0 @category Metrics */
export const peopleCached = Metric.counter("enrich.people.cached", {
  description: "people answered from outcomes bought by earlier runs instead of asking the provider, by provider",
  incremental: true
})

/**
 * What happens to chunks: `recorded`, `submitted`, `finished`, `failed`, `stalled` (a paid job left unreadable
 * for a resume), `ambiguous` (left unsent after a crash).
 *
 * @since 0.1.0 @category Models
 */
export type ChunkState = "recorded" | "submitted" | "finished" | "failed" | "stalled" | "ambiguous"

/** @since 0.1.0 @category Metrics */
export const chunks = Metric.counter("enrich.chunks", {
  description: "chunks reaching a state (recorded, submitted, finished, failed, stalled, ambiguous), by provider " +
    "and state",
  incremental: true
})

const byEndpoint = <M extends Metric.Metric<any, any, any>>(metric: M, provider: string, endpoint: string): M =>
  Metric.tagged(Metric.tagged(metric, "provider", provider), "endpoint", endpoint) as M

/**
 * Counts and times one HTTP attempt: a request by its status (or `error`), a 429, and its latency.
 *
 * @since 0.1.0 @category Combinators
 */
export const trackRequest =
  (provider: string, endpoint: string) =>
  <A extends { readonly status: number }, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.clockWith((clock) =>
      Effect.flatMap(
        clock.currentTimeMillis,
        (start) =>
          Effect.onExit(effect, (exit: Exit.Exit<A, E>) =>
            Effect.flatMap(clock.currentTimeMillis, (end) => {
              const status = Exit.isSuccess(exit) ? String(exit.value.status) : "error"
              return Effect.all([
                Metric.increment(Metric.tagged(byEndpoint(requests, provider, endpoint), "status", status)),
                status === "429" ? Metric.increment(byEndpoint(rateLimited, provider, endpoint)) : Effect.void,
                Metric.update(byEndpoint(latency, provider, endpoint), end - start)
              ], { discard: true })
            }))
      )
    )

/**
 * One retry caused by `error` (its provider, and its endpoint when the error names one).
 *
 * @since 0.1.0 @category Combinators
 */
export const countRetry = (error: EnrichmentError): Effect.Effect<void> =>
  Metric.increment(
    Metric.tagged(
      byEndpoint(retries, error.provider, "endpoint" in error ? error.endpoint : "unknown"),
      "reason",
      error._tag
    )
  )

/** @since 0.1.0 @category Combinators */
export const countChunk = (provider: string, state: ChunkState, n = 1): Effect.Effect<void> =>
  n === 0
    ? Effect.void
    : Metric.incrementBy(Metric.tagged(Metric.tagged(chunks, "provider", provider), "state", state), n)

/**
 * A settled chunk's credits: `charged` before refunds, `refunded`, and whether the figure is our estimate.
 *
 * @since 0.1.0 @category Combinators
 */
export const countCredits = (
  provider: string,
  credits: { readonly charged: number; readonly refunded: number; readonly estimated: boolean }
): Effect.Effect<void> =>
  Effect.all([
    credits.charged > 0 ?
      Metric.incrementBy(Metric.tagged(creditsCharged, "provider", provider), credits.charged) :
      Effect.void,
    credits.refunded > 0 ?
      Metric.incrementBy(Metric.tagged(creditsRefunded, "provider", provider), credits.refunded) :
      Effect.void,
    credits.estimated && credits.charged - credits.refunded > 0
      ? Metric.incrementBy(
        Metric.tagged(creditsEstimated, "provider", provider),
        credits.charged - credits.refunded
      )
      : Effect.void
  ], { discard: true })

/**
 * People asked and found per field, from the outcomes a chunk that asked `fields` committed: every outcome is one
 * person asked for each field; found when it offers a value for the field that is not `invalid`.
 *
 * @since 0.1.0 @category Combinators
 */
export const countAnswers = (
  provider: string,
  fields: ReadonlyArray<Field>,
  outcomes: ReadonlyArray<ProviderOutcome>
): Effect.Effect<void> => {
  if (outcomes.length === 0) return Effect.void
  const found = new Map<Field, number>()
  for (const outcome of outcomes) {
    const filled = new Set(candidatesOf(outcome).filter((c) => c.verdict !== "invalid").map((c) => c.field))
    for (const field of filled) found.set(field, (found.get(field) ?? 0) + 1)
  }
  return Effect.forEach(fields, (field) => {
    const tag = (metric: Metric.Metric.Counter<number>) =>
      Metric.tagged(Metric.tagged(metric, "provider", provider), "field", field)
    const hits = found.get(field) ?? 0
    return Effect.zipRight(
      Metric.incrementBy(tag(peopleAsked), outcomes.length),
      hits > 0 ? Metric.incrementBy(tag(peopleFound), hits) : Effect.void
    )
  }, { discard: true })
}

/** @since 0.1.0 @category Combinators */
export const countCached = (provider: string, people: number): Effect.Effect<void> =>
  people === 0 ? Effect.void : Metric.incrementBy(Metric.tagged(peopleCached, "provider", provider), people)

/**
 * What this process has counted per provider, over every endpoint: requests, 429s and retries. The registry is
 * the process's, so for a worker that works on one run it is that run's share (what `enrich status` keeps).
 *
 * @since 0.1.0 @category Models
 */
export interface RequestTotals {
  readonly requests: number
  readonly rateLimited: number
  readonly retries: number
}

/** @since 0.1.0 @category Getters */
export const requestTotals: Effect.Effect<ReadonlyMap<string, RequestTotals>> = Effect.map(Metric.snapshot, (pairs) => {
  const totals = new Map<string, { requests: number; rateLimited: number; retries: number }>()
  const fields = new Map<string, "requests" | "rateLimited" | "retries">([
    [names.requests, "requests"],
    [names.rateLimited, "rateLimited"],
    [names.retries, "retries"]
  ])
  for (const { metricKey, metricState } of pairs) {
    const field = fields.get(metricKey.name)
    const provider = metricKey.tags.find((tag) => tag.key === "provider")?.value
    if (field === undefined || provider === undefined || !MetricState.isCounterState(metricState)) continue
    const total = totals.get(provider) ?? { requests: 0, rateLimited: 0, retries: 0 }
    total[field] += Number(metricState.count)
    totals.set(provider, total)
  }
  return totals
})
