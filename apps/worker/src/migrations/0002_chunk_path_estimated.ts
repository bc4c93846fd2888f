/**
 * A chunk's path (batch or sync) gets its own column, instead of being read back from its idempotency key, and a
 * chunk's charge says whether it is the provider's figure or our estimate from its price list.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE enrich_chunks ADD COLUMN path TEXT NOT NULL DEFAULT 'batch' CHECK (path IN ('batch', 'sync'))`
  // 0/1 in both dialects, as SQLite has no boolean type
  yield* sql`ALTER TABLE enrich_chunks ADD COLUMN charge_estimated INTEGER NOT NULL DEFAULT 0`
  // chunks recorded before this migration kept their path in the key (`<provider>-sync-<hash>-<n>`)
  yield* sql`UPDATE enrich_chunks SET path = 'sync'
             WHERE substr(idempotency_key, 1, length(provider) + 6) = provider || '-sync-'`
})
