/**
 * A run's credit budget in the ledger, for a run worked by several workers at once: each reservation is one
 * atomic UPDATE against the run's row, so however many workers reserve at the same time, reserved + spent never
 * passes the limit. Counters live as long as the run: a worker that takes a shard over does not adopt what the
 * shard's chunks reserved or spent (it is counted already). A worker killed between a reservation and recording
 * its chunk leaves that reservation counted: the budget errs on the side of spending less, never more.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Budget } from "@enrich/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { asLedgerError, type LedgerError } from "./Ledger.js"

const toLedgerError = (operation: string) => asLedgerError(`SqlBudget.${operation}`)

/**
 * Records the budget of run `runId` (again: keeps the counters of a budget recorded before).
 *
 * @since 0.1.0 @category Constructors
 */
export const record = (runId: string, limit: number): Effect.Effect<void, LedgerError, SqlClient.SqlClient> =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`INSERT INTO enrich_run_budget (run_id, budget_limit, reserved, spent, last_grant)
        VALUES (${runId}, ${limit}, 0, 0, 0) ON CONFLICT (run_id) DO NOTHING`
  ).pipe(
    Effect.asVoid,
    Effect.mapError(toLedgerError("record"))
  )

/**
 * The budget of run `runId` as the core `Budget` service. Its failures (the ledger unreachable) are defects:
 * the core service cannot fail, and a worker that cannot reserve must not send.
 *
 * @since 0.1.0 @category Constructors
 */
export const make = (runId: string): Effect.Effect<Budget.BudgetService, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // parameters typed for Postgres, which cannot infer them inside LEAST/GREATEST and arithmetic
    const real = (x: number) => sql`CAST(${x} AS DOUBLE PRECISION)`
    const orDie = <A>(operation: string, effect: Effect.Effect<A, SqlError>) =>
      Effect.orDieWith(effect, toLedgerError(operation))
    const snapshot = orDie(
      "snapshot",
      sql<{ readonly budget_limit: unknown; readonly reserved: unknown; readonly spent: unknown }>`
        SELECT budget_limit, reserved, spent FROM enrich_run_budget WHERE run_id = ${runId}`
    ).pipe(Effect.map(([row]): Budget.BudgetSnapshot =>
      row === undefined
        ? { limit: undefined, reserved: 0, spent: 0 }
        : { limit: Number(row.budget_limit), reserved: Number(row.reserved), spent: Number(row.spent) }
    ))
    return {
      reserveUpTo: (units, unitCost) => {
        if (unitCost <= 0 || units <= 0) return Effect.succeed(Math.max(0, units))
        // whole units that fit in what is left, at most `units`; every right-hand side reads the row as it was
        const free = sql`(budget_limit - reserved - spent) / ${real(unitCost)}`
        const whole = sql.onDialectOrElse({
          pg: () => sql`FLOOR(${free})`,
          orElse: () => sql`CAST(${free} AS INTEGER)`
        })
        const fits = sql.onDialectOrElse({
          pg: () => sql`GREATEST(0, LEAST(${real(units)}, ${whole}))`,
          orElse: () => sql`MAX(0, MIN(${real(units)}, ${whole}))`
        })
        return orDie(
          "reserveUpTo",
          sql<{ readonly last_grant: unknown }>`UPDATE enrich_run_budget
            SET last_grant = ${fits}, reserved = reserved + ${real(unitCost)} * ${fits}
            WHERE run_id = ${runId} RETURNING last_grant`
        ).pipe(Effect.map(([row]) => Number(row?.last_grant ?? 0)))
      },
      // what the run's chunks reserved and spent is in the row already, whoever worked them
      adopt: () => Effect.void,
      settle: (reserved, spent) =>
        orDie(
          "settle",
          sql`UPDATE enrich_run_budget SET reserved = ${
            sql.onDialectOrElse({
              pg: () => sql`GREATEST(0, reserved - ${real(reserved)})`,
              orElse: () => sql`MAX(0, reserved - ${real(reserved)})`
            })
          }, spent = spent + ${real(spent)} WHERE run_id = ${runId}`
        ).pipe(Effect.asVoid),
      snapshot
    }
  })

/** @since 0.1.0 @category Layers */
export const layer = (runId: string): Layer.Layer<Budget.Budget, never, SqlClient.SqlClient> =>
  Layer.effect(Budget.Budget, make(runId))
