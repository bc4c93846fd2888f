/**
 * The worker's ledger on SQL (SQLite or Postgres, tables from `migrations/`): runs and their input rows, each
 * written once with its verdict and read back page by page. The core `Journal` lives on the same tables
 * (`SqlJournal`), so that a killed run can be resumed and outcomes already bought are reused.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { ContactProvider, Identifier, Journal, type Waterfall } from "@enrich/core"
import * as Arr from "effect/Array"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { ParseError } from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { InputRow } from "./Input.js"

/** @since 0.1.0 @category Errors */
export class LedgerError extends Schema.TaggedError<LedgerError>()("LedgerError", {
  message: Schema.String
}) {}

/** @since 0.1.0 @category Models */
export const RunState = Schema.Literal("running", "finished", "interrupted", "failed")
/** @since 0.1.0 @category Models */
export type RunState = typeof RunState.Type

/** @since 0.1.0 @category Models */
export class Run extends Schema.Class<Run>("Run")({
  id: Schema.String,
  createdAt: Schema.DateTimeUtc,
  updatedAt: Schema.DateTimeUtc,
  inputPath: Schema.String,
  /** the run's options as the runner stored them (any JSON value); the runner decodes its own shape */
  options: Schema.Unknown,
  state: RunState,
  summary: Schema.optional(Schema.Unknown)
}) {}

/** What became of an input row before any provider saw it. */
export const InputOutcome = Schema.Literal("ok", "rejected", "duplicate")
/** @since 0.1.0 @category Models */
export type InputOutcome = typeof InputOutcome.Type

/**
 * One input row of a run. Plain objects of this shape are accepted by `addRows`; `identifier` must be a value
 * from `Identifier.parse` (a class instance) so that it encodes.
 *
 * @since 0.1.0 @category Models
 */
export class RunRow extends Schema.Class<RunRow>("RunRow")({
  /** the row's number in the input (the runner's choice; `Input` gives the 1-based file line) */
  rowNumber: Schema.Number,
  key: Schema.optional(Identifier.PersonKey),
  columns: Schema.Record({ key: Schema.String, value: Schema.String }),
  identifier: Schema.optional(Identifier.Identifier),
  outcome: InputOutcome,
  reason: Schema.optional(Schema.String),
  /** for duplicates: the row number of the first row naming the same person */
  duplicateOf: Schema.optional(Schema.Number)
}) {}

/** How a run's input rows were judged, from the ledger (so a resume says the same as the run did). */
export interface RowCounts {
  readonly rows: number
  /** distinct valid people (the first row of each) */
  readonly people: number
  readonly rejected: number
  readonly duplicates: number
  /** the first rejected rows, so the reasons are seen without opening the output */
  readonly rejectedLines: ReadonlyArray<{ readonly line: number; readonly reason: string }>
}

/** Row numbers in (after, upTo]. */
export interface RowRange {
  readonly after: number
  readonly upTo: number
}

/** @since 0.1.0 @category Models */
export interface LedgerService {
  /**
   * The run with all its input rows, in one transaction: a run never exists without its rows (a kill while a
   * large input is being written leaves nothing, not an empty run that `resume` would call finished). Fails if
   * a run with this id exists.
   */
  readonly createRun: <E = never>(run: {
    readonly id: string
    readonly inputPath: string
    readonly options: unknown
    /**
     * read as they come, in batches: each row is written once with its verdict (valid, rejected with its reason,
     * or duplicate of the first row naming the same person, found with the ledger's index, not in memory)
     */
    readonly rows?: Stream.Stream<InputRow, E>
  }) => Effect.Effect<Run, LedgerError | E>
  readonly getRun: (id: string) => Effect.Effect<Option.Option<Run>, LedgerError>
  /** the most recently created run */
  readonly latestRun: () => Effect.Effect<Option.Option<Run>, LedgerError>
  /** newest first */
  readonly listRuns: (limit: number) => Effect.Effect<ReadonlyArray<Run>, LedgerError>
  /** the summary is kept as it was when not given */
  readonly setRunState: (id: string, state: RunState, summary?: unknown) => Effect.Effect<void, LedgerError>
  /**
   * A running run becomes finished with its summary; false when it is not running any more (of two workers that
   * finish its last two shards at once and both count none left, one writes the summary and says so).
   */
  readonly finishRunning: (id: string, summary: unknown) => Effect.Effect<boolean, LedgerError>
  /**
   * Takes or renews the hold on a run for `leaseMillis` from now: granted when nobody holds it, `holder` already
   * does, its lease has lapsed, or `takeOverFrom` names the current holder (known dead). Otherwise the current
   * holder, and nothing changes. Atomic: of two processes asking at once, one gets it.
   */
  readonly holdRun: (
    id: string,
    holder: string,
    leaseMillis: number,
    takeOverFrom?: string
  ) => Effect.Effect<Option.Option<RunHolder>, LedgerError>
  /** gives the hold up, if `holder` has it */
  readonly releaseRun: (id: string, holder: string) => Effect.Effect<void, LedgerError>
  readonly rowCounts: (runId: string) => Effect.Effect<RowCounts, LedgerError>
  /** up to `limit` rows after row number `after`, by row number */
  readonly rowsPage: (runId: string, after: number, limit: number) => Effect.Effect<ReadonlyArray<RunRow>, LedgerError>
  /**
   * the run's valid people (the first row of each), page by page in input order: nothing is held. With `rows`,
   * only those whose row number is in (after, upTo]: a shard of the run, worked on its own
   */
  readonly peopleOfRun: (runId: string, rows?: RowRange) => Effect.Effect<Waterfall.People, LedgerError>
}

/** Rows read from the ledger at once when a run's rows or people are streamed. */
export const pageSize = 1000

/** Rejected rows named in a run's counts. */
const shownRejections = 5

/** Every row of a run by row number, read a page at a time. */
export const rowsOfRun = (ledger: LedgerService, runId: string): Stream.Stream<RunRow, LedgerError> =>
  Stream.paginateChunkEffect(0, (after) =>
    Effect.map(ledger.rowsPage(runId, after, pageSize), (rows) => [
      Chunk.unsafeFromArray(rows as Array<RunRow>),
      rows.length < pageSize ? Option.none() : Option.some(rows[rows.length - 1]!.rowNumber)
    ]))

/** Who holds a run, and until when (epoch ms) unless it renews its lease. */
export interface RunHolder {
  readonly holder: string
  readonly until: number
}

/** @since 0.1.0 @category Context */
export class Ledger extends Context.Tag("@enrich/worker/Ledger")<Ledger, LedgerService>() {}

// ---------------------------------------------------------------------------------------------------------------
// Row codecs (rows are decoded with Schema, so the records built from them skip a second validation)

// Postgres returns BIGINT as a string, SQLite as a number.
export const Num = Schema.Union(Schema.Number, Schema.NumberFromString)
const AnyJson = Schema.parseJson()
const IdentifierJson = Schema.parseJson(Identifier.Identifier)
const ColumnsJson = Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.String }))

const RunRecord = Schema.Struct({
  id: Schema.String,
  created_at: Num,
  updated_at: Num,
  input_path: Schema.String,
  options_json: AnyJson,
  state: RunState,
  summary_json: Schema.NullOr(AnyJson)
})

const toRun = (row: typeof RunRecord.Type): Run =>
  new Run({
    id: row.id,
    createdAt: DateTime.unsafeMake(row.created_at),
    updatedAt: DateTime.unsafeMake(row.updated_at),
    inputPath: row.input_path,
    options: row.options_json,
    state: row.state,
    ...(row.summary_json === null ? {} : { summary: row.summary_json })
  }, true)

const RowRecord = Schema.Struct({
  row_number: Num,
  person_key: Schema.NullOr(Identifier.PersonKey),
  columns_json: ColumnsJson,
  identifier_json: Schema.NullOr(IdentifierJson),
  input_outcome: InputOutcome,
  reason: Schema.NullOr(Schema.String),
  duplicate_of: Schema.NullOr(Num)
})

const toRunRow = (row: typeof RowRecord.Type): RunRow =>
  new RunRow({
    rowNumber: row.row_number,
    columns: row.columns_json,
    outcome: row.input_outcome,
    ...(row.person_key === null ? {} : { key: row.person_key }),
    ...(row.identifier_json === null ? {} : { identifier: row.identifier_json }),
    ...(row.reason === null ? {} : { reason: row.reason }),
    ...(row.duplicate_of === null ? {} : { duplicateOf: row.duplicate_of })
  }, true)

// Rows per multi-row INSERT: well under SQLite's and Postgres' bound-parameter limits.
export const insertBatch = 200
// Keys per `IN (...)` lookup, for the same reason.
export const lookupBatch = 500

const describeCause = (cause: unknown): string =>
  cause instanceof Error && cause.message !== "" ? `: ${cause.message}` : ""

/** SQLite's SQLITE_FULL, Postgres' "could not extend file" / "No space left on device", Node's ENOSPC. */
const diskFull = /database or disk is full|SQLITE_FULL|no space left on device|ENOSPC|could not extend file|disk full/i

/** A readable message for a SQL or decoding failure (never contains parameters, so no secrets or contacts). */
export const describeError = (error: SqlError | ParseError): string => {
  if (error._tag === "ParseError") return `stored data could not be decoded: ${error.message}`
  const cause = describeCause(error.cause)
  // Said plainly, with what to do: nothing written so far is lost (each page is one transaction).
  return diskFull.test(cause) || diskFull.test(error.message)
    ? `the disk holding the ledger is full${cause}; free some space, then \`enrich resume\` continues the run ` +
      `without paying again for what is already in the ledger`
    : `${error.message}${cause}`
}

const isStorageError = (error: unknown): error is SqlError | ParseError =>
  typeof error === "object" && error !== null && "_tag" in error &&
  (error._tag === "SqlError" || error._tag === "ParseError")

/** A SQL or decoding failure as a `LedgerError` naming where it happened (e.g. `Shards.record`). */
export const asLedgerError = (where: string) => (error: SqlError | ParseError): LedgerError =>
  new LedgerError({ message: `${where}: ${describeError(error)}` })

/** SQL and decoding failures become `LedgerError`s naming the operation; other errors (the input's) pass. */
const toLedgerError =
  (operation: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, SqlError | ParseError> | LedgerError, R> =>
    Effect.mapError(effect, (error) =>
      isStorageError(error)
        ? asLedgerError(`Ledger.${operation}`)(error)
        : error as Exclude<E, SqlError | ParseError>)

/** Insertion order: the `seq` column on Postgres, `rowid` on SQLite (see the migration). */
export const insertionOrder = (sql: SqlClient.SqlClient) =>
  sql.onDialectOrElse({ pg: () => sql.literal("seq"), orElse: () => sql.literal("rowid") })

// ---------------------------------------------------------------------------------------------------------------
// Ledger

// ---------------------------------------------------------------------------------------------------------------
// Input rows

const PersonRecord = Schema.Struct({ row_number: Num, identifier_json: IdentifierJson })
const CountRecord = Schema.Struct({ input_outcome: InputOutcome, n: Num })
const RejectedRecord = Schema.Struct({ row_number: Num, reason: Schema.NullOr(Schema.String) })
const FirstRecord = Schema.Struct({ person_key: Identifier.PersonKey, first: Num })

const toPerson = (row: typeof PersonRecord.Type) =>
  new ContactProvider.Person({ key: row.identifier_json.key, identifier: row.identifier_json }, true)

const asJournalError = <A, R>(effect: Effect.Effect<A, LedgerError, R>) =>
  Effect.mapError(effect, (error) => new Journal.JournalError({ message: error.message }))

/** How a run's rows were judged, counted in the ledger. */
const makeRowCounts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const decodeCounts = Schema.decodeUnknown(Schema.Array(CountRecord))
  const decodeRejected = Schema.decodeUnknown(Schema.Array(RejectedRecord))
  return (runId: string) =>
    Effect.gen(function*() {
      const byOutcome = new Map(
        (yield* sql`SELECT input_outcome, COUNT(*) AS n FROM enrich_run_rows WHERE run_id = ${runId}
          GROUP BY input_outcome`.pipe(Effect.flatMap(decodeCounts))).map((r) => [r.input_outcome, r.n])
      )
      const rejected = yield* sql`SELECT row_number, reason FROM enrich_run_rows
        WHERE run_id = ${runId} AND input_outcome = 'rejected' ORDER BY row_number LIMIT ${shownRejections}`.pipe(
        Effect.flatMap(decodeRejected)
      )
      const people = byOutcome.get("ok") ?? 0
      const duplicates = byOutcome.get("duplicate") ?? 0
      const rejectedRows = byOutcome.get("rejected") ?? 0
      return {
        rows: people + duplicates + rejectedRows,
        people,
        rejected: rejectedRows,
        duplicates,
        rejectedLines: rejected.map((r) => ({ line: r.row_number, reason: r.reason ?? "rejected" }))
      } satisfies RowCounts
    }).pipe(toLedgerError("rowCounts"))
})

/** A run's input rows: written once with their verdicts, read back page by page. */
const makeRows = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const decodeRows = Schema.decodeUnknown(Schema.Array(RowRecord))
  const decodePeople = Schema.decodeUnknown(Schema.Array(PersonRecord))
  const decodeFirsts = Schema.decodeUnknown(Schema.Array(FirstRecord))
  // compiled once and run synchronously: an input of a million rows goes through them
  const encodeIdentifier = Schema.encodeEither(IdentifierJson)
  const ok = sql`input_outcome = 'ok'`

  /** The first row already written for each of these people, if any (the index on run and person). */
  const firstRows = (runId: string, keys: ReadonlyArray<Identifier.PersonKey>) =>
    keys.length === 0 ? Effect.succeed([]) : sql`SELECT person_key, MIN(row_number) AS first FROM enrich_run_rows
      WHERE run_id = ${runId} AND ${ok} AND ${sql.in("person_key", keys)} GROUP BY person_key`.pipe(
      Effect.flatMap(decodeFirsts)
    )

  const insertBatchOf = (runId: string, batch: ReadonlyArray<InputRow>) =>
    Effect.gen(function*() {
      const keys = new Set<Identifier.PersonKey>()
      for (const row of batch) if (Either.isRight(row.identifier)) keys.add(row.identifier.right.key)
      const firsts = new Map((yield* firstRows(runId, [...keys])).map((r) => [r.person_key, r.first]))
      const records: Array<Record<string, string | number | null>> = []
      for (const row of batch) {
        const base = { run_id: runId, row_number: row.line, columns_json: JSON.stringify(row.columns) }
        if (Either.isLeft(row.identifier)) {
          records.push({
            ...base,
            person_key: null,
            identifier_json: null,
            input_outcome: "rejected",
            reason: row.identifier.left.reason,
            duplicate_of: null
          })
          continue
        }
        const identifier = row.identifier.right
        const first = firsts.get(identifier.key)
        if (first === undefined) firsts.set(identifier.key, row.line)
        records.push({
          ...base,
          person_key: identifier.key,
          identifier_json: yield* encodeIdentifier(identifier),
          input_outcome: first === undefined ? "ok" : "duplicate",
          reason: null,
          duplicate_of: first ?? null
        })
      }
      yield* sql`INSERT INTO enrich_run_rows ${sql.insert(records)}`
    })

  const people = (runId: string, range?: RowRange) =>
    Effect.gen(function*() {
      const within = range === undefined ? sql`1 = 1` : sql`row_number <= ${range.upTo}`
      const counted = yield* sql<{ readonly n: number | string }>`
        SELECT COUNT(*) AS n FROM enrich_run_rows WHERE run_id = ${runId} AND ${ok}
        AND row_number > ${range?.after ?? 0} AND ${within}`
      const page = (after: number) =>
        sql`SELECT row_number, identifier_json FROM enrich_run_rows WHERE run_id = ${runId} AND ${ok}
            AND row_number > ${after} AND ${within} ORDER BY row_number LIMIT ${pageSize}`.pipe(
          Effect.flatMap(decodePeople),
          toLedgerError("peopleOfRun"),
          asJournalError
        )
      const byKeys = (keys: ReadonlyArray<Identifier.PersonKey>) =>
        Effect.forEach(Arr.chunksOf([...new Set(keys)], lookupBatch), (batch) =>
          sql`SELECT row_number, identifier_json FROM enrich_run_rows WHERE run_id = ${runId} AND ${ok}
              AND row_number > ${range?.after ?? 0} AND ${within}
              AND ${sql.in("person_key", batch)}`.pipe(Effect.flatMap(decodePeople))).pipe(
            Effect.map((pages) =>
              pages.flat().map(toPerson)
            ),
            toLedgerError("peopleOfRun"),
            asJournalError
          )
      const people: Waterfall.People = {
        count: Number(counted[0]?.n ?? 0),
        stream: Stream.paginateChunkEffect(range?.after ?? 0, (after) =>
          Effect.map(page(after), (rows) => [
            Chunk.unsafeFromArray(rows.map(toPerson)),
            rows.length < pageSize ? Option.none() : Option.some(rows[rows.length - 1]!.row_number)
          ])),
        byKeys
      }
      return people
    }).pipe(toLedgerError("peopleOfRun"))

  return {
    insert: <E>(runId: string, input: Stream.Stream<InputRow, E>) =>
      input.pipe(
        Stream.grouped(insertBatch),
        Stream.runForEach((batch) => insertBatchOf(runId, Chunk.toReadonlyArray(batch)))
      ),

    counts: yield* makeRowCounts,

    page: (runId: string, after: number, limit: number) =>
      sql`SELECT * FROM enrich_run_rows WHERE run_id = ${runId} AND row_number > ${after}
          ORDER BY row_number LIMIT ${Math.max(0, Math.floor(limit))}`.pipe(
        Effect.flatMap(decodeRows),
        Effect.map(Arr.map(toRunRow)),
        toLedgerError("rowsPage")
      ),

    people
  }
})

/** @since 0.1.0 @category Constructors */
export const make: Effect.Effect<LedgerService, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const order = insertionOrder(sql)
  const decodeRuns = Schema.decodeUnknown(Schema.Array(RunRecord))
  const encodeJson = Schema.encode(AnyJson)
  const rows = yield* makeRows

  const getRun = (id: string) =>
    sql`SELECT * FROM enrich_runs WHERE id = ${id}`.pipe(
      Effect.flatMap(decodeRuns),
      Effect.map((rows) => Option.map(Arr.head(rows), toRun)),
      toLedgerError("getRun")
    )

  const listRuns = (limit: number) =>
    sql`SELECT * FROM enrich_runs ORDER BY created_at DESC, ${order} DESC LIMIT ${Math.max(0, Math.floor(limit))}`
      .pipe(
        Effect.flatMap(decodeRuns),
        Effect.map(Arr.map(toRun)),
        toLedgerError("listRuns")
      )

  return Ledger.of({
    createRun: ({ id, inputPath, options, rows: input }) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const optionsJson = yield* encodeJson(options)
        yield* sql.withTransaction(Effect.gen(function*() {
          const inserted = yield* sql`INSERT INTO enrich_runs ${
            sql.insert({
              id,
              created_at: at,
              updated_at: at,
              input_path: inputPath,
              options_json: optionsJson,
              state: "running",
              summary_json: null
            })
          } ON CONFLICT (id) DO NOTHING RETURNING id`
          if (inserted.length === 0) return yield* new LedgerError({ message: `a run with id ${id} already exists` })
          if (input !== undefined) yield* rows.insert(id, input)
        }))
        const run = yield* getRun(id)
        return yield* Option.match(run, {
          onNone: () => Effect.fail(new LedgerError({ message: `run ${id} vanished after insert` })),
          onSome: Effect.succeed
        })
      }).pipe(toLedgerError("createRun")),

    getRun,
    latestRun: () => Effect.map(listRuns(1), Arr.head),
    listRuns,

    setRunState: (id, state, summary) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const updated = summary === undefined
          ? yield* sql`UPDATE enrich_runs SET state = ${state}, updated_at = ${at} WHERE id = ${id} RETURNING id`
          : yield* sql`UPDATE enrich_runs SET state = ${state}, summary_json = ${yield* encodeJson(summary)},
              updated_at = ${at} WHERE id = ${id} RETURNING id`
        if (updated.length === 0) return yield* new LedgerError({ message: `no run with id ${id}` })
      }).pipe(toLedgerError("setRunState")),

    finishRunning: (id, summary) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const json = yield* encodeJson(summary)
        const updated = yield* sql`UPDATE enrich_runs SET state = 'finished', summary_json = ${json},
          updated_at = ${at} WHERE id = ${id} AND state = 'running' RETURNING id`
        return updated.length > 0
      }).pipe(toLedgerError("finishRunning")),

    holdRun: (id, holder, leaseMillis, takeOverFrom) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const until = now + leaseMillis
        const granted = yield* (takeOverFrom === undefined
          ? sql`UPDATE enrich_runs SET holder = ${holder}, held_until = ${until}
                WHERE id = ${id} AND (holder IS NULL OR holder = ${holder} OR held_until < ${now}) RETURNING id`
          : sql`UPDATE enrich_runs SET holder = ${holder}, held_until = ${until}
                WHERE id = ${id} AND (holder IS NULL OR holder = ${holder} OR held_until < ${now}
                  OR holder = ${takeOverFrom}) RETURNING id`)
        if (granted.length > 0) return Option.none<RunHolder>()
        const current = yield* sql<{ readonly holder: string | null; readonly held_until: number | string | null }>`
          SELECT holder, held_until FROM enrich_runs WHERE id = ${id}`
        const row = current[0]
        if (row === undefined) return yield* new LedgerError({ message: `no run with id ${id}` })
        return Option.some<RunHolder>({ holder: row.holder ?? "", until: Number(row.held_until ?? 0) })
      }).pipe(toLedgerError("holdRun")),

    releaseRun: (id, holder) =>
      sql`UPDATE enrich_runs SET holder = NULL, held_until = NULL WHERE id = ${id} AND holder = ${holder}`.pipe(
        Effect.asVoid,
        toLedgerError("releaseRun")
      ),

    rowCounts: rows.counts,
    rowsPage: rows.page,
    peopleOfRun: rows.people
  })
})

/** @since 0.1.0 @category Layers */
export const layer: Layer.Layer<Ledger, never, SqlClient.SqlClient> = Layer.effect(Ledger, make)
