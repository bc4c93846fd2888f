/**
 * Webhook wake-ups: one Deferred per job that someone waits for (or was told about first), dropped when the last
 * waiter is done. A wake-up only says "check now": the status is always re-fetched.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"

export interface Wakeups {
  /** completes when `notify(batchId)` is called (at once if it already was) */
  readonly wait: (batchId: string) => Effect.Effect<void>
  /** wakes every `wait` of this job; harmless when nobody waits */
  readonly notify: (batchId: string) => Effect.Effect<void>
}

export const make = (): Wakeups => {
  const wakeups = new Map<string, { readonly deferred: Deferred.Deferred<void>; waiters: number }>()

  const entryOf = (batchId: string) =>
    Effect.suspend(() => {
      const existing = wakeups.get(batchId)
      if (existing !== undefined) return Effect.succeed(existing)
      return Effect.map(Deferred.make<void>(), (deferred) => {
        const entry = { deferred, waiters: 0 }
        wakeups.set(batchId, entry)
        return entry
      })
    })

  const notify = (batchId: string) =>
    Effect.flatMap(entryOf(batchId), (entry) => Deferred.succeed(entry.deferred, undefined)).pipe(Effect.asVoid)

  const wait = (batchId: string) =>
    Effect.acquireUseRelease(
      Effect.tap(entryOf(batchId), (entry) => Effect.sync(() => entry.waiters++)),
      (entry) => Deferred.await(entry.deferred),
      (entry) =>
        Effect.sync(() => {
          if (--entry.waiters === 0 && wakeups.get(batchId) === entry) wakeups.delete(batchId)
        })
    )

  return { wait, notify }
}
