/**
 * The webhook of a run submitted for workers: a random token per run (the secret part of the URL Crustdata calls
 * back; kept as is, since workers build the URL from it) and the public base URL the workers are reached at,
 * absent when no webhook is to be sent.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE enrich_run_webhooks (
    run_id TEXT PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    public_url TEXT
  )`
})
