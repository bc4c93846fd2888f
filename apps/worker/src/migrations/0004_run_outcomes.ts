/**
 * What a streamed run reads back instead of holding in memory: each outcome names its run (the outcomes its
 * chunks committed and those reused from earlier runs), so that a person's answers are one index lookup; and the
 * people a run set aside at a provider (budget reached, provider stopped, chunk stalled), for its output.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE enrich_outcomes ADD COLUMN run_id TEXT`
  yield* sql`UPDATE enrich_outcomes SET run_id =
    (SELECT c.run_id FROM enrich_chunks c WHERE c.idempotency_key = enrich_outcomes.chunk_key)`
  yield* sql`CREATE INDEX enrich_outcomes_run_key ON enrich_outcomes (run_id, person_key)`
  yield* sql`CREATE TABLE enrich_set_aside (
    run_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    person_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('budget', 'failed')),
    reason TEXT NOT NULL,
    chunk_key TEXT,
    PRIMARY KEY (run_id, person_key, provider)
  )`
})
