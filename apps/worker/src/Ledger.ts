/**
 * The worker's ledger on SQL (SQLite or Postgres, tables from `migrations/`): runs and their input rows,
 * plus the core `Journal` (chunks, pages of outcomes, cache lookups) on the same tables, so that a killed
 * run can be resumed and outcomes already bought are reused.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Contact, ContactProvider, Identifier, Journal, PersonResult } from "@enrich/core"
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { ParseError } from "effect/ParseResult"
import * as Schema from "effect/Schema"

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

/** An outcome committed by one of a run's chunks, with what that chunk asked for. */
export interface CommittedOutcome {
  readonly provider: string
  readonly chunkKey: string
  readonly fields: ReadonlyArray<Contact.Field>
  readonly outcome: PersonResult.ProviderOutcome
}

/** @since 0.1.0 @category Models */
export interface LedgerService {
  /**
   * The run with all its input rows, in one transaction: a run never exists without its rows (a kill while a
   * large input is being written leaves nothing, not an empty run that `resume` would call finished). Fails if
   * a run with this id exists.
   */
  readonly createRun: (run: {
    readonly id: string
    readonly inputPath: string
    readonly options: unknown
    readonly rows?: ReadonlyArray<RunRow>
  }) => Effect.Effect<Run, LedgerError>
  readonly getRun: (id: string) => Effect.Effect<Option.Option<Run>, LedgerError>
  /** the most recently created run */
  readonly latestRun: () => Effect.Effect<Option.Option<Run>, LedgerError>
  /** newest first */
  readonly listRuns: (limit: number) => Effect.Effect<ReadonlyArray<Run>, LedgerError>
  /** the summary is kept as it was when not given */
  readonly setRunState: (id: string, state: RunState, summary?: unknown) => Effect.Effect<void, LedgerError>
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
  /** by row number */
  readonly rows: (runId: string) => Effect.Effect<ReadonlyArray<RunRow>, LedgerError>
  /** every outcome committed by this run's chunks, in commit order */
  readonly outcomesOfRun: (runId: string) => Effect.Effect<ReadonlyArray<CommittedOutcome>, LedgerError>
}

/** Who holds a run, and until when (epoch ms) unless it renews its lease. */
export interface RunHolder {
  readonly holder: string
  readonly until: number
}

/** @since 0.1.0 @category Context */
export class Ledger extends Context.Tag("@enrich/worker/Ledger")<Ledger, LedgerService>() {}

// ---------------------------------------------------------------------------------------------------------------
// Row codecs (rows are decoded with Schema, so the records built from them skip a second validation)

/** The Schema of what a provider's result stream emits, for the JSON column. */
export const ProviderOutcomeSchema = Schema.Union(
  PersonResult.Found,
  PersonResult.NotFound,
  PersonResult.Failed,
  PersonResult.Rejected
)

// Postgres returns BIGINT as a string, SQLite as a number.
const Num = Schema.Union(Schema.Number, Schema.NumberFromString)
const AnyJson = Schema.parseJson()
const KeysJson = Schema.parseJson(Schema.Array(Identifier.PersonKey))
const FieldsJson = Schema.parseJson(Schema.NonEmptyArray(Contact.Field))
const JobJson = Schema.parseJson(ContactProvider.JobRef)
const OutcomeJson = Schema.parseJson(ProviderOutcomeSchema)
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

const ChunkRow = Schema.Struct({
  idempotency_key: Schema.String,
  run_id: Schema.String,
  provider: Schema.String,
  keys_json: KeysJson,
  fields_json: FieldsJson,
  path: ContactProvider.ChunkPath,
  state: Journal.ChunkState,
  job_json: Schema.NullOr(JobJson),
  result_cursor: Schema.NullOr(Schema.String),
  reserved: Num,
  charged: Schema.NullOr(Num),
  charge_estimated: Num,
  message: Schema.NullOr(Schema.String)
})

const toChunkRecord = (row: typeof ChunkRow.Type): Journal.ChunkRecord =>
  new Journal.ChunkRecord({
    runId: row.run_id,
    provider: row.provider,
    idempotencyKey: row.idempotency_key,
    keys: row.keys_json,
    fields: row.fields_json,
    path: row.path,
    state: row.state,
    reserved: row.reserved,
    estimated: row.charge_estimated !== 0,
    ...(row.job_json === null ? {} : { job: row.job_json }),
    ...(row.result_cursor === null ? {} : { cursor: row.result_cursor }),
    ...(row.charged === null ? {} : { charged: row.charged }),
    ...(row.message === null ? {} : { message: row.message })
  }, true)

const CommittedRow = Schema.Struct({
  provider: Schema.String,
  chunk_key: Schema.String,
  fields_json: FieldsJson,
  outcome_json: OutcomeJson
})

const CachedRow = Schema.Struct({
  person_key: Identifier.PersonKey,
  fields_json: Schema.String,
  outcome_json: Schema.String
})

// Rows per multi-row INSERT: well under SQLite's and Postgres' bound-parameter limits.
const insertBatch = 200
// Keys per `IN (...)` lookup, for the same reason.
const lookupBatch = 500

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

const toJournalError =
  (operation: string) => <A, R>(effect: Effect.Effect<A, SqlError | ParseError | Journal.JournalError, R>) =>
    Effect.catchTags(effect, {
      SqlError: (error) =>
        Effect.fail(new Journal.JournalError({ message: `Journal.${operation}: ${describeError(error)}` })),
      ParseError: (error) =>
        Effect.fail(new Journal.JournalError({ message: `Journal.${operation}: ${describeError(error)}` }))
    })

const toLedgerError = (operation: string) => <A, R>(effect: Effect.Effect<A, SqlError | ParseError | LedgerError, R>) =>
  Effect.catchTags(effect, {
    SqlError: (error) => Effect.fail(new LedgerError({ message: `Ledger.${operation}: ${describeError(error)}` })),
    ParseError: (error) => Effect.fail(new LedgerError({ message: `Ledger.${operation}: ${describeError(error)}` }))
  })

/** Insertion order: the `seq` column on Postgres, `rowid` on SQLite (see the migration). */
const insertionOrder = (sql: SqlClient.SqlClient) =>
  sql.onDialectOrElse({ pg: () => sql.literal("seq"), orElse: () => sql.literal("rowid") })

// ---------------------------------------------------------------------------------------------------------------
// Ledger

/** @since 0.1.0 @category Constructors */
export const make: Effect.Effect<LedgerService, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const order = insertionOrder(sql)
  const decodeRuns = Schema.decodeUnknown(Schema.Array(RunRecord))
  const decodeRows = Schema.decodeUnknown(Schema.Array(RowRecord))
  const decodeCommitted = Schema.decodeUnknown(Schema.Array(CommittedRow))
  const encodeJson = Schema.encode(AnyJson)
  const encodeIdentifier = Schema.encode(IdentifierJson)
  const encodeColumns = Schema.encode(ColumnsJson)

  const rowRecord = (runId: string, row: RunRow) =>
    Effect.all({
      run_id: Effect.succeed(runId),
      row_number: Effect.succeed(row.rowNumber),
      person_key: Effect.succeed(row.key ?? null),
      columns_json: encodeColumns(row.columns),
      identifier_json: row.identifier === undefined ? Effect.succeed(null) : encodeIdentifier(row.identifier),
      input_outcome: Effect.succeed(row.outcome),
      reason: Effect.succeed(row.reason ?? null),
      duplicate_of: Effect.succeed(row.duplicateOf ?? null)
    })

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
    createRun: ({ id, inputPath, options, rows = [] }) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const optionsJson = yield* encodeJson(options)
        const records = yield* Effect.forEach(rows, (row) => rowRecord(id, row))
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
          yield* Effect.forEach(
            Arr.chunksOf(records, insertBatch),
            (batch) => sql`INSERT INTO enrich_run_rows ${sql.insert(batch)}`,
            { discard: true }
          )
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

    rows: (runId) =>
      sql`SELECT * FROM enrich_run_rows WHERE run_id = ${runId} ORDER BY row_number`.pipe(
        Effect.flatMap(decodeRows),
        Effect.map(Arr.map(toRunRow)),
        toLedgerError("rows")
      ),

    outcomesOfRun: (runId) =>
      sql`SELECT o.provider, o.chunk_key, o.fields_json, o.outcome_json
          FROM enrich_outcomes o JOIN enrich_chunks c ON c.idempotency_key = o.chunk_key
          WHERE c.run_id = ${runId} ORDER BY o.id`.pipe(
        Effect.flatMap(decodeCommitted),
        Effect.map(Arr.map((row): CommittedOutcome => ({
          provider: row.provider,
          chunkKey: row.chunk_key,
          fields: row.fields_json,
          outcome: row.outcome_json
        }))),
        toLedgerError("outcomesOfRun")
      )
  })
})

/** @since 0.1.0 @category Layers */
export const layer: Layer.Layer<Ledger, never, SqlClient.SqlClient> = Layer.effect(Ledger, make)

// ---------------------------------------------------------------------------------------------------------------
// Journal

/**
 * The core `Journal` on the ledger's tables, with the semantics of `Journal.makeMemory`. One difference by
 * design: among cached outcomes, "newest" is the latest `observedAt` (ties: the latest committed), where the
 * in-memory journal takes the latest committed.
 *
 * @since 0.1.0 @category Constructors
 */
export const makeJournal: Effect.Effect<Journal.JournalService, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const order = insertionOrder(sql)
  const decodeChunks = Schema.decodeUnknown(Schema.Array(ChunkRow))
  const decodeCached = Schema.decodeUnknown(Schema.Array(CachedRow))
  const decodeFields = Schema.decodeUnknown(FieldsJson)
  const decodeOutcome = Schema.decodeUnknown(OutcomeJson)
  const encodeKeys = Schema.encode(KeysJson)
  const encodeFields = Schema.encode(FieldsJson)
  const encodeJob = Schema.encode(JobJson)
  // compiled once and run synchronously: on the commit path an effect per outcome cost more than the insert
  const encodeOutcome = Schema.encodeEither(OutcomeJson)

  const unknownChunk = (key: string) => new Journal.JournalError({ message: `unknown chunk ${key}` })

  const getChunk = (key: string) =>
    sql`SELECT * FROM enrich_chunks WHERE idempotency_key = ${key}`.pipe(
      Effect.flatMap(decodeChunks),
      Effect.flatMap((rows) => rows.length === 0 ? Effect.fail(unknownChunk(key)) : Effect.succeed(rows[0]!)),
      Effect.map(toChunkRecord)
    )

  /** fails with "unknown chunk" when the statement (which must end in RETURNING) touched nothing */
  const expectRow = (key: string) => (rows: ReadonlyArray<unknown>) =>
    rows.length === 0 ? Effect.fail(unknownChunk(key)) : Effect.void

  return Journal.Journal.of({
    recordChunk: (chunk) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const row = {
          idempotency_key: chunk.idempotencyKey,
          run_id: chunk.runId,
          provider: chunk.provider,
          keys_json: yield* encodeKeys(chunk.keys),
          fields_json: yield* encodeFields(chunk.fields),
          path: chunk.path,
          state: "recorded",
          job_json: null,
          result_cursor: null,
          reserved: chunk.reserved,
          charged: null,
          message: null,
          created_at: at,
          updated_at: at
        }
        // Resume: a chunk recorded earlier (by this or a crashed process) is returned as it is.
        yield* sql`INSERT INTO enrich_chunks ${sql.insert(row)} ON CONFLICT (idempotency_key) DO NOTHING`
        return yield* getChunk(chunk.idempotencyKey)
      }).pipe(toJournalError("recordChunk")),

    markSubmitted: (key, job) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const jobJson = yield* encodeJob(job)
        yield* sql`UPDATE enrich_chunks SET state = 'submitted', job_json = ${jobJson}, updated_at = ${at}
                   WHERE idempotency_key = ${key} RETURNING idempotency_key`.pipe(Effect.flatMap(expectRow(key)))
      }).pipe(toJournalError("markSubmitted")),

    commitPage: (key, outcomes, cursor) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const json: Array<string> = []
        for (const outcome of outcomes) json.push(yield* encodeOutcome(outcome))
        // The cursor moves first and the outcomes follow in the same transaction: if any insert fails, the
        // cursor is rolled back too, so a resume re-reads the page instead of skipping it.
        yield* sql.withTransaction(Effect.gen(function*() {
          // One statement moves the cursor and reads what the outcome rows repeat from their chunk.
          const chunks = yield* (cursor === undefined
            ? sql`UPDATE enrich_chunks SET updated_at = ${at} WHERE idempotency_key = ${key}
                  RETURNING provider, fields_json`
            : sql`UPDATE enrich_chunks SET result_cursor = ${cursor}, updated_at = ${at}
                  WHERE idempotency_key = ${key} RETURNING provider, fields_json`)
          const chunk = chunks[0]
          if (chunk === undefined) return yield* unknownChunk(key)
          const rows = outcomes.map((outcome, i) => ({
            provider: chunk.provider as string,
            person_key: outcome.key ?? null,
            fields_json: chunk.fields_json as string,
            outcome_tag: outcome._tag,
            outcome_json: json[i]!,
            observed_at: Journal.observedMillis(outcome) ?? null,
            chunk_key: key,
            created_at: at
          }))
          yield* Effect.forEach(
            Arr.chunksOf(rows, insertBatch),
            (batch) => sql`INSERT INTO enrich_outcomes ${sql.insert(batch)}`,
            { discard: true }
          )
        }))
      }).pipe(toJournalError("commitPage")),

    finishChunk: (key, result) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const estimated = result.estimated ? 1 : 0
        // As in the in-memory journal, an absent message keeps the one recorded before.
        yield* (result.message === undefined
          ? sql`UPDATE enrich_chunks SET state = ${result.state}, charged = ${result.charged},
                charge_estimated = ${estimated}, updated_at = ${at}
                WHERE idempotency_key = ${key} RETURNING idempotency_key`
          : sql`UPDATE enrich_chunks SET state = ${result.state}, charged = ${result.charged},
                charge_estimated = ${estimated}, message = ${result.message}, updated_at = ${at}
                WHERE idempotency_key = ${key} RETURNING idempotency_key`).pipe(Effect.flatMap(expectRow(key)))
      }).pipe(toJournalError("finishChunk")),

    chunks: (runId) =>
      sql`SELECT * FROM enrich_chunks WHERE run_id = ${runId} ORDER BY ${order}`.pipe(
        Effect.flatMap(decodeChunks),
        Effect.map(Arr.map(toChunkRecord)),
        toJournalError("chunks")
      ),

    outcomesFor: (provider, keys, fields, maxAge) =>
      Effect.gen(function*() {
        const found = new Map<Identifier.PersonKey, PersonResult.ProviderOutcome>()
        // a Set, not Arr.dedupe: that compares with Equal pairwise, quadratic in the keys (seconds for 20,000)
        const unique = [...new Set(keys)]
        if (unique.length === 0) return found
        const now = yield* Clock.currentTimeMillis
        const age = Duration.toMillis(maxAge)
        // Only Found/NotFound carry an observation time; Failed/Rejected are never reused.
        const clauses = [
          sql`provider = ${provider}`,
          sql`outcome_tag IN ('Found', 'NotFound')`,
          ...(Number.isFinite(age) ? [sql`observed_at >= ${Math.ceil(now - age)}`] : [])
        ]
        for (const batch of Arr.chunksOf(unique, lookupBatch)) {
          const rows = yield* sql`SELECT person_key, fields_json, outcome_json FROM enrich_outcomes
            WHERE ${sql.and([...clauses, sql.in("person_key", batch)])}
            ORDER BY observed_at DESC, id DESC`.pipe(Effect.flatMap(decodeCached))
          for (const row of rows) {
            if (found.has(row.person_key)) continue
            const had = yield* decodeFields(row.fields_json)
            if (Journal.covers(had, fields)) found.set(row.person_key, yield* decodeOutcome(row.outcome_json))
          }
        }
        return found
      }).pipe(
        Effect.map((found): ReadonlyMap<Identifier.PersonKey, PersonResult.ProviderOutcome> => found),
        toJournalError("outcomesFor")
      )
  })
})

/** @since 0.1.0 @category Layers */
export const layerJournal: Layer.Layer<Journal.Journal, never, SqlClient.SqlClient> = Layer.effect(
  Journal.Journal,
  makeJournal
)
