/**
 * Outcomes are found by one integer index on a hash of their person key (see `PersonHash`) instead of three text
 * indexes: (provider, key) and (run, key) were each as large as the table's keys, and (chunk) was never read.
 * Writing a page of results then touches one small index instead of three large ones, which was most of the
 * time a run spent committing results.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as PersonHash from "../PersonHash.js"

/** Rows hashed per statement batch while filling the new column of an existing ledger. */
const backfillPage = 1000

interface HashRow {
  readonly id: number | string
  readonly person_key: string
}

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE enrich_outcomes ADD COLUMN person_hash BIGINT`
  let after: number | string = 0
  for (;;) {
    const rows: ReadonlyArray<HashRow> = yield* sql<HashRow>`
      SELECT id, person_key FROM enrich_outcomes WHERE id > ${after} AND person_key IS NOT NULL
      ORDER BY id LIMIT ${backfillPage}`
    if (rows.length === 0) break
    for (const row of rows) {
      yield* sql`UPDATE enrich_outcomes SET person_hash = ${PersonHash.of(row.person_key)} WHERE id = ${row.id}`
    }
    after = rows[rows.length - 1]!.id
  }
  yield* sql`DROP INDEX enrich_outcomes_provider_key`
  yield* sql`DROP INDEX enrich_outcomes_chunk`
  yield* sql`DROP INDEX enrich_outcomes_run_key`
  yield* sql`CREATE INDEX enrich_outcomes_person ON enrich_outcomes (person_hash)`
})
