/**
 * "This Crustdata job is done, check it now", from the worker that received the webhook to whichever worker waits
 * for the job. Each worker registers the Crustdata client of every run it works on; a wake-up names the run and
 * the job. On Postgres it goes through `NOTIFY` on one channel that every worker `LISTEN`s to (the receiver
 * included); on SQLite (one process) it goes straight to this process's clients.
 *
 * A wake-up only ends a wait early: the client fetches the job's status again, and polling goes on regardless,
 * so a lost notification (a dropped LISTEN connection, a worker that started listening late) costs time, never
 * results.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { CrustdataClient } from "@enrich/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { LedgerError } from "./Ledger.js"

/** The Postgres channel (database-wide, whatever the schema: the payload names the run). */
export const channel = "enrich_crustdata_jobs"

const Payload = Schema.parseJson(Schema.Struct({ runId: Schema.String, batchId: Schema.String }))
const encodePayload = Schema.encodeSync(Payload)
const decodePayload = Schema.decodeUnknownOption(Payload)

/** @since 0.1.0 @category Models */
export interface JobWakeups {
  /** the Crustdata client in `registry` (if it has one) is woken for `runId`'s jobs while `scope` is open */
  readonly register: (runId: string, registry: Context.Context<never>) => Effect.Effect<void, never, Scope.Scope>
  /** tells every worker (this one included) that `batchId` of `runId` may be done */
  readonly publish: (runId: string, batchId: string) => Effect.Effect<void, LedgerError>
  /** how this process hears of wake-ups, for its messages */
  readonly via: "postgres" | "local"
}

/**
 * The wake-ups of this process: on Postgres (when a `PgClient` is in the context) a LISTEN fiber that lives with
 * the scope, started before this returns.
 */
export const make: Effect.Effect<JobWakeups, never, Scope.Scope> = Effect.gen(function*() {
  const clients = new Map<string, Set<CrustdataClient.CrustdataClient.Service>>()

  const wakeLocal = (runId: string, batchId: string) =>
    Effect.forEach(clients.get(runId) ?? [], (client) => client.notifyCompleted(batchId), { discard: true })

  const register = (runId: string, registry: Context.Context<never>) =>
    Option.match(Context.getOption(registry, CrustdataClient.CrustdataClient), {
      onNone: () => Effect.void,
      onSome: (client) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            const set = clients.get(runId) ?? new Set()
            set.add(client)
            clients.set(runId, set)
          }),
          () =>
            Effect.sync(() => {
              const set = clients.get(runId)
              set?.delete(client)
              if (set?.size === 0) clients.delete(runId)
            })
        )
    })

  const pg = yield* Effect.serviceOption(PgClient.PgClient)
  if (Option.isNone(pg)) {
    return { register, publish: wakeLocal, via: "local" } satisfies JobWakeups
  }
  const sql = pg.value
  const notify = (runId: string, batchId: string) =>
    // pg_notify rather than NOTIFY: NOTIFY takes no bound parameters
    sql`SELECT pg_notify(${channel}, ${encodePayload({ runId, batchId })})`.pipe(
      Effect.asVoid,
      Effect.mapError((error) => new LedgerError({ message: `cannot notify the other workers: ${error.message}` }))
    )
  // a probe of our own (no run has an empty id) tells when the LISTEN is in place
  const probe = `probe-${process.pid}-${Date.now()}`
  const listening = yield* Effect.makeLatch(false)
  // Listened to again if the stream ends in error; notifications sent meanwhile are lost (polling covers them).
  yield* sql.listen(channel).pipe(
    Stream.runForEach((raw) =>
      Option.match(decodePayload(raw), {
        onNone: () => Effect.void,
        onSome: (payload) =>
          payload.runId === "" ?
            (payload.batchId === probe ? listening.open : Effect.void) :
            wakeLocal(payload.runId, payload.batchId)
      })
    ),
    Effect.retry(Schedule.spaced(Duration.seconds(1))),
    Effect.forkScoped
  )
  // wait (a little) until wake-ups published from now on reach this process
  yield* Effect.raceFirst(
    listening.await,
    Effect.zipRight(Effect.ignore(notify("", probe)), Effect.sleep(Duration.millis(100))).pipe(Effect.forever)
  ).pipe(Effect.timeout(Duration.seconds(10)), Effect.ignore)
  return {
    register,
    publish: notify,
    via: "postgres"
  } satisfies JobWakeups
})
