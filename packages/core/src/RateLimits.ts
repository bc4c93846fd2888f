/**
 * Client-side rate limiting per provider endpoint, shared by every fiber of the process, so that we stay
 * under the documented limits instead of discovering them through 429s. An endpoint may have several windows
 * (e.g. per second and per minute), all of which are acquired. These are the memory store's windows; the clients
 * take theirs from `RateLimitStore`, whose other stores (the worker's Redis one) keep the same semantic.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import type * as RateLimiter from "effect/RateLimiter"
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
 * One window as a sliding-window limiter: `limit` slots, each held while its request is in flight and for one
 * `interval` after it has completed. Providers count "N per minute" over a sliding window keyed on when they
 * received a request; a fixed window on our side would let 2N through across a window boundary, and counting
 * from when we sent would be fooled by latency. Counting from completion is safe either way: the provider
 * received request i before we saw it complete, so request i+N (sent at least `interval` later) arrives more
 * than `interval` after request i did.
 */
const slidingWindow = (window: Window, scope: Scope.Scope): Effect.Effect<RateLimiter.RateLimiter> =>
  Effect.map(Effect.makeSemaphore(Math.max(1, window.limit)), (slots) => {
    const interval = Duration.decode(window.interval)
    // forked from a finalizer (uninterruptible): made interruptible so that closing the scope does not wait
    const freeLater = Effect.asVoid(
      Effect.forkIn(Effect.interruptible(Effect.zipRight(Effect.sleep(interval), slots.release(1))), scope)
    )
    // The wait for a slot is interruptible even inside a caller's uninterruptible region (a send seen through to
    // its journal entry): nothing has been sent while it waits.
    return <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(Effect.interruptible(slots.take(1)), Effect.ensuring(restore(effect), freeLater))
      )
  })

/**
 * Builds the limiters once, in the service's scope; each window is a sliding window (see `slidingWindow`), so a
 * sustained run at a documented limit draws no 429 from a provider that counts the same way.
 *
 * @since 0.1.0 @category Constructors
 */
export const make = (limits: Limits): Effect.Effect<Gates, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const byEndpoint = new Map<string, RateLimiter.RateLimiter>()
    for (const [endpoint, windows] of Object.entries(limits)) {
      let composed: RateLimiter.RateLimiter = identity
      for (const window of windows) {
        const limiter = yield* slidingWindow(window, scope)
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
