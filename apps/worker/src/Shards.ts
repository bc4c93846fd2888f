/**
 * A run submitted for workers is cut into shards: ranges of its input rows, each worked by one worker at a time
 * as its own waterfall. A shard's chunks, outcomes and set-asides are journaled under the shard's label (the run
 * id and the shard number), so a worker resuming a shard adopts that shard's open chunks and nobody else's; the
 * run's output, status and credits read every shard's label.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Waterfall } from "@enrich/core"
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { ParseError } from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { RowRange } from "./Ledger.js"
import { asLedgerError, type LedgerError, Num } from "./Ledger.js"

/** Rows per shard unless `--shard-size` says otherwise: a few Fiber chunks, a few dozen Crustdata jobs. */
export const defaultSize = 10_000

/** @since 0.1.0 @category Models */
export interface Shard extends RowRange {
  readonly runId: string
  readonly shard: number
}

/** The journal's run id for a shard's waterfall. */
export const label = (runId: string, shard: number): string => `${runId}~${shard}`

/** The run a journal run id belongs to: the run itself, or the run whose shard it labels. */
export const runOfLabel = (label: string): string => {
  const at = label.lastIndexOf("~")
  return at < 0 ? label : label.slice(0, at)
}

/**
 * The shard holding row `rowNumber`. Rows are numbered by their line in the input (a CSV's first row is line 2);
 * shards are cut from `base`, the line before the first row (0 for ledgers that cut them from line 1).
 */
export const shardOfRow = (rowNumber: number, size: number, base = 0): number =>
  Math.floor((rowNumber - 1 - base) / size)

/**
 * Where a row's person was journaled: the shard of the row itself, or for a duplicate the shard of the first row
 * naming the same person (only that row was sent).
 */
export const labelOfRow =
  (runId: string, size: number, base = 0) =>
  (row: { readonly rowNumber: number; readonly duplicateOf?: number | undefined }) =>
    label(runId, shardOfRow(row.duplicateOf ?? row.rowNumber, size, base))

/**
 * `labelOfRow` for a recorded run: its shards' base read from the ledger.
 *
 * @since 0.1.0
 */
export const rowLabels = (runId: string, size: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [first] = yield* sql<{ readonly base: number | string | null }>`
      SELECT MIN(after_row) AS base FROM enrich_shards WHERE run_id = ${runId}`
    return labelOfRow(runId, size, Number(first?.base ?? 0))
  }).pipe(toLedgerError("rowLabels"))

const FailureGroup = Schema.Struct({ reason: Schema.String, people: Schema.Number, chunks: Schema.Number })
const ProviderSummary = Schema.Struct({
  provider: Schema.String,
  requested: Schema.Number,
  cached: Schema.Number,
  found: Schema.Number,
  notFound: Schema.Number,
  failed: Schema.Number,
  rejected: Schema.Number,
  failures: Schema.Array(FailureGroup),
  credits: Schema.Number,
  estimatedCredits: Schema.Number
})
/** A shard's `Waterfall.Result`, as stored. */
const ResultJson = Schema.parseJson(Schema.Struct({
  providers: Schema.Array(ProviderSummary),
  unsentForBudget: Schema.Number,
  ambiguousChunks: Schema.Array(Schema.String),
  credits: Schema.Struct({
    spent: Schema.Number,
    estimated: Schema.Number,
    limit: Schema.optional(Schema.Number)
  })
}))

const toResult = (stored: typeof ResultJson.Type): Waterfall.Result => ({
  ...stored,
  credits: { spent: stored.credits.spent, estimated: stored.credits.estimated, limit: stored.credits.limit }
})

const ShardRow = Schema.Struct({
  shard: Num,
  after_row: Num,
  up_to_row: Num,
  state: Schema.Literal("queued", "finished"),
  worker: Schema.NullOr(Schema.String)
})

/** A shard as `enrich status` shows it. */
export interface ShardState extends RowRange {
  readonly shard: number
  readonly state: "queued" | "finished"
  readonly worker: string | undefined
}

const toLedgerError = (operation: string) => <A, R>(effect: Effect.Effect<A, SqlError | ParseError, R>) =>
  Effect.mapError(effect, asLedgerError(`Shards.${operation}`))

/**
 * Cuts a run's rows into shards of `size` rows and records them (again: recording is idempotent, so a submit
 * stopped halfway is completed by running it again).
 *
 * @since 0.1.0 @category Constructors
 */
export const record = (
  runId: string,
  size: number
): Effect.Effect<ReadonlyArray<Shard>, LedgerError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [span] = yield* sql<{ readonly first: number | string | null; readonly last: number | string | null }>`
      SELECT MIN(row_number) AS first, MAX(row_number) AS last FROM enrich_run_rows WHERE run_id = ${runId}`
    // cut from the first row, not from line 1: a CSV's header is line 1, and 20000 rows in shards of 5000 are
    // four shards, not four of 4999, 5000, 5000, 5000 and a fifth of one row
    const base = Number(span?.first ?? 1) - 1
    const last = Number(span?.last ?? 0)
    const shards: Array<Shard> = Arr.makeBy(Math.ceil(Math.max(0, last - base) / size), (shard) => ({
      runId,
      shard,
      after: base + shard * size,
      upTo: Math.min(last, base + (shard + 1) * size)
    }))
    const at = yield* Clock.currentTimeMillis
    for (const batch of Arr.chunksOf(shards, 200)) {
      yield* sql`INSERT INTO enrich_shards ${
        sql.insert(batch.map((s) => ({
          run_id: runId,
          shard: s.shard,
          after_row: s.after,
          up_to_row: s.upTo,
          state: "queued",
          result_json: null,
          worker: null,
          updated_at: at
        })))
      } ON CONFLICT (run_id, shard) DO NOTHING`
    }
    return shards
  }).pipe(toLedgerError("record"))

/** A run's shards, in order. */
export const ofRun = (runId: string): Effect.Effect<ReadonlyArray<ShardState>, LedgerError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT shard, after_row, up_to_row, state, worker FROM enrich_shards
      WHERE run_id = ${runId} ORDER BY shard`.pipe(Effect.flatMap(Schema.decodeUnknown(Schema.Array(ShardRow))))
    return rows.map((row): ShardState => ({
      shard: row.shard,
      after: row.after_row,
      upTo: row.up_to_row,
      state: row.state,
      worker: row.worker ?? undefined
    }))
  }).pipe(toLedgerError("ofRun"))

/** Records a shard's result; how many of the run's shards are still to do, once it is recorded. */
export const finish = (
  shard: Shard,
  result: Waterfall.Result,
  worker: string
): Effect.Effect<number, LedgerError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const at = yield* Clock.currentTimeMillis
    const { limit, ...credits } = result.credits
    const json = yield* Schema.encode(ResultJson)({
      ...result,
      credits: limit === undefined ? credits : { ...credits, limit }
    })
    yield* sql`UPDATE enrich_shards SET state = 'finished', result_json = ${json}, worker = ${worker},
      updated_at = ${at} WHERE run_id = ${shard.runId} AND shard = ${shard.shard}`
    // counted after our update is committed: of two workers finishing the last two shards, the later count sees both
    const [left] = yield* sql<{ readonly n: number | string }>`
      SELECT COUNT(*) AS n FROM enrich_shards WHERE run_id = ${shard.runId} AND state <> 'finished'`
    return Number(left?.n ?? 0)
  }).pipe(toLedgerError("finish"))

/** Every finished shard's result, combined. */
export const resultOf = (runId: string): Effect.Effect<Waterfall.Result, LedgerError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly result_json: string }>`SELECT result_json FROM enrich_shards
      WHERE run_id = ${runId} AND result_json IS NOT NULL ORDER BY shard`
    const decode = Schema.decodeUnknown(ResultJson)
    const parts = yield* Effect.forEach(rows, (row) => Effect.map(decode(row.result_json), toResult))
    return Waterfall.combineResults(parts)
  }).pipe(toLedgerError("resultOf"))
