/**
 * A run is worked on by one process at a time: the holder and until when its lease runs (epoch ms). A holder
 * renews the lease while it works; a process that dies stops renewing, and the lease lapses.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE enrich_runs ADD COLUMN holder TEXT`
  yield* sql`ALTER TABLE enrich_runs ADD COLUMN held_until BIGINT`
})
