/**
 * A run submitted for workers (`enrich submit`) is worked in shards, ranges of its input rows, each a unit of
 * the work queue: what each shard covers, whether it is done, and what its waterfall reported.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE enrich_shards (
    run_id TEXT NOT NULL,
    shard INTEGER NOT NULL,
    after_row INTEGER NOT NULL,
    up_to_row INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'finished')),
    result_json TEXT,
    worker TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, shard)
  )`
})
