/**
 * Where the providers' limits keep their state: the sliding windows of each endpoint (`RateLimits`) and the
 * account-wide slots (Crustdata's active jobs). The clients take their gates and slots from this service, so that
 * the same client code counts per process (the memory store, the default) or together with every other process
 * that uses the same shared store (the worker's Redis store, `REDIS_URL`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as RateLimits from "./RateLimits.js"

/**
 * Account-wide slots, e.g. the active jobs an account may have. A holder is named by the caller (a name it chose
 * before asking), so a slot whose acquisition was interrupted at the last moment can still be given back.
 *
 * @since 0.1.0 @category Models
 */
export interface Slots {
  readonly max: number
  /** waits until `holder` holds one of the slots (at once when it already does) */
  readonly acquire: (holder: string) => Effect.Effect<void>
  /** gives `holder`'s slot back; harmless when it holds none */
  readonly release: (holder: string) => Effect.Effect<void>
}

/** @since 0.1.0 @category Models */
export interface Service {
  /**
   * The gates of one client of `provider`: a sliding window per endpoint window in `limits` (see
   * `RateLimits.make` for the semantic every store keeps). Built once per client, in its scope.
   */
  readonly gates: (provider: string, limits: RateLimits.Limits) => Effect.Effect<RateLimits.Gates, never, Scope.Scope>
  /** `max` slots named `name` for `provider`'s account, e.g. ("crustdata", "active-jobs", 5) */
  readonly slots: (provider: string, name: string, max: number) => Effect.Effect<Slots, never, Scope.Scope>
}

/**
 * Slots in this process: a semaphore of `max` permits and the holders that took one.
 *
 * @since 0.1.0 @category Constructors
 */
export const memorySlots = (max: number): Effect.Effect<Slots> =>
  Effect.map(Effect.makeSemaphore(Math.max(1, max)), (semaphore) => {
    const holders = new Set<string>()
    return {
      max,
      acquire: (holder) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.suspend(() =>
            holders.has(holder)
              ? Effect.void
              // once taken, the holder is recorded before anything can interrupt
              : Effect.zipRight(restore(semaphore.take(1)), Effect.sync(() => void holders.add(holder)))
          )
        ),
      release: (holder) => Effect.suspend(() => holders.delete(holder) ? semaphore.release(1) : Effect.void)
    }
  })

/**
 * Per process: each client counts its own windows and slots, as one process with one client per provider needs.
 *
 * @since 0.1.0 @category Constructors
 */
export const memory: Service = {
  gates: (_provider, limits) => RateLimits.make(limits),
  slots: (_provider, _name, max) => memorySlots(max)
}

/**
 * The store the clients use; the memory store unless a layer provides another.
 *
 * @since 0.1.0 @category Context
 */
export class RateLimitStore extends Context.Reference<RateLimitStore>()("@enrich/core/RateLimitStore", {
  defaultValue: (): Service => memory
}) {}

/** @since 0.1.0 @category Layers */
export const layer = (service: Service): Layer.Layer<RateLimitStore> => Layer.succeed(RateLimitStore, service)
