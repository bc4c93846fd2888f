import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as NodePath from "node:path"
import * as Ledger from "../src/Ledger.js"
import * as Sql from "../src/Sql.js"
import { databaseUrl, postgres } from "./utils/db.js"

const withLedger = <A, E>(
  db: Layer.Layer<SqlClient.SqlClient, Ledger.LedgerError>,
  effect: Effect.Effect<A, E, Ledger.Ledger | SqlClient.SqlClient>
) => Effect.provide(effect, Ledger.layer.pipe(Layer.provideMerge(db)))

describe("Sql", () => {
  it.scoped("opens SQLite in a new directory, in WAL mode, migrated, and keeps data across openings", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "enrich-sql-" })
      const db = NodePath.join(dir, "nested", "deeper", "ledger.db")
      const first = yield* withLedger(
        Sql.layerFromOptions({ db }),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const [mode] = yield* sql<{ readonly journal_mode: string }>`PRAGMA journal_mode`
          const [sync] = yield* sql<{ readonly synchronous: number }>`PRAGMA synchronous`
          const [checkpoint] = yield* sql<{ readonly wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`
          const migrations = yield* sql<{ readonly migration_id: number }>`SELECT migration_id FROM enrich_migrations`
          yield* (yield* Ledger.Ledger).createRun({ id: "r1", inputPath: "in.csv", options: { a: 1 } })
          return {
            mode: mode!.journal_mode,
            synchronous: sync!.synchronous,
            checkpoint: checkpoint!.wal_autocheckpoint,
            migrations: migrations.map((m) => m.migration_id)
          }
        })
      )
      assert.strictEqual(first.mode, "wal")
      // NORMAL (1): a killed process loses nothing in WAL mode; fsyncs only at checkpoints, every 10,000 pages
      assert.strictEqual(first.synchronous, 1)
      assert.strictEqual(first.checkpoint, 10000)
      assert.deepStrictEqual(first.migrations, [1])
      assert.isTrue(yield* fs.exists(db))
      // a second opening finds its migrations applied and the run still there
      const run = yield* withLedger(Sql.layerSqlite(db), Effect.flatMap(Ledger.Ledger, (ledger) => ledger.getRun("r1")))
      assert.deepStrictEqual(Option.map(run, (r) => r.options), Option.some({ a: 1 }))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("reports an unreachable Postgres without revealing the URL's password", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Layer.build(Sql.layerFromOptions({
          db: "/nonexistent/never-used.db",
          databaseUrl: Redacted.make("postgres://enrich:s3cr3t-pw@127.0.0.1:1/enrich?connect_timeout=2")
        })).pipe(Effect.scoped)
      )
      assert.strictEqual(error._tag, "LedgerError")
      assert.include(error.message, "Postgres")
      assert.notInclude(error.message, "s3cr3t-pw")
    }), 20_000)

  it.scoped("reports a SQLite file that cannot be created", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "enrich-sql-" })
      const file = NodePath.join(dir, "not-a-directory")
      yield* fs.writeFileString(file, "")
      const db = NodePath.join(file, "ledger.db")
      const error = yield* Effect.flip(Layer.build(Sql.layerSqlite(db)).pipe(Effect.scoped))
      assert.strictEqual(error._tag, "LedgerError")
      assert.include(error.message, `cannot open the ledger at ${db}`)
      assert.include(error.message, "mkdir", error.message)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  describe.skipIf(databaseUrl === undefined)(
    databaseUrl === undefined ? "on Postgres (skipped: DATABASE_URL is not set)" : "on Postgres",
    () => {
      it.effect("migrates once: a second layer on the same schema finds the tables", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ readonly migration_id: number }>`SELECT migration_id FROM enrich_migrations`
          assert.deepStrictEqual(rows.map((r) => Number(r.migration_id)), [1])
          yield* Effect.provide(Sql.migrate, Layer.succeed(SqlClient.SqlClient, sql))
          const again = yield* sql<{ readonly n: string }>`SELECT COUNT(*) AS n FROM enrich_migrations`
          assert.strictEqual(Number(again[0]!.n), 1)
        }).pipe(Effect.provide(postgres(databaseUrl ?? "postgres://unset"))))
    }
  )
})
