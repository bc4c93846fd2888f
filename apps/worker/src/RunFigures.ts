/**
 * A run's figures per provider, read from the ledger for `enrich status --run`: people asked and found per field
 * (the hit rate), credits, 429s and time. One small query each, over what the ledger already keeps (chunks,
 * outcomes), plus the HTTP counts each process adds up in `enrich_run_requests` when it stops working on a run.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Contact, Merge, type ProviderMetrics } from "@enrich/core"
import * as Effect from "effect/Effect"
import type { ParseError } from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { describeError, LedgerError } from "./Ledger.js"
import { ProviderOutcomeSchema } from "./SqlJournal.js"

const failed = (operation: string) => (error: SqlError | ParseError) =>
  new LedgerError({ message: `RunFigures.${operation}: ${describeError(error)}` })

const FieldsJson = Schema.parseJson(Schema.Array(Schema.String))
const OutcomeJson = Schema.parseJson(ProviderOutcomeSchema)

/** Counts come back as numbers from SQLite and as strings from Postgres (BIGINT, SUM). */
const num = (value: unknown): number => value === null || value === undefined ? 0 : Number(value)

/**
 * Adds what this process counted of a run's HTTP calls to what earlier attempts counted.
 *
 * @since 0.1.0 @category Writes
 */
export const recordRequests = (runId: string, totals: ReadonlyMap<string, ProviderMetrics.RequestTotals>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const [provider, t] of totals) {
      if (t.requests === 0 && t.rateLimited === 0 && t.retries === 0) continue
      yield* sql`INSERT INTO enrich_run_requests (run_id, provider, requests, rate_limited, retries)
        VALUES (${runId}, ${provider}, ${t.requests}, ${t.rateLimited}, ${t.retries})
        ON CONFLICT (run_id, provider) DO UPDATE SET
          requests = enrich_run_requests.requests + excluded.requests,
          rate_limited = enrich_run_requests.rate_limited + excluded.rate_limited,
          retries = enrich_run_requests.retries + excluded.retries`
    }
  }).pipe(Effect.mapError(failed("recordRequests")))

/** @since 0.1.0 @category Reads */
export const requestsOfRun = (runIds: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ provider: string; requests: unknown; rate_limited: unknown; retries: unknown }>`
      SELECT provider, requests, rate_limited, retries FROM enrich_run_requests WHERE ${sql.in("run_id", runIds)}`
    return new Map(rows.map((r): [string, ProviderMetrics.RequestTotals] => [r.provider, {
      requests: num(r.requests),
      rateLimited: num(r.rate_limited),
      retries: num(r.retries)
    }]))
  }).pipe(Effect.mapError(failed("requestsOfRun")))

/** Who a provider answered in a run and how: outcomes by kind, and people asked per field. */
export interface Answers {
  /** outcomes (one per person asked), those reused from earlier runs included */
  readonly asked: number
  readonly cached: number
  readonly byTag: Readonly<Record<string, number>>
  readonly askedByField: Readonly<Partial<Record<Contact.Field, number>>>
}

/** @since 0.1.0 @category Reads */
export const answersOfRun = (runIds: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<
      { provider: string; fields_json: string; outcome_tag: string; reused: unknown; n: unknown }
    >`
      SELECT provider, fields_json, outcome_tag, CASE WHEN chunk_key = '' THEN 1 ELSE 0 END AS reused,
             COUNT(*) AS n
      FROM enrich_outcomes WHERE ${sql.in("run_id", runIds)}
      GROUP BY provider, fields_json, outcome_tag, CASE WHEN chunk_key = '' THEN 1 ELSE 0 END`
    const byProvider = new Map<string, {
      asked: number
      cached: number
      byTag: Record<string, number>
      askedByField: Partial<Record<Contact.Field, number>>
    }>()
    for (const row of rows) {
      const n = num(row.n)
      const a = byProvider.get(row.provider) ?? { asked: 0, cached: 0, byTag: {}, askedByField: {} }
      a.asked += n
      if (num(row.reused) === 1) a.cached += n
      a.byTag[row.outcome_tag] = (a.byTag[row.outcome_tag] ?? 0) + n
      for (const field of yield* Schema.decode(FieldsJson)(row.fields_json)) {
        a.askedByField[field as Contact.Field] = (a.askedByField[field as Contact.Field] ?? 0) + n
      }
      byProvider.set(row.provider, a)
    }
    return byProvider as ReadonlyMap<string, Answers>
  }).pipe(Effect.mapError(failed("answersOfRun")))

/** Found outcomes read at once. */
const foundPage = 1000

/**
 * People found per provider and field in a run, a field counted when it was asked and the outcome offers a value
 * for it that is not `invalid` (the rule of `ProviderMetrics.peopleFound`). Found outcomes are read page by page.
 *
 * @since 0.1.0 @category Reads
 */
export const foundOfRun = (runIds: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const found = new Map<string, Partial<Record<Contact.Field, number>>>()
    let after = -1
    while (true) {
      const rows = yield* sql<{ id: unknown; provider: string; fields_json: string; outcome_json: string }>`
        SELECT id, provider, fields_json, outcome_json FROM enrich_outcomes
        WHERE ${sql.in("run_id", runIds)} AND outcome_tag = 'Found' AND id > ${after}
        ORDER BY id LIMIT ${foundPage}`
      for (const row of rows) {
        const asked = new Set(yield* Schema.decode(FieldsJson)(row.fields_json))
        const outcome = yield* Schema.decode(OutcomeJson)(row.outcome_json)
        const fields = new Set(
          Merge.candidatesOf(outcome).filter((c) => c.verdict !== "invalid" && asked.has(c.field)).map((c) => c.field)
        )
        const counts = found.get(row.provider) ?? {}
        for (const field of fields) counts[field] = (counts[field] ?? 0) + 1
        found.set(row.provider, counts)
      }
      if (rows.length < foundPage) break
      after = num(rows[rows.length - 1]!.id)
    }
    return found as ReadonlyMap<string, Readonly<Partial<Record<Contact.Field, number>>>>
  }).pipe(Effect.mapError(failed("foundOfRun")))

/** A provider's chunks in a run: how many by state, credits booked, and the time from the first to the last. */
export interface Chunks {
  readonly byState: Readonly<Record<string, number>>
  readonly charged: number
  readonly estimated: number
  /** from the first chunk recorded to the last change of any: how long the provider worked on the run */
  readonly seconds: number
}

/** @since 0.1.0 @category Reads */
export const chunksOfRun = (runIds: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{
      provider: string
      state: string
      n: unknown
      charged: unknown
      estimated: unknown
      first: unknown
      last: unknown
    }>`
      SELECT provider, state, COUNT(*) AS n, SUM(COALESCE(charged, 0)) AS charged,
             SUM(CASE WHEN charge_estimated = 1 THEN COALESCE(charged, 0) ELSE 0 END) AS estimated,
             MIN(created_at) AS first, MAX(updated_at) AS last
      FROM enrich_chunks WHERE ${sql.in("run_id", runIds)} GROUP BY provider, state`
    const byProvider = new Map<
      string,
      { byState: Record<string, number>; charged: number; estimated: number; first: number; last: number }
    >()
    for (const row of rows) {
      const c = byProvider.get(row.provider) ??
        { byState: {}, charged: 0, estimated: 0, first: Infinity, last: -Infinity }
      c.byState[row.state] = num(row.n)
      c.charged += num(row.charged)
      c.estimated += num(row.estimated)
      c.first = Math.min(c.first, num(row.first))
      c.last = Math.max(c.last, num(row.last))
      byProvider.set(row.provider, c)
    }
    return new Map(
      [...byProvider].map(([provider, c]): [string, Chunks] => [provider, {
        byState: c.byState,
        charged: c.charged,
        estimated: c.estimated,
        seconds: Math.max(0, (c.last - c.first) / 1000)
      }])
    )
  }).pipe(Effect.mapError(failed("chunksOfRun")))

/** Everything `status` shows of one provider in a run. */
export interface ProviderFigures {
  readonly provider: string
  readonly answers: Answers | undefined
  readonly found: Readonly<Partial<Record<Contact.Field, number>>>
  readonly chunks: Chunks | undefined
  readonly requests: ProviderMetrics.RequestTotals | undefined
}

/**
 * A run's figures, per provider, in `providers` order (then any other provider the ledger names), over the
 * journal's run ids for it (the run's own, or its shards').
 *
 * @since 0.1.0 @category Reads
 */
export const ofRun = (runIds: ReadonlyArray<string>, providers: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const [answers, found, chunks, requests] = yield* Effect.all([
      answersOfRun(runIds),
      foundOfRun(runIds),
      chunksOfRun(runIds),
      requestsOfRun(runIds)
    ])
    const names = [...new Set([...providers, ...answers.keys(), ...chunks.keys(), ...requests.keys()])]
    return names.map((provider): ProviderFigures => ({
      provider,
      answers: answers.get(provider),
      found: found.get(provider) ?? {},
      chunks: chunks.get(provider),
      requests: requests.get(provider)
    }))
  })

const percent = (part: number, whole: number) => whole === 0 ? "-" : `${Math.round((100 * part) / whole)}%`

/**
 * One line per provider: `fiber      asked 284 (cached 0): work_email 150/284 (53%), phone 12/284 (4%); 310
 * credits; 3 chunks; 412 requests, 3 × 429, 5 retries; 12.3 s`.
 *
 * @since 0.1.0 @category Rendering
 */
export const render = (figures: ReadonlyArray<ProviderFigures>): ReadonlyArray<string> =>
  figures.map((f) => {
    const asked = f.answers?.asked ?? 0
    const fields = Contact.allFields.flatMap((field) => {
      const n = f.answers?.askedByField[field]
      if (n === undefined) return []
      const hits = f.found[field] ?? 0
      return [`${field} ${hits}/${n} (${percent(hits, n)})`]
    })
    const credits = f.chunks === undefined
      ? "0 credits"
      : f.chunks.estimated > 0
      ? `${f.chunks.charged} credits (~${f.chunks.estimated} estimated)`
      : `${f.chunks.charged} credits`
    const chunkCount = Object.values(f.chunks?.byState ?? {}).reduce((n, c) => n + c, 0)
    const http = f.requests === undefined
      ? "requests not recorded"
      : `${f.requests.requests} requests, ${f.requests.rateLimited} × 429, ${f.requests.retries} retries`
    return `  ${f.provider.padEnd(10)} asked ${asked} (cached ${f.answers?.cached ?? 0})` +
      (fields.length === 0 ? "" : `: ${fields.join(", ")}`) +
      `; ${credits}; ${chunkCount} chunk${chunkCount === 1 ? "" : "s"}; ${http}; ${
        (f.chunks?.seconds ?? 0).toFixed(1)
      } s`
  })
