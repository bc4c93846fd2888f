import * as Reactivity from "@effect/experimental/Reactivity"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { type Identifier, Journal } from "@enrich/core"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as NodePath from "node:path"
import * as Ledger from "../src/Ledger.js"
import Ledger0001 from "../src/migrations/0001_ledger.js"
import Ledger0002 from "../src/migrations/0002_chunk_path_estimated.js"
import Ledger0003 from "../src/migrations/0003_run_hold.js"
import Ledger0004 from "../src/migrations/0004_run_outcomes.js"
import * as PersonHash from "../src/PersonHash.js"
import * as Sql from "../src/Sql.js"
import * as SqlJournal from "../src/SqlJournal.js"
import { databaseUrl, freshSchema, postgres } from "./utils/db.js"
import { rejectedRow } from "./utils/suites.js"

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
        Sql.layerAt({ _tag: "Sqlite", file: db }),
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
      assert.deepStrictEqual(first.migrations, [1, 2, 3, 4, 5, 6, 7, 8, 9])
      assert.isTrue(yield* fs.exists(db))
      // a second opening finds its migrations applied and the run still there
      const run = yield* withLedger(Sql.layerSqlite(db), Effect.flatMap(Ledger.Ledger, (ledger) => ledger.getRun("r1")))
      assert.deepStrictEqual(Option.map(run, (r) => r.options), Option.some({ a: 1 }))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("migration 0002 reads the path of chunks recorded before it from their keys", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "enrich-sql-" })
      const client = SqliteClient.layer({ filename: NodePath.join(dir, "ledger.db") })
      const chunk = (key: string, provider: string) => ({
        idempotency_key: key,
        run_id: "r",
        provider,
        keys_json: "[]",
        fields_json: `["work_email"]`,
        state: "recorded",
        reserved: 0,
        created_at: 0,
        updated_at: 0
      })
      const paths = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // a ledger as the version before 0002 left it
        yield* Migrator.make({})({
          loader: Migrator.fromRecord({ "0001_ledger": Ledger0001 }),
          table: "enrich_migrations"
        })
        yield* sql`INSERT INTO enrich_chunks ${
          sql.insert([
            chunk("thehog-sync-0123456789abcdef-1", "thehog"),
            chunk("thehog-0123456789abcdef-40", "thehog"),
            chunk("fiber-0123456789abcdef-1", "fiber")
          ])
        }`
        yield* Sql.migrate
        return yield* sql<{ readonly idempotency_key: string; readonly path: string }>`
          SELECT idempotency_key, path FROM enrich_chunks ORDER BY idempotency_key`
      }).pipe(Effect.provide(client))
      assert.deepStrictEqual(paths.map((row) => [row.idempotency_key, row.path]), [
        ["fiber-0123456789abcdef-1", "batch"],
        ["thehog-0123456789abcdef-40", "batch"],
        ["thehog-sync-0123456789abcdef-1", "sync"]
      ])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("migration 0005 hashes the outcomes recorded before it; a lookup by hash still compares the key", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "enrich-sql-" })
      const client = SqliteClient.layer({ filename: NodePath.join(dir, "ledger.db") })
      const alice = "linkedin:alice" as Identifier.PersonKey
      const bob = "linkedin:bob" as Identifier.PersonKey
      const outcome = (key: string) => ({
        provider: "fiber",
        person_key: key,
        fields_json: `["work_email"]`,
        outcome_tag: "NotFound",
        outcome_json: JSON.stringify({
          _tag: "NotFound",
          key,
          provenance: {
            provider: "fiber",
            endpoint: "batch",
            mode: "batch",
            observedAt: "2026-11-30T00:00:00.000Z",
            cost: 0,
            estimated: false
          }
        }),
        observed_at: Date.parse("2026-11-30T00:00:00.000Z"),
        chunk_key: "c1",
        run_id: "r1",
        created_at: 0
      })
      const found = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // a ledger as the version before 0005 left it, with outcomes in it
        yield* Migrator.make({})({
          loader: Migrator.fromRecord({
            "0001_ledger": Ledger0001,
            "0002_chunk_path_estimated": Ledger0002,
            "0003_run_hold": Ledger0003,
            "0004_run_outcomes": Ledger0004
          }),
          table: "enrich_migrations"
        })
        yield* sql`INSERT INTO enrich_outcomes ${sql.insert([outcome(alice), outcome(bob)])}`
        yield* Sql.migrate
        const hashes = yield* sql<{ readonly person_key: string; readonly person_hash: number }>`
          SELECT person_key, person_hash FROM enrich_outcomes ORDER BY person_key`
        // a row whose hash collides with alice's: found by her hash, but not hers
        yield* sql`INSERT INTO enrich_outcomes ${
          sql.insert({ ...outcome("linkedin:carol"), person_hash: PersonHash.of(alice) })
        }`
        const journal = yield* SqlJournal.make
        const ofRun = yield* journal.outcomesOfRun("r1", [alice, bob])
        const cached = yield* journal.outcomesFor("fiber", [alice], ["work_email"], Duration.infinity)
        return { hashes, ofRun, cached }
      }).pipe(Effect.provide(client))
      assert.deepStrictEqual(found.hashes.map((row) => [row.person_key, row.person_hash]), [
        [alice, PersonHash.of(alice)],
        [bob, PersonHash.of(bob)]
      ])
      assert.deepStrictEqual([...found.ofRun.keys()].sort(), [alice, bob])
      assert.deepStrictEqual(found.ofRun.get(alice)?.map((entry) => entry.outcome.key), [alice])
      assert.deepStrictEqual([...found.cached.keys()], [alice])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("a full disk is said plainly, with what to do", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "enrich-sql-" })
      const error = yield* withLedger(
        Sql.layerSqlite(NodePath.join(dir, "ledger.db")),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          // SQLite's own "disk": no more pages than it has now, so the next write finds it full
          const [pages] = yield* sql<{ readonly page_count: number }>`PRAGMA page_count`
          yield* sql.unsafe(`PRAGMA max_page_count = ${pages!.page_count}`)
          const rows = Stream.fromIterable(Array.from({ length: 2000 }, (_, i) => rejectedRow(i + 1, "x".repeat(200))))
          return yield* Effect.flip(
            (yield* Ledger.Ledger).createRun({ id: "r1", inputPath: "in.csv", options: {}, rows })
          )
        })
      )
      assert.strictEqual(error._tag, "LedgerError")
      assert.include(error.message, "the disk holding the ledger is full")
      assert.include(error.message, "enrich resume")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("reports an unreachable Postgres without revealing the URL's password", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Layer.build(Sql.layerAt({
          _tag: "Postgres",
          url: Redacted.make("postgres://enrich:s3cr3t-pw@127.0.0.1:1/enrich?connect_timeout=2")
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
          assert.deepStrictEqual(rows.map((r) => Number(r.migration_id)), [1, 2, 3, 4, 5, 6, 7, 8, 9])
          yield* Effect.provide(Sql.migrate, Layer.succeed(SqlClient.SqlClient, sql))
          const again = yield* sql<{ readonly n: string }>`SELECT COUNT(*) AS n FROM enrich_migrations`
          assert.strictEqual(Number(again[0]!.n), 9)
        }).pipe(Effect.provide(postgres(databaseUrl ?? "postgres://unset"))))

      it.scopedLive(
        "workers started at once on a new database all open it (one migrates, the others wait)",
        () =>
          Effect.gen(function*() {
            // N processes creating the same tables at once: Postgres answers all but one with a unique violation
            // on its catalog (pg_type) even for CREATE TABLE IF NOT EXISTS; a worker failed to start that way.
            // (Live clock: the retry waits 100 ms between tries.)
            const url = yield* freshSchema(databaseUrl!, "opening")
            const opened = yield* Effect.forEach(
              Array.from({ length: 6 }, (_, i) => i),
              () =>
                Effect.scoped(Effect.flatMap(
                  Layer.build(Sql.layerPg(Redacted.make(url))),
                  (context) =>
                    Context.get(context, SqlClient.SqlClient)<{ readonly n: string }>`
                    SELECT COUNT(*) AS n FROM enrich_migrations`
                )).pipe(Effect.either),
              { concurrency: "unbounded" }
            )
            for (const result of opened) {
              assert.isTrue(Either.isRight(result), Either.isLeft(result) ? result.left.message : "")
              if (Either.isRight(result)) assert.strictEqual(Number(result.right[0]!.n), 9)
            }
          }).pipe(Effect.provide(Reactivity.layer)),
        60_000
      )

      it.scoped(
        "recorders waiting for another process's lock hold no pooled connection: other queries go on",
        () =>
          Effect.gen(function*() {
            // a provider name of this test only: other test files recording in parallel on this database take
            // their providers' locks, never this one
            const provider = `fiber-lock-test-${process.pid}`
            const lock = `enrich:${provider}`
            // another process recording at that provider holds its advisory lock until `release`
            const other = yield* PgClient.make({ url: Redacted.make(databaseUrl!) })
            const locked = yield* Deferred.make<void>()
            const release = yield* Deferred.make<void>()
            yield* other.withTransaction(Effect.gen(function*() {
              yield* other`SELECT pg_advisory_xact_lock(hashtext(${lock}))`
              yield* Deferred.succeed(locked, undefined)
              yield* Deferred.await(release)
            })).pipe(Effect.forkScoped)
            yield* Deferred.await(locked)
            // sessions waiting for that lock (a bigint key: its low half is the objid)
            const waiting = other<{ readonly n: string }>`SELECT COUNT(*) AS n FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
              AND objid = (hashtext(${lock})::bigint & 4294967295)::oid`.pipe(Effect.map((rows) => Number(rows[0]!.n)))

            const journal = yield* SqlJournal.make
            // more recorders than the pool has connections (10), as a worker's shards have
            const recorders = 12
            const recording = yield* Effect.forEach(
              Array.from({ length: recorders }, (_, i) => i),
              (i) =>
                journal.recordChunkUnlessHeld(
                  {
                    runId: "run-1",
                    provider,
                    idempotencyKey: `chunk-${i}`,
                    path: "batch",
                    keys: [`linkedin:in/person-${i}` as Identifier.PersonKey],
                    fields: ["work_email"],
                    reserved: 0
                  },
                  0,
                  "1 day"
                ),
              { concurrency: "unbounded" }
            ).pipe(Effect.fork)
            yield* waiting.pipe(Effect.repeat({ until: (n) => n > 0, schedule: Schedule.spaced("20 millis") }))
            // one recorder per provider waits at the lock; the rest wait in this process, holding no connection
            assert.strictEqual(yield* waiting, 1)
            const meanwhile = yield* journal.openChunks("run-1").pipe(Effect.timeout("20 seconds"))
            assert.strictEqual(meanwhile.length, 0)
            yield* Deferred.succeed(release, undefined)
            const recorded = yield* Fiber.join(recording)
            assert.strictEqual(recorded.filter((r) => r instanceof Journal.ChunkRecord).length, recorders)
            assert.strictEqual((yield* journal.openChunks("run-1")).length, recorders)
          }).pipe(
            Effect.provide(
              Layer.unwrapScoped(Effect.map(
                freshSchema(databaseUrl ?? "postgres://unset", "recorders"),
                (url) => Sql.layerPg(Redacted.make(url))
              )).pipe(Layer.orDie)
            ),
            Effect.provide(Reactivity.layer)
          ),
        60_000
      )
    }
  )
})
