/**
 * The core `Journal` on the ledger's tables (SQLite or Postgres, see `migrations/`): chunks, pages of outcomes,
 * what a run set aside, and the cache lookups across runs. Same contract as `Journal.makeMemory`; the run's
 * state lives here, so the waterfall holds only what is in flight.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Contact, ContactProvider, Identifier, Journal, PersonResult } from "@enrich/core"
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ParseError } from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { describeError, insertBatch, insertionOrder, lookupBatch, Num } from "./Ledger.js"
import * as PersonHash from "./PersonHash.js"
import * as Shards from "./Shards.js"

/** The Schema of what a provider's result stream emits, for the JSON column. */
export const ProviderOutcomeSchema = Schema.Union(
  PersonResult.Found,
  PersonResult.NotFound,
  PersonResult.Failed,
  PersonResult.Rejected
)

const KeysJson = Schema.parseJson(Schema.Array(Identifier.PersonKey))
const FieldsJson = Schema.parseJson(Schema.NonEmptyArray(Contact.Field))
const JobJson = Schema.parseJson(ContactProvider.JobRef)
const OutcomeJson = Schema.parseJson(ProviderOutcomeSchema)

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

const CachedRow = Schema.Struct({
  person_key: Identifier.PersonKey,
  fields_json: Schema.String,
  outcome_json: Schema.String
})

const RunOutcomeRow = Schema.Struct({
  person_key: Identifier.PersonKey,
  provider: Schema.String,
  chunk_key: Schema.String,
  outcome_json: OutcomeJson
})

const SetAsideRow = Schema.Struct({
  person_key: Identifier.PersonKey,
  provider: Schema.String,
  kind: Schema.Literal("budget", "failed"),
  reason: Schema.String,
  chunk_key: Schema.NullOr(Schema.String)
})

const CreditsRow = Schema.Struct({ provider: Schema.String, charged: Num, estimated: Num, reserved: Num })

/** Outcomes reused from earlier runs have no chunk of this run: their `chunk_key` is empty. */
const reusedChunk = ""

/** A row of `enrich_outcomes`: one outcome, what it was asked for, and whose it is. */
type OutcomeRow = Record<string, string | number | null>

const outcomeRow = (
  outcome: PersonResult.ProviderOutcome,
  outcomeJson: string,
  of: {
    readonly provider: string
    readonly fieldsJson: string
    /** the chunk that committed it (`reusedChunk` for reused ones) */
    readonly chunk: string
    readonly runId: string
    readonly at: number
  }
): OutcomeRow => ({
  provider: of.provider,
  person_key: outcome.key ?? null,
  person_hash: outcome.key === undefined ? null : PersonHash.of(outcome.key),
  fields_json: of.fieldsJson,
  outcome_tag: outcome._tag,
  outcome_json: outcomeJson,
  observed_at: Journal.observedMillis(outcome) ?? null,
  chunk_key: of.chunk,
  run_id: of.runId,
  created_at: of.at
})

/** Multi-row INSERTs of `insertBatch` rows, within the bound-parameter limits. */
const insertOutcomes = (sql: SqlClient.SqlClient, rows: ReadonlyArray<OutcomeRow>) =>
  Effect.forEach(
    Arr.chunksOf(rows, insertBatch),
    (batch) => sql`INSERT INTO enrich_outcomes ${sql.insert(batch)}`,
    { discard: true }
  )

const toJournalError =
  (operation: string) => <A, R>(effect: Effect.Effect<A, SqlError | ParseError | Journal.JournalError, R>) =>
    Effect.catchTags(effect, {
      SqlError: (error) =>
        Effect.fail(new Journal.JournalError({ message: `Journal.${operation}: ${describeError(error)}` })),
      ParseError: (error) =>
        Effect.fail(new Journal.JournalError({ message: `Journal.${operation}: ${describeError(error)}` }))
    })

/** Per-person lookups run in batches of this many keys (bound parameters stay well under the dialects' limits). */
const perKeys = <A, E, R>(
  keys: ReadonlyArray<Identifier.PersonKey>,
  lookup: (batch: ReadonlyArray<Identifier.PersonKey>) => Effect.Effect<ReadonlyArray<A>, E, R>
) =>
  Effect.map(
    Effect.forEach(Arr.chunksOf([...new Set(keys)], lookupBatch), lookup),
    (pages) => pages.flat()
  )

/** The rows of a lookup by person hash that are the keys looked up (two keys may share a hash). */
const ofKeys = (keys: ReadonlyArray<Identifier.PersonKey>) => {
  const wanted = new Set<string>(keys)
  return <Row extends { readonly [column: string]: unknown }>(rows: ReadonlyArray<Row>): ReadonlyArray<Row> =>
    rows.filter((row) => typeof row.person_key === "string" && wanted.has(row.person_key))
}

const groupByKey = <A extends { readonly key: Identifier.PersonKey }>(items: ReadonlyArray<A>) => {
  const grouped = new Map<Identifier.PersonKey, Array<A>>()
  for (const item of items) {
    const list = grouped.get(item.key)
    if (list === undefined) grouped.set(item.key, [item])
    else list.push(item)
  }
  return grouped as ReadonlyMap<Identifier.PersonKey, ReadonlyArray<A>>
}

const decodeOpen = Schema.decodeUnknown(Schema.Array(Schema.Struct({ keys_json: KeysJson, fields_json: FieldsJson })))

/** See `Journal.heldElsewhere`. */
const heldElsewhere = (
  sql: SqlClient.SqlClient,
  provider: string,
  keys: ReadonlyArray<Identifier.PersonKey>,
  fields: ReadonlyArray<Contact.Field>,
  runId: string,
  since: number
) =>
  Effect.gen(function*() {
    const held = new Set<Identifier.PersonKey>()
    if (keys.length === 0) return held
    const now = yield* Clock.currentTimeMillis
    // Few chunks are open at once. Left out: those unchanged since `since`, and those of a run that is not
    // being worked on (stopped, or its holder's lease lapsed: a killed process). A run's shards are not runs
    // of their own (no row joins): a dead worker's shard is taken over, so they count as worked on. The other
    // shards of the same run are left out too: they never hold a shard's people (each person is sent from one
    // shard), and reading their keys for every chunk recorded was most of the time a shard took to start.
    const run = Shards.runOfLabel(runId)
    const shardPrefix = `${run}~`
    const open = yield* sql`SELECT c.keys_json, c.fields_json FROM enrich_chunks c
      LEFT JOIN enrich_runs r ON r.id = c.run_id
      WHERE c.provider = ${provider} AND c.run_id <> ${run}
      AND substr(c.run_id, 1, ${shardPrefix.length}) <> ${shardPrefix} AND c.state IN ('recorded', 'submitted')
      AND c.updated_at >= ${since}
      AND (r.id IS NULL OR (r.state = 'running' AND (r.held_until IS NULL OR r.held_until >= ${now})))`.pipe(
      Effect.flatMap(decodeOpen)
    )
    const wanted = new Set(keys)
    for (const chunk of open) {
      if (!Journal.covers(chunk.fields_json, fields)) continue
      for (const key of chunk.keys_json) if (wanted.has(key)) held.add(key)
    }
    return held as ReadonlySet<Identifier.PersonKey>
  })

/** What a run holds besides its chunks' lives: open chunks, credits, reused outcomes, people set aside. */
const makeRunState = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const order = insertionOrder(sql)
  const decodeChunks = Schema.decodeUnknown(Schema.Array(ChunkRow))
  const decodeRunOutcomes = Schema.decodeUnknown(Schema.Array(RunOutcomeRow))
  const decodeSetAside = Schema.decodeUnknown(Schema.Array(SetAsideRow))
  const decodeCredits = Schema.decodeUnknown(Schema.Array(CreditsRow))
  const encodeFields = Schema.encode(FieldsJson)
  const encodeOutcome = Schema.encodeEither(OutcomeJson)
  const open = sql`state IN ('recorded', 'submitted')`

  return {
    openChunks: (runId: string) =>
      sql`SELECT * FROM enrich_chunks WHERE run_id = ${runId} AND ${open} ORDER BY ${order}`.pipe(
        Effect.flatMap(decodeChunks),
        Effect.map(Arr.map(toChunkRecord)),
        toJournalError("openChunks")
      ),

    creditsOfRun: (runId: string) =>
      sql`SELECT provider,
            SUM(CASE WHEN ${open} THEN 0 ELSE COALESCE(charged, 0) END) AS charged,
            SUM(CASE WHEN ${open} OR charge_estimated = 0 THEN 0 ELSE COALESCE(charged, 0) END) AS estimated,
            SUM(CASE WHEN ${open} THEN reserved ELSE 0 END) AS reserved
          FROM enrich_chunks WHERE run_id = ${runId} GROUP BY provider`.pipe(
        Effect.flatMap(decodeCredits),
        toJournalError("creditsOfRun")
      ),

    reuse: (
      runId: string,
      provider: string,
      fields: ReadonlyArray<Contact.Field>,
      outcomes: ReadonlyArray<PersonResult.ProviderOutcome>
    ) =>
      Effect.gen(function*() {
        if (outcomes.length === 0) return
        const at = yield* Clock.currentTimeMillis
        const fieldsJson = yield* encodeFields(fields as readonly [Contact.Field, ...Array<Contact.Field>])
        const rows: Array<OutcomeRow> = []
        for (const outcome of outcomes) {
          rows.push(outcomeRow(outcome, yield* encodeOutcome(outcome), {
            provider,
            fieldsJson,
            chunk: reusedChunk,
            runId,
            at
          }))
        }
        yield* insertOutcomes(sql, rows)
      }).pipe(toJournalError("reuse")),

    outcomesOfRun: (runId: string, keys: ReadonlyArray<Identifier.PersonKey>) =>
      perKeys(keys, (batch) =>
        sql`SELECT person_key, provider, chunk_key, outcome_json FROM enrich_outcomes
            WHERE ${PersonHash.matching(sql, batch)} AND run_id = ${runId} ORDER BY id`.pipe(
          Effect.map(ofKeys(batch)),
          Effect.flatMap(decodeRunOutcomes)
        )).pipe(
          Effect.map((rows) =>
            groupByKey(rows.map((row) => ({
              key: row.person_key,
              provider: row.provider,
              outcome: row.outcome_json,
              chunk: row.chunk_key === reusedChunk ? undefined : row.chunk_key
            })))
          ),
          toJournalError("outcomesOfRun")
        ),

    heldElsewhere: (
      provider: string,
      keys: ReadonlyArray<Identifier.PersonKey>,
      fields: ReadonlyArray<Contact.Field>,
      runId: string,
      since: number
    ) => heldElsewhere(sql, provider, keys, fields, runId, since).pipe(toJournalError("heldElsewhere")),

    setAside: (runId: string, entries: ReadonlyArray<Journal.SetAside>) =>
      Effect.forEach(
        Arr.chunksOf(entries, insertBatch),
        (batch) =>
          sql`INSERT INTO enrich_set_aside ${
            sql.insert(batch.map((entry) => ({
              run_id: runId,
              provider: entry.provider,
              person_key: entry.key,
              kind: entry.kind,
              reason: entry.reason,
              chunk_key: entry.chunk ?? null
            })))
          } ON CONFLICT (run_id, person_key, provider) DO UPDATE SET kind = excluded.kind,
            reason = excluded.reason, chunk_key = excluded.chunk_key`,
        { discard: true }
      ).pipe(
        toJournalError("setAside")
      ),

    clearSetAside: (runId: string) =>
      sql`DELETE FROM enrich_set_aside WHERE run_id = ${runId}`.pipe(Effect.asVoid, toJournalError("clearSetAside")),

    setAsideOf: (runId: string, keys: ReadonlyArray<Identifier.PersonKey>) =>
      perKeys(keys, (batch) =>
        sql`SELECT person_key, provider, kind, reason, chunk_key FROM enrich_set_aside
            WHERE run_id = ${runId} AND ${sql.in("person_key", batch)}`.pipe(Effect.flatMap(decodeSetAside))).pipe(
          Effect.map((rows) =>
            groupByKey(rows.map((row) =>
              new Journal.SetAside({
                key: row.person_key,
                provider: row.provider,
                kind: row.kind,
                reason: row.reason,
                ...(row.chunk_key === null ? {} : { chunk: row.chunk_key })
              }, true)
            ))
          ),
          toJournalError("setAsideOf")
        )
  } satisfies Partial<Journal.JournalService>
})

/** Outcomes bought by any run, for reuse: the newest observation per person that covers the fields asked. */
const makeCacheLookup = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const decodeCached = Schema.decodeUnknown(Schema.Array(CachedRow))
  const decodeFields = Schema.decodeUnknown(FieldsJson)
  const decodeOutcome = Schema.decodeUnknown(OutcomeJson)
  return (
    provider: string,
    keys: ReadonlyArray<Identifier.PersonKey>,
    fields: ReadonlyArray<Contact.Field>,
    maxAge: Duration.DurationInput
  ) =>
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
            WHERE ${sql.and([PersonHash.matching(sql, batch), ...clauses])}
            ORDER BY observed_at DESC, id DESC`.pipe(Effect.map(ofKeys(batch)), Effect.flatMap(decodeCached))
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

const unknownChunk = (key: string) => new Journal.JournalError({ message: `unknown chunk ${key}` })

/**
 * Recording chunks: as they are (`recordChunk`, idempotent), or only if no other run holds their people or has
 * answered them since the caller looked (`recordChunkUnlessHeld`, one recorder per provider at a time).
 */
const makeRecording = (outcomesFor: Effect.Effect.Success<typeof makeCacheLookup>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const decodeChunks = Schema.decodeUnknown(Schema.Array(ChunkRow))
    const encodeKeys = Schema.encode(KeysJson)
    const encodeFields = Schema.encode(FieldsJson)

    // One recorder per provider at a time in this process, before the transaction: the others wait here holding
    // nothing, instead of each holding a pooled connection while it waits for the advisory lock. Twelve shards'
    // recorders waiting inside transactions took the whole pool (10), and every other query of the worker, lease
    // renewals included, then waited behind them (100-240 ms to begin a transaction in the scale bench).
    const recorders = new Map<string, Effect.Semaphore>()
    const recorderOf = (provider: string) => {
      const known = recorders.get(provider)
      if (known !== undefined) return known
      const made = Effect.unsafeMakeSemaphore(1)
      recorders.set(provider, made)
      return made
    }

    const getChunk = (key: string) =>
      sql`SELECT * FROM enrich_chunks WHERE idempotency_key = ${key}`.pipe(
        Effect.flatMap(decodeChunks),
        Effect.flatMap((rows) => rows.length === 0 ? Effect.fail(unknownChunk(key)) : Effect.succeed(rows[0]!)),
        Effect.map(toChunkRecord)
      )

    const record = (chunk: Journal.NewChunk) =>
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
        // Resume: a chunk recorded earlier (by this or a crashed process) is returned as it is. The new row comes
        // back from the insert itself: one round trip less inside the recorders' critical section.
        const inserted = yield* sql`INSERT INTO enrich_chunks ${sql.insert(row)}
          ON CONFLICT (idempotency_key) DO NOTHING RETURNING *`.pipe(Effect.flatMap(decodeChunks))
        return inserted.length > 0 ? toChunkRecord(inserted[0]!) : yield* getChunk(chunk.idempotencyKey)
      })

    return {
      recordChunk: (chunk) => record(chunk).pipe(toJournalError("recordChunk")),

      recordChunkUnlessHeld: (chunk, since, maxAge) =>
        recorderOf(chunk.provider).withPermits(1)(sql.withTransaction(Effect.gen(function*() {
          // Postgres: one recorder per provider at a time, across processes, until this transaction ends (SQLite
          // writes one transaction at a time already)
          yield* sql.onDialectOrElse({
            pg: () => Effect.asVoid(sql`SELECT pg_advisory_xact_lock(hashtext(${`enrich:${chunk.provider}`}))`),
            orElse: () => Effect.void
          })
          const [known] = yield* sql`SELECT 1 AS one FROM enrich_chunks WHERE idempotency_key = ${chunk.idempotencyKey}`
          if (known === undefined) {
            const held = new Set(
              yield* heldElsewhere(sql, chunk.provider, chunk.keys, chunk.fields, chunk.runId, since)
            )
            // answered by a chunk that settled after the caller's cache lookup: reused, not bought again
            const answered = yield* outcomesFor(chunk.provider, chunk.keys, chunk.fields, maxAge)
            for (const key of answered.keys()) held.add(key)
            if (held.size > 0) return held as ReadonlySet<Identifier.PersonKey>
          }
          return yield* record(chunk)
        }))).pipe(toJournalError("recordChunkUnlessHeld"))
    } satisfies Pick<Journal.JournalService, "recordChunk" | "recordChunkUnlessHeld">
  })

/**
 * The core `Journal` on the ledger's tables, with the semantics of `Journal.makeMemory`. One difference by
 * design: among cached outcomes, "newest" is the latest `observedAt` (ties: the latest committed), where the
 * in-memory journal takes the latest committed.
 *
 * @since 0.1.0 @category Constructors
 */
export const make: Effect.Effect<Journal.JournalService, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const order = insertionOrder(sql)
  const decodeChunks = Schema.decodeUnknown(Schema.Array(ChunkRow))
  const encodeJob = Schema.encode(JobJson)
  // compiled once and run synchronously: on the commit path an effect per outcome cost more than the insert
  const encodeOutcome = Schema.encodeEither(OutcomeJson)

  const runState = yield* makeRunState
  const outcomesFor = yield* makeCacheLookup
  const recording = yield* makeRecording(outcomesFor)

  /** fails with "unknown chunk" when the statement (which must end in RETURNING) touched nothing */
  const expectRow = (key: string) => (rows: ReadonlyArray<unknown>) =>
    rows.length === 0 ? Effect.fail(unknownChunk(key)) : Effect.void

  return Journal.Journal.of({
    markSubmitted: (key, job) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const jobJson = yield* encodeJob(job)
        yield* sql`UPDATE enrich_chunks SET state = 'submitted', job_json = ${jobJson}, updated_at = ${at}
                   WHERE idempotency_key = ${key} RETURNING idempotency_key`.pipe(Effect.flatMap(expectRow(key)))
      }).pipe(toJournalError("markSubmitted")),

    forgetUnsent: (key) =>
      sql`DELETE FROM enrich_chunks WHERE idempotency_key = ${key} AND state = 'recorded'`.pipe(
        Effect.asVoid,
        toJournalError("forgetUnsent")
      ),

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
                  RETURNING run_id, provider, fields_json`
            : sql`UPDATE enrich_chunks SET result_cursor = ${cursor}, updated_at = ${at}
                  WHERE idempotency_key = ${key} RETURNING run_id, provider, fields_json`)
          const chunk = chunks[0]
          if (chunk === undefined) return yield* unknownChunk(key)
          const of = {
            provider: chunk.provider as string,
            fieldsJson: chunk.fields_json as string,
            chunk: key,
            runId: chunk.run_id as string,
            at
          }
          yield* insertOutcomes(sql, outcomes.map((outcome, i) => outcomeRow(outcome, json[i]!, of)))
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

    ...recording,
    ...runState,
    outcomesFor
  })
})

/** @since 0.1.0 @category Layers */
export const layer: Layer.Layer<Journal.Journal, never, SqlClient.SqlClient> = Layer.effect(Journal.Journal, make)
