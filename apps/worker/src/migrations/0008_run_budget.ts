/**
 * The credit budget of a run worked by several workers: one row per run, reserved and spent counted in the
 * ledger so that every worker reserves against the same figures (see `SqlBudget`).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE enrich_run_budget (
    run_id TEXT PRIMARY KEY,
    budget_limit DOUBLE PRECISION NOT NULL,
    reserved DOUBLE PRECISION NOT NULL,
    spent DOUBLE PRECISION NOT NULL,
    last_grant DOUBLE PRECISION NOT NULL DEFAULT 0
  )`
})
