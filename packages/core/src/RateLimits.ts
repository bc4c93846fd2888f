/**
 * Client-side rate limiting per provider endpoint, shared by every fiber of the process, so that we stay
 * under the documented limits instead of discovering them through 429s. Built from `effect/RateLimiter`;
 * an endpoint may have several windows (e.g. per second and per minute), all of which are acquired.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as RateLimiter from "effect/RateLimiter"
import type * as Scope from "effect/Scope"

/** @since 0.1.0 @category Models */
export interface Window {
  readonly limit: number
  readonly interval: Duration.DurationInput
}

/** Limits per endpoint name; endpoints not listed are not limited client-side. */
export type Limits = Readonly<Record<string, ReadonlyArray<Window>>>

/** A gate per endpoint: wrap the call that must respect that endpoint's limits. */
export interface Gates {
  readonly gate: (endpoint: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * Builds the limiters once, in the service's scope. Uses a fixed window aligned with how providers count
 * ("30 requests per minute"), so a full window can be spent at once and the next one starts cleanly.
 *
 * @since 0.1.0 @category Constructors
 */
export const make = (limits: Limits): Effect.Effect<Gates, never, Scope.Scope> =>
  Effect.gen(function*() {
    const byEndpoint = new Map<string, RateLimiter.RateLimiter>()
    for (const [endpoint, windows] of Object.entries(limits)) {
      let composed: RateLimiter.RateLimiter = identity
      for (const window of windows) {
        const limiter = yield* RateLimiter.make({
          limit: window.limit,
          interval: window.interval,
          algorithm: "fixed-window"
        })
        const outer = composed
        composed = (effect) => outer(limiter(effect))
      }
      byEndpoint.set(endpoint, composed)
    }
    return {
      gate: (endpoint) => byEndpoint.get(endpoint) ?? identity
    }
  })

/**
 * Divides every interval by `factor`: a simulator running `factor`× faster than real time allows
 * `factor`× more requests per real second.
 */
export const scale = (limits: Limits, factor: number): Limits =>
  Object.fromEntries(
    Object.entries(limits).map(([endpoint, windows]) => [
      endpoint,
      windows.map((w) => ({ limit: w.limit, interval: Duration.millis(Duration.toMillis(w.interval) / factor) }))
    ])
  )

/** Leaves headroom below a documented limit (e.g. 0.9) for clocks that drift between us and the provider. */
export const withHeadroom = (limits: Limits, ratio: number): Limits =>
  Object.fromEntries(
    Object.entries(limits).map(([endpoint, windows]) => [
      endpoint,
      windows.map((w) => ({ limit: Math.max(1, Math.floor(w.limit * ratio)), interval: w.interval }))
    ])
  )
