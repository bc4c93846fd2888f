/**
 * The budget of a run worked by several workers, in the ledger: however many reservations race, reserved +
 * spent never passes the limit, on SQLite and (with DATABASE_URL) on Postgres, where concurrent fibers use
 * several connections of the pool, as several workers would.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlBudget from "../src/SqlBudget.js"
import { databaseUrl, type Db, postgres, services, sqlite } from "./utils/db.js"

const suite = (db: Db) =>
  it.effect("racing reservations take exactly what fits; settling frees the rest and books the spend", () =>
    Effect.gen(function*() {
      yield* SqlBudget.record("r1", 100)
      // recording again keeps the counters
      const budget = yield* SqlBudget.make("r1")
      // 50 reservations of up to 3 people at 7 credits each race for 100 credits: 14 people fit, no more
      const granted = yield* Effect.forEach(
        Array.from({ length: 50 }),
        () => budget.reserveUpTo(3, 7),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(granted.reduce((n, g) => n + g, 0), 14)
      assert.isTrue(granted.every((g) => g >= 0 && g <= 3))
      assert.deepStrictEqual(yield* budget.snapshot, { limit: 100, reserved: 98, spent: 0 })
      yield* SqlBudget.record("r1", 100)
      // a chunk of 3 people reserved 21 and cost 5: 16 credits come back
      yield* budget.settle(21, 5)
      assert.deepStrictEqual(yield* budget.snapshot, { limit: 100, reserved: 77, spent: 5 })
      assert.strictEqual(yield* budget.reserveUpTo(5, 7), 2)
      // a second worker's view of the same run: the same counters, nothing adopted twice
      const other = yield* SqlBudget.make("r1")
      yield* other.adopt(77, 5)
      assert.deepStrictEqual(yield* other.snapshot, { limit: 100, reserved: 91, spent: 5 })
      assert.strictEqual(yield* other.reserveUpTo(1, 7), 0)
      // free people (cost 0) always fit
      assert.strictEqual(yield* other.reserveUpTo(4, 0), 4)
    }).pipe(Effect.provide(Layer.orDie(services(db)))))

describe("SqlBudget on SQLite", () => suite(sqlite))
describe.skipIf(databaseUrl === undefined)(
  databaseUrl === undefined ? "SqlBudget on Postgres (skipped: DATABASE_URL is not set)" : "SqlBudget on Postgres",
  () => suite(postgres(databaseUrl ?? "postgres://unset"))
)
