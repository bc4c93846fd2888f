/**
 * What each process that worked on a run counted of its HTTP calls per provider (requests, 429s, retries), added
 * up across the attempts of a run (a run and its resumes), for `enrich status`: the rest of a run's figures are
 * read from its chunks and outcomes.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE enrich_run_requests (
    run_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    requests BIGINT NOT NULL,
    rate_limited BIGINT NOT NULL,
    retries BIGINT NOT NULL,
    PRIMARY KEY (run_id, provider)
  )`
})
