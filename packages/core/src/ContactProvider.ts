/**
 * The provider-agnostic contract every contact-data provider is adapted to. The waterfall, the worker
 * and tests only ever talk to this interface.
 *
 * Lifecycle: `submit` a chunk (≤ `capabilities.maxBatch`) → `JobRef` (serialisable, so the ledger can
 * keep it across a crash) → `results(ref, cursor)` streams pages of outcomes, waiting for the job as
 * needed, each page with the cursor to resume after it. `poll` is a single status check; `cancel` stops
 * what has not started. Small lists can use `enrichSync` when `capabilities.sync` is set.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import { Field, Mode } from "./Contact.js"
import type { EnrichmentError } from "./EnrichmentError.js"
import { Identifier, type IdentifierKind, PersonKey } from "./Identifier.js"
import type { ProviderOutcome } from "./PersonResult.js"

/** @since 0.1.0 @category Models */
export class Person extends Schema.Class<Person>("Person")({
  key: PersonKey,
  identifier: Identifier
}) {}

/** One chunk of people for one provider, within its caps. */
export class EnrichRequest extends Schema.Class<EnrichRequest>("EnrichRequest")({
  people: Schema.NonEmptyArray(Person),
  fields: Schema.NonEmptyArray(Field),
  /**
   * Stable for the chunk (derived from provider, people and fields): a retried submit of the same chunk
   * carries the same key, so providers that honour it (TheHog) never run or charge it twice.
   */
  idempotencyKey: Schema.String
}) {}

/** A submitted job, as the ledger stores it. */
export class JobRef extends Schema.Class<JobRef>("JobRef")({
  provider: Schema.String,
  id: Schema.String,
  mode: Mode,
  submittedAt: Schema.DateTimeUtc,
  people: Schema.Number,
  fields: Schema.NonEmptyArray(Field),
  /** credits the provider reported charging at submit (0 when it bills later) */
  charged: Schema.Number,
  /** provider specifics needed to poll again after a restart (e.g. a poll URL) */
  meta: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) })
}) {}

/** @since 0.1.0 @category Models */
export const JobState = Schema.Literal("queued", "running", "completed", "failed", "canceled")
/** @since 0.1.0 @category Models */
export type JobState = typeof JobState.Type

/** @since 0.1.0 @category Models */
export class JobStatus extends Schema.Class<JobStatus>("JobStatus")({
  state: JobState,
  total: Schema.optional(Schema.Number),
  finished: Schema.optional(Schema.Number),
  /** credits charged / refunded so far, as the provider reports them (0 when it does not) */
  charged: Schema.Number,
  refunded: Schema.Number,
  message: Schema.optional(Schema.String)
}) {
  get terminal(): boolean {
    return this.state === "completed" || this.state === "failed" || this.state === "canceled"
  }
}

/** A page of outcomes and the cursor that resumes right after it (`undefined`: this was the last page). */
export interface ResultPage {
  readonly results: ReadonlyArray<ProviderOutcome>
  readonly cursor: string | undefined
  /**
   * On the last page, the job's final status when the provider sends it with the results (Fiber): the caller
   * settles credits from it without another status call.
   */
  readonly final?: JobStatus | undefined
}

/** How a provider bills, so the budget can reserve before it spends and settle afterwards. */
export interface CostModel {
  /** when credits are taken */
  readonly billing: "upfront-per-person" | "per-value-delivered" | "per-request"
  /** the most one person can cost for these fields (what the budget reserves) */
  readonly maxPerPerson: (fields: ReadonlyArray<Field>, mode: Mode) => number
}

/** @since 0.1.0 @category Models */
export interface Capabilities {
  readonly provider: string
  readonly identifierKinds: ReadonlyArray<IdentifierKind>
  readonly fields: ReadonlyArray<Field>
  readonly maxBatch: number
  /** provider-side cap on jobs in flight, enforced client-side with a semaphore */
  readonly maxActiveJobs: number | undefined
  /** the synchronous path for small lists, when the provider has one */
  readonly sync: { readonly maxBatch: number } | undefined
  readonly cost: CostModel
  /**
   * What makes a resubmission after a crash safe: an idempotency key the provider honours, a job list we can
   * search, or nothing (then an ambiguous chunk is reported, and resubmitted only on request).
   */
  readonly resubmitSafety: "idempotency-key" | "job-list" | "none"
  /** how jobs progress, for providers without an active-job cap (see `ChunkPlan`); absent: full chunks */
  readonly pacing?: JobPacing | undefined
}

/**
 * A provider whose jobs start at most `startsPerMinute` a minute and work through their people one after
 * another: a job of n people takes about `firstMillis + (n - 1) × perPersonMillis`.
 *
 * @since 0.1.0 @category Models
 */
export interface JobPacing {
  readonly startsPerMinute: number
  readonly firstMillis: number
  readonly perPersonMillis: number
}

/** @since 0.1.0 @category Models */
export interface ContactProviderService {
  readonly capabilities: Capabilities
  readonly submit: (request: EnrichRequest) => Effect.Effect<JobRef, EnrichmentError>
  readonly poll: (ref: JobRef) => Effect.Effect<JobStatus, EnrichmentError>
  /** waits for the job as needed; resumes after `cursor` when given */
  readonly results: (ref: JobRef, cursor?: string) => Stream.Stream<ResultPage, EnrichmentError>
  readonly cancel: (ref: JobRef) => Effect.Effect<JobStatus, EnrichmentError>
  /** synchronous lookup of at most `capabilities.sync.maxBatch` people; fails with InvalidRequest when unsupported */
  readonly enrichSync: (request: EnrichRequest) => Effect.Effect<ReadonlyArray<ProviderOutcome>, EnrichmentError>
  /**
   * For `resubmitSafety: "job-list"`: after a crash between recording a chunk and learning its job id, the job
   * this exact request already started, found in the provider's job list (None: it never arrived, sending is
   * safe). Waits for a candidate job to finish when that is the only way to compare its people.
   */
  readonly findSubmitted?: (request: EnrichRequest) => Effect.Effect<Option.Option<JobRef>, EnrichmentError>
}

/** One provider, for programs that use a single one. */
export class ContactProvider extends Context.Tag("@enrich/core/ContactProvider")<
  ContactProvider,
  ContactProviderService
>() {}

/** Every configured provider by name, for the waterfall. */
export class ContactProviders extends Context.Tag("@enrich/core/ContactProviders")<
  ContactProviders,
  ReadonlyMap<string, ContactProviderService>
>() {
  static fromServices(services: ReadonlyArray<ContactProviderService>): ReadonlyMap<string, ContactProviderService> {
    return new Map(services.map((service) => [service.capabilities.provider, service]))
  }
}

/** Whether a provider can take this person at all (identifier kind routing). */
export const accepts = (capabilities: Capabilities, person: Person): boolean =>
  capabilities.identifierKinds.includes(person.identifier.kind)

/**
 * Stable idempotency key for a chunk: FNV-1a over provider, sorted keys and fields. A chunk answered through the
 * synchronous path says so in its key (`-sync-`), so that a resumed chunk takes the path it was recorded for: the
 * two paths may reach the provider under different idempotency keys (TheHog), and switching could pay twice.
 */
export const chunkKey = (
  provider: string,
  keys: ReadonlyArray<string>,
  fields: ReadonlyArray<Field>,
  path: "batch" | "sync" = "batch"
): string => {
  const text = [provider, ...[...fields].sort(), ...[...keys].sort()].join("\n")
  let h1 = 0x811c9dc5
  let h2 = 0x01000193
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0
  }
  const hash = `${h1.toString(16).padStart(8, "0")}${h2.toString(16).padStart(8, "0")}`
  return `${provider}-${path === "sync" ? "sync-" : ""}${hash}-${keys.length}`
}

/** Whether `chunkKey` made this key for the synchronous path. */
export const isSyncChunkKey = (provider: string, key: string): boolean => key.startsWith(`${provider}-sync-`)
