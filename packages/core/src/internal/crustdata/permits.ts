/**
 * The account's active-job permits (Crustdata: 5 pending/processing batch jobs per account), kept in the store's
 * slots (`RateLimitStore.Slots`: this process's, or shared by every process of a shared store). One pool per
 * client, so every adapter built over the client shares it: taken at submit, given back the first time the job is
 * seen terminal (at most once per job).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { TooManyActiveJobs } from "../../EnrichmentError.js"
import * as Polling from "../../Polling.js"
import type { Slots } from "../../RateLimitStore.js"

const provider = "crustdata"

export interface Permits {
  readonly max: number
  /** jobs currently holding a permit */
  readonly held: () => ReadonlySet<string>
  /**
   * Runs `submit` holding a permit, kept by the job it returns (`idOf`) or given back when it fails. While no permit
   * is free, the held jobs are re-checked with `check` every `Polling.maxDelay`, so the permits of jobs nobody
   * watches any more come back once those jobs finish instead of leaking.
   */
  readonly submit: <A, E, R>(
    submit: Effect.Effect<A, E, R>,
    idOf: (a: A) => string,
    check: (batchId: string) => Effect.Effect<unknown, unknown>
  ) => Effect.Effect<A, E | TooManyActiveJobs, R>
  /** the job was seen terminal: its permit (if it holds one) comes back; harmless when called again */
  readonly release: (batchId: string) => Effect.Effect<void>
}

// names holders uniquely among the pools of this process that share one store (a shared store adds its own)
let pools = 0

export const make = (slots: Slots): Permits => {
  const max = slots.max
  const pool = ++pools
  // job id → the holder name its slot was taken under (chosen before the job had an id)
  const held = new Map<string, string>()
  let holders = 0

  let lastRelease = 0
  const release = (batchId: string) =>
    Effect.suspend(() => {
      const holder = held.get(batchId)
      if (holder === undefined) return Effect.void
      held.delete(batchId)
      return Effect.zipRight(
        Effect.map(Clock.currentTimeMillis, (now) => {
          lastRelease = now
        }),
        slots.release(holder)
      )
    })

  const reap = (check: (batchId: string) => Effect.Effect<unknown, unknown>) =>
    Effect.suspend(() =>
      held.size < max
        ? Effect.void
        : Effect.forEach([...held.keys()], (batchId) => Effect.ignore(check(batchId)), { discard: true })
    )

  // Never waits forever: when no permit at all has come back for a whole polling deadline (the account's jobs
  // stay active, e.g. started by another process on the same key), the submit gives up. A long queue behind
  // jobs that do finish keeps waiting: each release is progress.
  const acquire = (holder: string, check: (batchId: string) => Effect.Effect<unknown, unknown>) =>
    Effect.gen(function*() {
      const policy = yield* Polling.Polling
      const deadline = Duration.toMillis(policy.deadline)
      const since = Math.max(lastRelease, yield* Clock.currentTimeMillis)
      const stalled = Effect.flatMap(
        Clock.currentTimeMillis,
        (now) =>
          now - Math.max(since, lastRelease) >= deadline
            ? Effect.fail(new TooManyActiveJobs({ provider, limit: max }))
            : Effect.void
      )
      return yield* Effect.raceFirst(
        slots.acquire(holder),
        Effect.zipRight(
          reap(check),
          Effect.forever(Effect.zipRight(Effect.sleep(policy.maxDelay), Effect.zipRight(reap(check), stalled)))
        )
      )
    })

  const submit = <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    idOf: (a: A) => string,
    check: (batchId: string) => Effect.Effect<unknown, unknown>
  ): Effect.Effect<A, E | TooManyActiveJobs, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const holder = `permit-${pool}-${++holders}`
        const acquired = yield* Effect.exit(restore(acquire(holder, check)))
        // interrupted or stalled, maybe just after the slot was taken: give it back in any case
        if (Exit.isFailure(acquired)) {
          yield* slots.release(holder)
          return yield* Exit.failCause(acquired.cause)
        }
        const exit = yield* Effect.exit(restore(effect))
        if (Exit.isSuccess(exit)) held.set(idOf(exit.value), holder)
        else yield* slots.release(holder)
        return yield* exit
      })
    )

  return { max, held: () => new Set(held.keys()), submit, release }
}
