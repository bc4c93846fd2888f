/**
 * Where the waterfall writes down what it does, so that a crash loses nothing and pays nothing twice:
 * a chunk is recorded before it is sent, its remote job right after, every page of outcomes with the
 * cursor after it, in one step. The worker backs this with its SQL ledger; `layerMemory` keeps it in
 * memory for programs that need no durability.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
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

/** One outcome a run holds for a person at a provider: committed by one of its chunks, or reused. */
export interface RunOutcome {
  readonly provider: string
  readonly outcome: ProviderOutcome
  /** the chunk that committed it; undefined when it was bought by an earlier run and reused (`reuse`) */
  readonly chunk: string | undefined
}

/**
 * A person this attempt got no answer for at a provider: never sent because the budget ran out (`budget`), or
 * failed without a journaled outcome (`failed`: the provider was stopped, the chunk stalled or is ambiguous).
 * Kept for the output; a resume clears them and asks again.
 *
 * @since 0.1.0 @category Models
 */
export class SetAside extends Schema.Class<SetAside>("SetAside")({
  key: PersonKey,
  provider: Schema.String,
  kind: Schema.Literal("budget", "failed"),
  reason: Schema.String,
  /** the chunk it was in, when it was in one (stalled, ambiguous) */
  chunk: Schema.optional(Schema.String)
}) {}

/** Credits a run's chunks booked at one provider, and what its open chunks still hold reserved. */
export interface ProviderCredits {
  readonly provider: string
  /** credits of finished and failed chunks */
  readonly charged: number
  /** the part of `charged` that is our estimate */
  readonly estimated: number
  /** reservations of chunks recorded or submitted and not finished */
  readonly reserved: number
}

/** @since 0.1.0 @category Models */
export interface JournalService {
  /** the chunk as recorded earlier (resume), or records it now in state "recorded"; call before submitting */
  readonly recordChunk: (chunk: NewChunk) => Effect.Effect<ChunkRecord, JournalError>
  readonly markSubmitted: (idempotencyKey: string, job: JobRef) => Effect.Effect<void, JournalError>
  /**
   * A chunk stopped before its request left (its send was interrupted at the rate-limit gate): removed, with its
   * reservation, as if it had never been recorded, so that a resume sends its people instead of reporting the
   * chunk ambiguous. A chunk past "recorded" is kept.
   */
  readonly forgetUnsent: (idempotencyKey: string) => Effect.Effect<void, JournalError>
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
  /** a run's chunks not finished (recorded or submitted), in the order they were recorded: a resume adopts them */
  readonly openChunks: (runId: string) => Effect.Effect<ReadonlyArray<ChunkRecord>, JournalError>
  /** per provider, what a run's chunks booked and still hold reserved (providers with no chunk are absent) */
  readonly creditsOfRun: (runId: string) => Effect.Effect<ReadonlyArray<ProviderCredits>, JournalError>
  /**
   * Records outcomes bought by earlier runs (found with `outcomesFor`) as this run's, for the fields they were
   * asked for: its output and a resume then see them like the ones its chunks committed.
   */
  readonly reuse: (
    runId: string,
    provider: string,
    fields: ReadonlyArray<Field>,
    outcomes: ReadonlyArray<ProviderOutcome>
  ) => Effect.Effect<void, JournalError>
  /** every outcome a run holds for these people (its chunks' and the reused), in commit order per person */
  readonly outcomesOfRun: (
    runId: string,
    keys: ReadonlyArray<PersonKey>
  ) => Effect.Effect<ReadonlyMap<PersonKey, ReadonlyArray<RunOutcome>>, JournalError>
  /** writes down people set aside; one entry per run, provider and person (a later one replaces it) */
  readonly setAside: (runId: string, entries: ReadonlyArray<SetAside>) => Effect.Effect<void, JournalError>
  /** forgets a run's set-aside people: a resume asks about them again */
  readonly clearSetAside: (runId: string) => Effect.Effect<void, JournalError>
  readonly setAsideOf: (
    runId: string,
    keys: ReadonlyArray<PersonKey>
  ) => Effect.Effect<ReadonlyMap<PersonKey, ReadonlyArray<SetAside>>, JournalError>
  /**
   * `recordChunk`, unless open chunks of other runs (see `heldElsewhere`) hold some of its people, or some of
   * them have been answered (see `outcomesFor`, within `maxAge`) since the caller looked: then nothing is recorded
   * and those people are returned. The checks and the record are one step: of two runs recording chunks for the
   * same people at once, one records and the other is told they are held; and a chunk that settled between the
   * caller's cache lookup and this record does not have its people bought again.
   */
  readonly recordChunkUnlessHeld: (
    chunk: NewChunk,
    since: number,
    maxAge: Duration.DurationInput
  ) => Effect.Effect<ChunkRecord | ReadonlySet<PersonKey>, JournalError>
  /**
   * People among `keys` whom open chunks (recorded or submitted) of other runs are asking `provider` about, for
   * a field selection that covers `fields`, and that changed at or after `since` (epoch ms; older ones are taken
   * for abandoned): a run waits for them and reuses what they buy instead of buying it a second time.
   */
  readonly heldElsewhere: (
    provider: string,
    keys: ReadonlyArray<PersonKey>,
    fields: ReadonlyArray<Field>,
    runId: string,
    since: number
  ) => Effect.Effect<ReadonlySet<PersonKey>, JournalError>
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

/** Outcomes in memory, indexed for cache lookups (provider, person) and for a run's (run, person). */
const makeOutcomeStore = () => {
  interface Stored {
    readonly runId: string
    readonly provider: string
    readonly fields: ReadonlyArray<Field>
    readonly outcome: ProviderOutcome
    readonly chunk: string | undefined
  }
  const byProvider = new Map<string, Array<Stored>>()
  const byRun = new Map<string, Array<Stored>>()
  const push = (index: Map<string, Array<Stored>>, key: string, stored: Stored) =>
    index.set(key, [...(index.get(key) ?? []), stored])
  return {
    add: (runId: string, provider: string, fields: ReadonlyArray<Field>, chunk: string | undefined) =>
    (
      outcome: ProviderOutcome
    ) => {
      if (outcome.key === undefined) return
      const stored = { runId, provider, fields, outcome, chunk }
      push(byProvider, `${provider}\n${outcome.key}`, stored)
      push(byRun, `${runId}\n${outcome.key}`, stored)
    },
    atProvider: (provider: string, key: PersonKey): ReadonlyArray<Stored> =>
      byProvider.get(`${provider}\n${key}`) ?? [],
    inRun: (runId: string, key: PersonKey): ReadonlyArray<Stored> | undefined => byRun.get(`${runId}\n${key}`)
  }
}

/** `outcomesFor` on the in-memory outcomes, as of `now` */
const cachedIn = (
  outcomes: ReturnType<typeof makeOutcomeStore>,
  now: number,
  provider: string,
  keys: ReadonlyArray<PersonKey>,
  fields: ReadonlyArray<Field>,
  maxAge: Duration.DurationInput
): ReadonlyMap<PersonKey, ProviderOutcome> => {
  const oldest = now - Duration.toMillis(maxAge)
  const found = new Map<PersonKey, ProviderOutcome>()
  for (const key of keys) {
    // as the SQL journal: the newest observation that covers the fields, ties to the latest committed
    const list = outcomes.atProvider(provider, key)
    let best: { at: number; outcome: ProviderOutcome } | undefined
    for (const { fields: had, outcome } of list) {
      const at = observedMillis(outcome)
      if (at === undefined || at < oldest || !covers(had, fields)) continue
      if (best === undefined || at >= best.at) best = { at, outcome }
    }
    if (best !== undefined) found.set(key, best.outcome)
  }
  return found
}

/** A chunk not settled yet: recorded, or submitted and not finished. */
const isOpen = (chunk: ChunkRecord) => chunk.state === "recorded" || chunk.state === "submitted"

/** A run's credits per provider from its chunks: charged once settled, reserved while open. */
const creditsIn = (chunks: ReadonlyArray<ChunkRecord>) => {
  const totals = new Map<string, { charged: number; estimated: number; reserved: number }>()
  for (const chunk of chunks) {
    const t = totals.get(chunk.provider) ?? { charged: 0, estimated: 0, reserved: 0 }
    if (isOpen(chunk)) t.reserved += chunk.reserved
    else {
      t.charged += chunk.charged ?? 0
      if (chunk.estimated) t.estimated += chunk.charged ?? 0
    }
    totals.set(chunk.provider, t)
  }
  return [...totals].map(([provider, t]) => ({ provider, ...t }))
}

/** The in-memory journal's people set aside, per run. */
const makeSetAsides = (): Pick<JournalService, "setAside" | "clearSetAside" | "setAsideOf"> => {
  const setAsides = new Map<string, Map<string, SetAside>>()
  return {
    setAside: (runId, entries) =>
      Effect.sync(() => {
        const run = setAsides.get(runId) ?? new Map<string, SetAside>()
        for (const entry of entries) run.set(`${entry.provider}\n${entry.key}`, entry)
        setAsides.set(runId, run)
      }),
    clearSetAside: (runId) => Effect.sync(() => void setAsides.delete(runId)),
    setAsideOf: (runId, keys) =>
      Effect.sync(() => {
        const wanted = new Set<string>(keys)
        const found = new Map<PersonKey, Array<SetAside>>()
        for (const entry of setAsides.get(runId)?.values() ?? []) {
          if (!wanted.has(entry.key)) continue
          found.set(entry.key, [...(found.get(entry.key) ?? []), entry])
        }
        return found as ReadonlyMap<PersonKey, ReadonlyArray<SetAside>>
      })
  }
}

/** An in-memory journal: same contract, no durability. */
export const makeMemory = Effect.sync((): JournalService => {
  const chunks = new Map<string, ChunkRecord>()
  const outcomes = makeOutcomeStore()
  const update = (key: string, f: (chunk: ChunkRecord) => ChunkRecord) =>
    Effect.suspend(() => {
      const chunk = chunks.get(key)
      if (chunk === undefined) return Effect.fail(new JournalError({ message: `unknown chunk ${key}` }))
      chunks.set(key, f(chunk))
      return Effect.void
    })
  const ofRun = (runId: string) => [...chunks.values()].filter((c) => c.runId === runId)
  const record = (chunk: NewChunk) => {
    const existing = chunks.get(chunk.idempotencyKey)
    if (existing !== undefined) return existing
    const recorded = new ChunkRecord({ ...chunk, keys: [...chunk.keys], state: "recorded" })
    chunks.set(chunk.idempotencyKey, recorded)
    return recorded
  }
  const heldBy = (provider: string, keys: ReadonlyArray<PersonKey>, fields: ReadonlyArray<Field>, runId: string) => {
    const wanted = new Set(keys)
    const held = new Set<PersonKey>()
    for (const chunk of chunks.values()) {
      if (chunk.provider !== provider || chunk.runId === runId || !isOpen(chunk)) continue
      if (!covers(chunk.fields, fields)) continue
      for (const key of chunk.keys) if (wanted.has(key)) held.add(key)
    }
    return held
  }
  return {
    recordChunk: (chunk) => Effect.sync(() => record(chunk)),
    // synchronous: nothing runs between the checks and the record
    recordChunkUnlessHeld: (chunk, _since, maxAge) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (chunks.has(chunk.idempotencyKey)) return record(chunk)
        const held = heldBy(chunk.provider, chunk.keys, chunk.fields, chunk.runId)
        for (const key of cachedIn(outcomes, now, chunk.provider, chunk.keys, chunk.fields, maxAge).keys()) {
          held.add(key)
        }
        return held.size > 0 ? held : record(chunk)
      }),
    markSubmitted: (key, job) => update(key, (c) => new ChunkRecord({ ...c, state: "submitted", job })),
    forgetUnsent: (key) =>
      Effect.sync(() => {
        if (chunks.get(key)?.state === "recorded") chunks.delete(key)
      }),
    commitPage: (key, page, cursor) =>
      Effect.zipRight(
        update(key, (c) => new ChunkRecord({ ...c, ...(cursor === undefined ? {} : { cursor }) })),
        Effect.sync(() => {
          const chunk = chunks.get(key)!
          page.forEach(outcomes.add(chunk.runId, chunk.provider, chunk.fields, key))
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
    chunks: (runId) => Effect.sync(() => ofRun(runId)),
    openChunks: (runId) => Effect.sync(() => ofRun(runId).filter(isOpen)),
    // one process: every open chunk is live, so `since` is not needed here
    heldElsewhere: (provider, keys, fields, runId) => Effect.sync(() => heldBy(provider, keys, fields, runId)),
    creditsOfRun: (runId) => Effect.sync(() => creditsIn(ofRun(runId))),
    reuse: (runId, provider, fields, reused) =>
      Effect.sync(() => reused.forEach(outcomes.add(runId, provider, fields, undefined))),
    outcomesOfRun: (runId, keys) =>
      Effect.sync(() => {
        const found = new Map<PersonKey, ReadonlyArray<RunOutcome>>()
        for (const key of keys) {
          const list = outcomes.inRun(runId, key)
          if (list !== undefined) {
            found.set(key, list.map(({ chunk, outcome, provider }) => ({ provider, outcome, chunk })))
          }
        }
        return found
      }),
    ...makeSetAsides(),
    outcomesFor: (provider, keys, fields, maxAge) =>
      Effect.map(Clock.currentTimeMillis, (now) => cachedIn(outcomes, now, provider, keys, fields, maxAge))
  }
})

/** @since 0.1.0 @category Layers */
export const layerMemory: Layer.Layer<Journal> = Layer.effect(Journal, makeMemory)
