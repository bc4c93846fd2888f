/**
 * The ledger's database: SQLite by default (a file next to the work), Postgres when a URL is given (several
 * workers on one ledger). Either way the migrations in `migrations/` are applied before the client is handed out.
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as NodePath from "node:path"
import { LedgerError } from "./Ledger.js"
import Ledger0001 from "./migrations/0001_ledger.js"
import Ledger0002 from "./migrations/0002_chunk_path_estimated.js"
import Ledger0003 from "./migrations/0003_run_hold.js"
import Ledger0004 from "./migrations/0004_run_outcomes.js"
import Ledger0005 from "./migrations/0005_outcome_person_hash.js"
import Ledger0006 from "./migrations/0006_shards.js"
import Ledger0007 from "./migrations/0007_run_requests.js"
import Ledger0008 from "./migrations/0008_run_budget.js"
import Ledger0009 from "./migrations/0009_run_webhooks.js"

/** Where the SQLite ledger lives unless `--db` says otherwise. */
export const defaultSqliteFile = ".enrich/ledger.db"

/** Static imports, so a bundled worker (no migrations folder on disk) migrates the same way. */
export const migrations = Migrator.fromRecord({
  "0001_ledger": Ledger0001,
  "0002_chunk_path_estimated": Ledger0002,
  "0003_run_hold": Ledger0003,
  "0004_run_outcomes": Ledger0004,
  "0005_outcome_person_hash": Ledger0005,
  "0006_shards": Ledger0006,
  "0007_run_requests": Ledger0007,
  "0008_run_budget": Ledger0008,
  "0009_run_webhooks": Ledger0009
})

/**
 * Postgres error codes of a CREATE that lost a race: while another process's transaction creating the same table
 * or index is open, even `CREATE ... IF NOT EXISTS` fails (a unique violation on the catalog, or "already
 * exists"). Workers started at once on a new database met it creating the migrations' and the queue's tables.
 */
const lostCreateRaceCodes: ReadonlySet<string> = new Set(["23505", "42P07", "42710"])

const isLostCreateRace = (error: unknown): boolean =>
  Predicate.hasProperty(error, "_tag") && error._tag === "SqlError" && Predicate.hasProperty(error, "cause") &&
  Predicate.hasProperty(error.cause, "code") && lostCreateRaceCodes.has(String(error.cause.code))

/**
 * Retries what creates tables when another process was creating them at the same moment: by the next try its
 * transaction has ended, and the tables are there. Any other error is not retried.
 *
 * @since 0.1.0 @category Schedules
 */
export const retryLostCreateRace = Schedule.spaced("100 millis").pipe(
  Schedule.intersect(Schedule.recurs(10)),
  Schedule.whileInput(isLostCreateRace)
)

/** The dialect-neutral migrator: needs only a SqlClient (the dialect ones also want FileSystem for schema dumps). */
export const migrate = Migrator.make({})({ loader: migrations, table: "enrich_migrations" })

const describe = (error: { readonly message: string; readonly cause?: unknown }): string =>
  error.cause instanceof Error && error.cause.message !== "" && !error.message.includes(error.cause.message)
    ? `${error.message}: ${error.cause.message}`
    : error.message

const withMigrations = <E>(client: Layer.Layer<SqlClient.SqlClient, E>, where: string) =>
  Layer.effectDiscard(Effect.retry(migrate, retryLostCreateRace)).pipe(
    Layer.provideMerge(client),
    Layer.mapError((error) =>
      new LedgerError({
        message: `cannot open the ledger ${where}: ${
          typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
            ? describe(error as { message: string; cause?: unknown })
            : String(error)
        }`
      })
    )
  )

/**
 * A SQLite ledger in `filename` (its directory is created), in WAL mode so readers (`enrich status`) do not
 * block the running worker.
 *
 * @since 0.1.0 @category Layers
 */
export const layerSqlite = (filename: string): Layer.Layer<SqlClient.SqlClient, LedgerError> => {
  const makeParent = filename === ":memory:" ? Effect.void : Effect.flatMap(
    FileSystem.FileSystem,
    (fs) => fs.makeDirectory(NodePath.dirname(NodePath.resolve(filename)), { recursive: true })
  )
  const client = SqliteClient.layer({ filename, disableWAL: false }).pipe(
    // In WAL mode NORMAL still survives a killed process (the guarantee the worker makes); only a power loss
    // may drop the last commits, and a lost "submitted" mark makes its chunk ambiguous, never paid twice. FULL
    // would fsync every page commit on the event loop's thread.
    Layer.tap((context) => Effect.orDie(Context.get(context, SqlClient.SqlClient)`PRAGMA synchronous = NORMAL`)),
    // In that mode the fsyncs come with checkpoints, by default every 1000 WAL pages (4 MB). Outcome rows land
    // all over the person-key index, so each page of results dirties ~100 index pages and a checkpoint came
    // every ~10 pages: 1M outcome rows took 32 s in bare SQLite on this project's CI disk, 22 s with a
    // checkpoint every 10,000 pages (a WAL of up to ~40 MB), 14 s with no fsync at all.
    Layer.tap((context) => Effect.orDie(Context.get(context, SqlClient.SqlClient)`PRAGMA wal_autocheckpoint = 10000`)),
    Layer.provide(Layer.effectDiscard(makeParent).pipe(Layer.provide(NodeFileSystem.layer)))
  )
  return withMigrations(client, `at ${filename}`)
}

/**
 * A Postgres ledger. The URL stays redacted: errors name no host or credentials.
 *
 * @since 0.1.0 @category Layers
 */
export const layerPg = (url: Redacted.Redacted): Layer.Layer<SqlClient.SqlClient, LedgerError> =>
  withMigrations(PgClient.layer({ url }), "on Postgres")

/**
 * Where a ledger is: a SQLite file or a Postgres URL (`Runner.locate` resolves a command's flags and environment
 * to one).
 *
 * @since 0.1.0 @category Models
 */
export type Location =
  | { readonly _tag: "Sqlite"; readonly file: string }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted }

/**
 * The SQL client of a ledger location, migrated.
 *
 * @since 0.1.0 @category Layers
 */
export const layerAt = (location: Location): Layer.Layer<SqlClient.SqlClient, LedgerError> =>
  location._tag === "Postgres" ? layerPg(location.url) : layerSqlite(location.file)
