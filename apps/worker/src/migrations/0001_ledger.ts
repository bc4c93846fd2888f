/**
 * The ledger's tables, one set for SQLite and Postgres. JSON is kept as TEXT in both (decoded with Schema on
 * read), times as epoch milliseconds. Only identity columns differ by dialect.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Insertion order for runs and chunks: Postgres needs a sequence column, SQLite already has `rowid`
  // (monotonic here since rows are never deleted), so there the column is not added.
  const seq = sql.onDialectOrElse({
    pg: () => sql.literal("seq BIGSERIAL NOT NULL,"),
    orElse: () => sql.literal("")
  })
  const autoId = sql.onDialectOrElse({
    pg: () => sql.literal("BIGSERIAL PRIMARY KEY"),
    orElse: () => sql.literal("INTEGER PRIMARY KEY AUTOINCREMENT")
  })

  yield* sql`CREATE TABLE enrich_runs (
    id TEXT PRIMARY KEY,
    ${seq}
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    input_path TEXT NOT NULL,
    options_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'finished', 'interrupted', 'failed')),
    summary_json TEXT
  )`

  yield* sql`CREATE TABLE enrich_run_rows (
    run_id TEXT NOT NULL REFERENCES enrich_runs (id) ON DELETE CASCADE,
    row_number INTEGER NOT NULL,
    person_key TEXT,
    columns_json TEXT NOT NULL,
    identifier_json TEXT,
    input_outcome TEXT NOT NULL CHECK (input_outcome IN ('ok', 'rejected', 'duplicate')),
    reason TEXT,
    duplicate_of INTEGER,
    PRIMARY KEY (run_id, row_number)
  )`
  yield* sql`CREATE INDEX enrich_run_rows_person ON enrich_run_rows (run_id, person_key)`

  // No foreign key to enrich_runs: the Journal is usable on its own (a run id is just a label there).
  yield* sql`CREATE TABLE enrich_chunks (
    idempotency_key TEXT PRIMARY KEY,
    ${seq}
    run_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    keys_json TEXT NOT NULL,
    fields_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('recorded', 'submitted', 'finished', 'failed')),
    job_json TEXT,
    result_cursor TEXT,
    reserved DOUBLE PRECISION NOT NULL,
    charged DOUBLE PRECISION,
    message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  )`
  yield* sql`CREATE INDEX enrich_chunks_run ON enrich_chunks (run_id)`

  yield* sql`CREATE TABLE enrich_outcomes (
    id ${autoId},
    provider TEXT NOT NULL,
    person_key TEXT,
    fields_json TEXT NOT NULL,
    outcome_tag TEXT NOT NULL,
    outcome_json TEXT NOT NULL,
    observed_at BIGINT,
    chunk_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`
  yield* sql`CREATE INDEX enrich_outcomes_provider_key ON enrich_outcomes (provider, person_key)`
  yield* sql`CREATE INDEX enrich_outcomes_chunk ON enrich_outcomes (chunk_key)`
})
