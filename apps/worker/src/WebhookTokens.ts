/**
 * The webhook of a run submitted for workers, in the ledger: `enrich submit` gives every run a random token, and
 * with `--public-url` the base URL the workers are reached at; workers then have Crustdata call back
 * `<public-url>/webhooks/crustdata/<token>`. The token is the only thing that tells a real callback from a
 * forged one: it is never logged nor shown (`redacted` says where a URL is meant for people).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as NodeCrypto from "node:crypto"
import { asLedgerError, type LedgerError } from "./Ledger.js"

/** Where the callbacks are served, under the public base URL. */
export const pathPrefix = "/webhooks/crustdata/"

/** 32 random bytes, URL-safe: as hard to guess as a key. */
export const newToken = (): string => NodeCrypto.randomBytes(32).toString("base64url")

/** The URL Crustdata is given for a run. */
export const url = (publicUrl: string, token: string): string =>
  `${publicUrl.replace(/\/+$/, "")}${pathPrefix}${encodeURIComponent(token)}`

/** The same URL for people to read: the token left out. */
export const redacted = (publicUrl: string): string => `${publicUrl.replace(/\/+$/, "")}${pathPrefix}…`

/** @since 0.1.0 @category Models */
export interface RunWebhook {
  readonly token: string
  /** absent: no webhook is sent for this run (polling only) */
  readonly publicUrl: string | undefined
}

const toLedgerError = (operation: string) => <A, R>(effect: Effect.Effect<A, SqlError, R>) =>
  Effect.mapError(effect, asLedgerError(`WebhookTokens.${operation}`))

/** Records a run's token and public URL (recorded before the run itself, so that no run is ever without one). */
export const record = (
  runId: string,
  webhook: RunWebhook
): Effect.Effect<void, LedgerError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO enrich_run_webhooks ${
      sql.insert({ run_id: runId, token: webhook.token, public_url: webhook.publicUrl ?? null })
    }`
  }).pipe(toLedgerError("record"))

/** A run's webhook; none for a run recorded before webhooks were (or by `enrich run`). */
export const ofRun = (runId: string): Effect.Effect<Option.Option<RunWebhook>, LedgerError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly token: string; readonly public_url: string | null }>`
      SELECT token, public_url FROM enrich_run_webhooks WHERE run_id = ${runId}`
    return Option.map(Option.fromNullable(row), (r): RunWebhook => ({
      token: r.token,
      publicUrl: r.public_url ?? undefined
    }))
  }).pipe(toLedgerError("ofRun"))

/** The run a token belongs to, if any. */
export const runOf = (token: string): Effect.Effect<Option.Option<string>, LedgerError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly run_id: string }>`
      SELECT run_id FROM enrich_run_webhooks WHERE token = ${token}`
    return Option.map(Option.fromNullable(row), (r) => r.run_id)
  }).pipe(toLedgerError("runOf"))
