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
import { countRetry } from "./ProviderMetrics.js"

/** @since 0.1.0 @category Models */
export interface RetryPolicy {
  readonly base: Duration.DurationInput
  readonly max: Duration.DurationInput
  readonly times: number
  /**
   * Retries when nothing answered at all (`ProviderUnavailable.unreachable`: connection refused, unknown host),
   * within `times`; default 3, about 3.5 s with the default base: a wrong URL or a provider that is down is said
   * within seconds, not after minutes of backoff.
   */
  readonly unreachableTimes?: number | undefined
}

/** @since 0.1.0 @category Context */
export class Backoff extends Context.Reference<Backoff>()("@enrich/core/Backoff", {
  defaultValue: (): RetryPolicy => ({ base: "500 millis", max: "60 seconds", times: 8 })
}) {}

const retryable = (error: EnrichmentError): boolean =>
  error._tag === "RateLimited" || error._tag === "ProviderUnavailable"

const isUnreachable = (error: EnrichmentError): boolean => error._tag === "ProviderUnavailable" && error.unreachable

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
    Schedule.intersect(
      Schedule.identity<EnrichmentError>().pipe(
        Schedule.reduce(0, (unreachable, error) => isUnreachable(error) ? unreachable + 1 : unreachable),
        Schedule.whileOutput((unreachable) => unreachable < (policy.unreachableTimes ?? 3))
      )
    ),
    Schedule.whileInput(retryable)
  )

/**
 * Retries `RateLimited` and `ProviderUnavailable` per the current `Backoff` policy; other errors pass through.
 * Each retry is counted (`ProviderMetrics.retries`) under the error that caused it.
 *
 * @since 0.1.0 @category Combinators
 */
export const retryTransient = <A, E extends EnrichmentError, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(Backoff, (policy) =>
    Effect.suspend(() => {
      // the error of the attempt before: an attempt after one is a retry because of it
      let previous: E | undefined
      const attempt = Effect.suspend(() =>
        Effect.zipRight(
          previous === undefined ? Effect.void : countRetry(previous),
          Effect.tapError(effect, (error) => Effect.sync(() => (previous = error)))
        )
      )
      return Effect.retry(attempt, schedule(policy) as unknown as Schedule.Schedule<unknown, E>)
    }))
