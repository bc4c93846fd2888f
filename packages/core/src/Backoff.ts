/**
 * Retrying transient provider failures (429, 5xx, transport) with capped, jittered exponential backoff that
 * waits at least as long as the provider asked (Retry-After / x-ratelimit-reset). A `Context.Reference`
 * so tests can make it instant.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { EnrichmentError } from "./EnrichmentError.js"

/** @since 0.1.0 @category Models */
export interface RetryPolicy {
  readonly base: Duration.DurationInput
  readonly max: Duration.DurationInput
  readonly times: number
}

/** @since 0.1.0 @category Context */
export class Backoff extends Context.Reference<Backoff>()("@enrich/core/Backoff", {
  defaultValue: (): RetryPolicy => ({ base: "500 millis", max: "60 seconds", times: 8 })
}) {}

const retryable = (error: EnrichmentError): boolean =>
  error._tag === "RateLimited" || error._tag === "ProviderUnavailable"

const askedDelay = (error: EnrichmentError): Duration.Duration =>
  error._tag === "RateLimited" && error.retryAfterMillis !== undefined
    ? Duration.millis(error.retryAfterMillis)
    : Duration.zero

/** The schedule: jittered exponential, capped, never shorter than what the provider asked for. */
export const schedule = (policy: RetryPolicy): Schedule.Schedule<unknown, EnrichmentError> =>
  Schedule.exponential(policy.base).pipe(
    Schedule.either(Schedule.spaced(policy.max)),
    Schedule.jittered,
    Schedule.intersect(Schedule.identity<EnrichmentError>()),
    Schedule.modifyDelay(([, error], delay) => Duration.max(delay, askedDelay(error))),
    Schedule.intersect(Schedule.recurs(policy.times)),
    Schedule.whileInput(retryable)
  )

/**
 * Retries `RateLimited` and `ProviderUnavailable` per the current `Backoff` policy; other errors pass through.
 *
 * @since 0.1.0 @category Combinators
 */
export const retryTransient = <A, E extends EnrichmentError, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    Backoff,
    (policy) => Effect.retry(effect, schedule(policy) as unknown as Schedule.Schedule<unknown, E>)
  )
