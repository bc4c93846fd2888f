/**
 * Where the waterfall writes down what it does, so that a crash loses nothing and pays nothing twice:
 * a chunk is recorded before it is sent, its remote job right after, every page of outcomes with the
 * cursor after it, in one step. The worker backs this with its SQL ledger; `layerMemory` keeps it in
 * memory for programs that need no durability.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Field } from "./Contact.js"
import { ChunkPath, JobRef } from "./ContactProvider.js"
import { PersonKey } from "./Identifier.js"
import type { ProviderOutcome } from "./PersonResult.js"

/** @since 0.1.0 @category Errors */
export class JournalError extends Schema.TaggedError<JournalError>()("JournalError", {
  message: Schema.String
}) {}

/** @since 0.1.0 @category Models */
export const ChunkState = Schema.Literal("recorded", "submitted", "finished", "failed")
/** @since 0.1.0 @category Models */
export type ChunkState = typeof ChunkState.Type

/** @since 0.1.0 @category Models */
export class ChunkRecord extends Schema.Class<ChunkRecord>("ChunkRecord")({
  runId: Schema.String,
  provider: Schema.String,
  /** also the chunk's identity: derived from provider, people and fields (`ContactProvider.chunkKey`) */
  idempotencyKey: Schema.String,
  keys: Schema.Array(PersonKey),
  fields: Schema.NonEmptyArray(Field),
  /** the path the chunk was planned for, and takes again on resume */
  path: Schema.optionalWith(ChunkPath, { default: () => "batch" }),
  state: ChunkState,
  job: Schema.optional(JobRef),
  /** resume the result stream after this cursor */
  cursor: Schema.optional(Schema.String),
  /** credits reserved from the budget for this chunk */
  reserved: Schema.Number,
  /** credits the provider charged in the end (set when finished) */
  charged: Schema.optional(Schema.Number),
  /** `charged` is our estimate from the provider's price list: the provider reported no figure */
  estimated: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  message: Schema.optional(Schema.String)
}) {}

/** @since 0.1.0 @category Models */
export interface NewChunk {
  readonly runId: string
  readonly provider: string
  readonly idempotencyKey: string
  readonly keys: ReadonlyArray<PersonKey>
  readonly fields: readonly [Field, ...Array<Field>]
  readonly path: ChunkPath
  readonly reserved: number
}

/** @since 0.1.0 @category Models */
export interface JournalService {
  /** the chunk as recorded earlier (resume), or records it now in state "recorded"; call before submitting */
  readonly recordChunk: (chunk: NewChunk) => Effect.Effect<ChunkRecord, JournalError>
  readonly markSubmitted: (idempotencyKey: string, job: JobRef) => Effect.Effect<void, JournalError>
  /** the outcomes of one page and the cursor after it, atomically */
  readonly commitPage: (
    idempotencyKey: string,
    outcomes: ReadonlyArray<ProviderOutcome>,
    cursor: string | undefined
  ) => Effect.Effect<void, JournalError>
  readonly finishChunk: (
    idempotencyKey: string,
    result: {
      readonly state: "finished" | "failed"
      readonly charged: number
      /** `charged` is an estimate (see `ChunkRecord.estimated`) */
      readonly estimated: boolean
      readonly message?: string
    }
  ) => Effect.Effect<void, JournalError>
  /** chunks of a run, in the order they were recorded */
  readonly chunks: (runId: string) => Effect.Effect<ReadonlyArray<ChunkRecord>, JournalError>
  /**
   * Outcomes already bought for these people at this provider, for a field selection that covers `fields`,
   * observed within `maxAge`: reused instead of bought again. The newest per person.
   */
  readonly outcomesFor: (
    provider: string,
    keys: ReadonlyArray<PersonKey>,
    fields: ReadonlyArray<Field>,
    maxAge: Duration.DurationInput
  ) => Effect.Effect<ReadonlyMap<PersonKey, ProviderOutcome>, JournalError>
}

/** @since 0.1.0 @category Context */
export class Journal extends Context.Tag("@enrich/core/Journal")<Journal, JournalService>() {}

/** Whether outcomes bought for `had` answer a request for `want`. */
export const covers = (had: ReadonlyArray<Field>, want: ReadonlyArray<Field>): boolean =>
  want.every((field) => had.includes(field))

/** The time an outcome was observed, for cache ages (Rejected/Failed have none: they are never reused). */
export const observedMillis = (outcome: ProviderOutcome): number | undefined =>
  outcome._tag === "Found" || outcome._tag === "NotFound"
    ? outcome.provenance.observedAt.epochMillis
    : undefined

/** An in-memory journal: same contract, no durability. */
export const makeMemory = Effect.sync((): JournalService => {
  const chunks = new Map<string, ChunkRecord>()
  const outcomes = new Map<string, Array<{ fields: ReadonlyArray<Field>; outcome: ProviderOutcome }>>()
  const update = (key: string, f: (chunk: ChunkRecord) => ChunkRecord) =>
    Effect.suspend(() => {
      const chunk = chunks.get(key)
      if (chunk === undefined) return Effect.fail(new JournalError({ message: `unknown chunk ${key}` }))
      chunks.set(key, f(chunk))
      return Effect.void
    })
  return {
    recordChunk: (chunk) =>
      Effect.sync(() => {
        const existing = chunks.get(chunk.idempotencyKey)
        if (existing !== undefined) return existing
        const record = new ChunkRecord({ ...chunk, keys: [...chunk.keys], state: "recorded" })
        chunks.set(chunk.idempotencyKey, record)
        return record
      }),
    markSubmitted: (key, job) => update(key, (c) => new ChunkRecord({ ...c, state: "submitted", job })),
    commitPage: (key, page, cursor) =>
      Effect.zipRight(
        update(key, (c) => new ChunkRecord({ ...c, ...(cursor === undefined ? {} : { cursor }) })),
        Effect.sync(() => {
          const chunk = chunks.get(key)!
          for (const outcome of page) {
            const id = `${chunk.provider}\n${outcome.key}`
            const list = outcomes.get(id) ?? []
            list.push({ fields: chunk.fields, outcome })
            outcomes.set(id, list)
          }
        })
      ),
    finishChunk: (key, result) =>
      update(key, (c) =>
        new ChunkRecord({
          ...c,
          state: result.state,
          charged: result.charged,
          estimated: result.estimated,
          ...(result.message === undefined ? {} : { message: result.message })
        })),
    chunks: (runId) => Effect.sync(() => [...chunks.values()].filter((c) => c.runId === runId)),
    outcomesFor: (provider, keys, fields, maxAge) =>
      Effect.clockWith((clock) =>
        Effect.map(clock.currentTimeMillis, (now) => {
          const oldest = now - Duration.toMillis(maxAge)
          const found = new Map<PersonKey, ProviderOutcome>()
          for (const key of keys) {
            // as the SQL journal: the newest observation that covers the fields, ties to the latest committed
            const list = outcomes.get(`${provider}\n${key}`) ?? []
            let best: { at: number; outcome: ProviderOutcome } | undefined
            for (const { fields: had, outcome } of list) {
              const at = observedMillis(outcome)
              if (at === undefined || at < oldest || !covers(had, fields)) continue
              if (best === undefined || at >= best.at) best = { at, outcome }
            }
            if (best !== undefined) found.set(key, best.outcome)
          }
          return found as ReadonlyMap<PersonKey, ProviderOutcome>
        })
      )
  }
})

/** @since 0.1.0 @category Layers */
export const layerMemory: Layer.Layer<Journal> = Layer.effect(Journal, makeMemory)
