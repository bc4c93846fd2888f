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
import type * as Array from "effect/Array"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Field, Mode } from "./Contact.js"
import {
  type EnrichmentError,
  formatPath,
  InvalidRequest,
  JobCanceled,
  JobFailed,
  MalformedResponse
} from "./EnrichmentError.js"
import { Identifier, type IdentifierKind, PersonKey } from "./Identifier.js"
import type { ProviderOutcome } from "./PersonResult.js"
import * as Polling from "./Polling.js"

/**
 * The providers this library ships. The CLI, the provider registry and the runner take their names from here;
 * the contract itself (`Capabilities.provider`) stays a string so that programs can add their own.
 *
 * @since 0.1.0 @category Models
 */
export const ProviderName = Schema.Literal("fiber", "crustdata", "thehog")
/** @since 0.1.0 @category Models */
export type ProviderName = typeof ProviderName.Type

/**
 * How a chunk reaches its provider: a batch job, or the synchronous path for small lists. Chosen when the chunk
 * is planned and kept with it, so that a resumed chunk takes the path it was recorded for (the two paths may
 * reach the provider under different idempotency keys: switching could pay twice).
 *
 * @since 0.1.0 @category Models
 */
export const ChunkPath = Schema.Literal("batch", "sync")
/** @since 0.1.0 @category Models */
export type ChunkPath = typeof ChunkPath.Type

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
  idempotencyKey: Schema.String,
  path: Schema.optionalWith(ChunkPath, { default: () => "batch" })
}) {}

/** A submitted job, as the ledger stores it. */
export class JobRef extends Schema.Class<JobRef>("JobRef")({
  provider: Schema.String,
  id: Schema.String,
  mode: Mode,
  path: Schema.optionalWith(ChunkPath, { default: () => "batch" }),
  submittedAt: Schema.DateTimeUtc,
  people: Schema.Number,
  fields: Schema.NonEmptyArray(Field),
  /** credits charged at submit, as the provider reported them (0 when it bills later) */
  charged: Schema.Number,
  /** `charged` is our estimate from the provider's price list: the provider reported no figure */
  estimated: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /**
   * What the provider needs to find the job again after a restart (a poll URL, the submitted URLs, an answer
   * kept whole), in the encoded form of the provider's own `Spec.meta` schema: opaque to everyone else.
   */
  meta: Schema.optionalWith(Schema.Unknown, { default: () => ({}) })
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
  /** `charged` / `refunded` are our estimate from the provider's price list: the provider reported no figure */
  estimated: Schema.optionalWith(Schema.Boolean, { default: () => false }),
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
  /**
   * How the provider reports what a job cost. `job-total` (default): its status states the job's figures so far,
   * so reading it again after a crash loses nothing. `per-answer` (Fiber): each answer reports only what that call
   * charged or refunded, so the answers a process read before it died are lost with it; a job read again after a
   * crash is then booked by its results at the price list (marked estimated) where the reports fall short of them.
   */
  readonly reports?: "job-total" | "per-answer" | undefined
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
  /**
   * The minute of `startsPerMinute` on this client's clock (default 60,000 ms). Against a simulator whose time
   * runs faster, every duration here is scaled alike (`scalePacing`), as the rate limits are.
   */
  readonly minuteMillis?: number
}

/**
 * `pacing` on the clock of a client that sees the provider's time run `factor`× faster (a time-scaled simulator).
 *
 * @since 0.1.0 @category Models
 */
export const scalePacing = (pacing: JobPacing, factor: number): JobPacing => ({
  startsPerMinute: pacing.startsPerMinute,
  firstMillis: pacing.firstMillis / factor,
  perPersonMillis: pacing.perPersonMillis / factor,
  minuteMillis: (pacing.minuteMillis ?? 60_000) / factor
})

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
 * With a run id, the same people asked again by a later run make a new chunk (retried, not taken for the old one).
 */
export const chunkKey = (
  provider: string,
  keys: ReadonlyArray<string>,
  fields: ReadonlyArray<Field>,
  path: ChunkPath = "batch",
  runId?: string
): string => {
  const text = [provider, ...[...fields].sort(), ...[...keys].sort(), ...(runId === undefined ? [] : [runId])].join(
    "\n"
  )
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

// ---------------------------------------------------------------------------------------------------------------
// make: what every provider adapter shares
// ---------------------------------------------------------------------------------------------------------------

/** A job as a provider module sees it: the stored reference and the provider's own meta, decoded. */
export interface Job<Meta> {
  readonly ref: JobRef
  readonly meta: Meta
}

/** What a provider's submit learned; `make` turns it into the stored `JobRef`. */
export interface Submission<Meta> {
  readonly id: string
  /** people the provider took on (after its own dedupe) */
  readonly people: number
  /** credits charged at submit (0 when the provider bills later) */
  readonly charged: number
  /** `charged` is our estimate: the provider reported no figure */
  readonly estimated: boolean
  readonly meta: Meta
  /** defaults to the request's path ("batch" or "sync") */
  readonly mode?: Mode | undefined
  /** when the provider says the job was created (a job found again after a crash); defaults to now */
  readonly submittedAt?: DateTime.Utc | undefined
}

/**
 * How results come: `streaming` providers page through a job while it runs (Fiber); `afterTerminal` ones have
 * nothing before the job ends (Crustdata's file, TheHog's operation), so `make` waits for a terminal status per
 * `Polling` (checking at once when `wake` completes, e.g. on a webhook), fails with `JobFailed` / `JobCanceled`
 * when it ended so, and hands the terminal status to `stream`.
 */
export type ResultsSpec<Meta, S> =
  | {
    readonly _tag: "streaming"
    readonly stream: (job: Job<Meta>, cursor: string | undefined) => Stream.Stream<ResultPage, EnrichmentError>
  }
  | {
    readonly _tag: "afterTerminal"
    readonly wake?: ((job: Job<Meta>) => Effect.Effect<void>) | undefined
    readonly stream: (
      job: Job<Meta>,
      terminal: S,
      cursor: string | undefined
    ) => Stream.Stream<ResultPage, EnrichmentError>
  }

/**
 * A provider adapter's own parts. `make` adds the rest: batch-size and identifier-kind checks, the JobRef and
 * its meta (encoded with `meta`, decoded before every call), waiting for terminal jobs, spans.
 *
 * @since 0.1.0 @category Models
 */
export interface Spec<Target, Meta, MetaEncoded, S> {
  readonly capabilities: Capabilities
  /** the provider's wire form of a person, or `undefined` when it takes no identifier of this kind */
  readonly target: (person: Person) => Target | undefined
  /** the provider's `JobRef.meta` */
  readonly meta: Schema.Schema<Meta, MetaEncoded>
  readonly submit: (
    request: EnrichRequest,
    targets: Array.NonEmptyReadonlyArray<Target>
  ) => Effect.Effect<Submission<Meta>, EnrichmentError>
  /** one status check, in the provider's own terms */
  readonly status: (job: Job<Meta>) => Effect.Effect<S, EnrichmentError>
  readonly toJobStatus: (status: S, job: Job<Meta>) => JobStatus
  /**
   * the fraction of a running job done (0 to 1), when the provider reports one: an `afterTerminal` job's polls
   * are then paced to when it should end (`Polling.awaitTerminal`)
   */
  readonly progress?: ((status: S) => number | undefined) | undefined
  readonly results: ResultsSpec<Meta, S>
  /** absent: the provider documents no cancel, and `cancel` reports where the job stands */
  readonly cancel?: ((job: Job<Meta>) => Effect.Effect<void, EnrichmentError>) | undefined
  /** present when `capabilities.sync` is set */
  readonly enrichSync?:
    | ((
      request: EnrichRequest,
      targets: Array.NonEmptyReadonlyArray<Target>
    ) => Effect.Effect<ReadonlyArray<ProviderOutcome>, EnrichmentError>)
    | undefined
  /** for `resubmitSafety: "job-list"` (see `ContactProviderService.findSubmitted`) */
  readonly findSubmitted?:
    | ((
      request: EnrichRequest,
      targets: Array.NonEmptyReadonlyArray<Target>
    ) => Effect.Effect<Option.Option<Submission<Meta>>, EnrichmentError>)
    | undefined
}

type AnySpec<Target, Meta, S> = Spec<Target, Meta, any, S>

/** The people of a request as the provider's wire targets, within `limit` and the identifier kinds it takes. */
const targetsOf = <Target, Meta, S>(
  spec: AnySpec<Target, Meta, S>,
  request: EnrichRequest,
  limit: number,
  path: ChunkPath
): Effect.Effect<Array.NonEmptyReadonlyArray<Target>, InvalidRequest> =>
  Effect.gen(function*() {
    const { capabilities: { identifierKinds, provider } } = spec
    if (request.people.length > limit) {
      return yield* new InvalidRequest({
        provider,
        message: `${provider} takes at most ${limit} people per ${path} request, got ${request.people.length}`
      })
    }
    const targets: Array<Target> = []
    for (const person of request.people) {
      const target = spec.target(person)
      if (target === undefined) {
        return yield* new InvalidRequest({
          provider,
          message: `${provider} takes ${identifierKinds.join(", ")} identifiers, not ${person.identifier.kind}`
        })
      }
      targets.push(target)
    }
    return targets as unknown as Array.NonEmptyReadonlyArray<Target>
  })

/** The stored `JobRef` of a submission and back: the provider's meta encoded with its own Schema. */
const jobRefs = <Target, Meta, S>(spec: AnySpec<Target, Meta, S>) => {
  const provider = spec.capabilities.provider
  const encodeMeta = Schema.encode(spec.meta)
  const decodeMeta = Schema.decodeUnknown(spec.meta)
  const jobOf = (ref: JobRef): Effect.Effect<Job<Meta>, EnrichmentError> =>
    Effect.map(
      Effect.mapError(decodeMeta(ref.meta), (error) => {
        const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
        return new MalformedResponse({
          provider,
          endpoint: "job reference",
          path: formatPath(issue?.path ?? []),
          detail: `${issue?.message ?? error.message} (job ${ref.id})`
        })
      }),
      (meta) => ({ ref, meta })
    )
  const refOf = (request: EnrichRequest, submission: Submission<Meta>): Effect.Effect<JobRef> =>
    Effect.gen(function*() {
      // a meta the provider's own Schema cannot encode is a bug in the provider module
      const meta = yield* Effect.orDie(encodeMeta(submission.meta))
      return new JobRef({
        provider,
        id: submission.id,
        mode: submission.mode ?? request.path,
        path: request.path,
        submittedAt: submission.submittedAt ?? (yield* DateTime.now),
        people: submission.people,
        fields: request.fields,
        charged: submission.charged,
        estimated: submission.estimated,
        meta
      })
    })
  return { jobOf, refOf }
}

/**
 * Results of a provider that has nothing before its job ends: waits for a terminal status per `Polling` (at once
 * on `wake`), fails with `JobFailed` / `JobCanceled` when it ended so, and puts the final status on the last page,
 * so nobody polls again to settle credits.
 */
const afterTerminal = <Target, Meta, S>(
  spec: AnySpec<Target, Meta, S>,
  results: Extract<ResultsSpec<Meta, S>, { _tag: "afterTerminal" }>,
  job: Job<Meta>,
  cursor: string | undefined
): Stream.Stream<ResultPage, EnrichmentError> =>
  Stream.unwrap(Effect.gen(function*() {
    const provider = spec.capabilities.provider
    const terminal = yield* Polling.awaitTerminal(spec.status(job), {
      isTerminal: (s) => spec.toJobStatus(s, job).terminal,
      provider,
      jobId: job.ref.id,
      wake: results.wake?.(job),
      progress: spec.progress
    })
    const status = spec.toJobStatus(terminal, job)
    if (status.state === "failed") {
      return yield* new JobFailed({ provider, jobId: job.ref.id, message: status.message ?? "the job failed" })
    }
    if (status.state === "canceled") return yield* new JobCanceled({ provider, jobId: job.ref.id })
    return Stream.map(
      results.stream(job, terminal, cursor),
      (page): ResultPage => page.cursor === undefined && page.final === undefined ? { ...page, final: status } : page
    )
  }))

/**
 * A `ContactProviderService` from a provider's `Spec`.
 *
 * @since 0.1.0 @category Constructors
 */
export const make = <Target, Meta, MetaEncoded, S>(
  spec: Spec<Target, Meta, MetaEncoded, S>
): ContactProviderService => {
  const { capabilities } = spec
  const provider = capabilities.provider
  const span = (name: string, attributes: Record<string, unknown>) =>
    Effect.withSpan(`${provider}.${name}`, { attributes: { provider, ...attributes } })
  const { jobOf, refOf } = jobRefs(spec)

  const submit = (request: EnrichRequest) =>
    targetsOf(spec, request, capabilities.maxBatch, "batch").pipe(
      Effect.flatMap((targets) => spec.submit(request, targets)),
      Effect.flatMap((submission) => refOf(request, submission)),
      span("submit", { people: request.people.length, chunk: request.idempotencyKey })
    )

  const statusOf = (job: Job<Meta>) => Effect.map(spec.status(job), (s) => spec.toJobStatus(s, job))
  const poll = (ref: JobRef) => jobOf(ref).pipe(Effect.flatMap(statusOf), span("poll", { job: ref.id }))

  const results = (ref: JobRef, cursor?: string) =>
    Stream.unwrap(Effect.map(jobOf(ref), (job) =>
      spec.results._tag === "streaming"
        ? spec.results.stream(job, cursor)
        : afterTerminal(spec, spec.results, job, cursor))).pipe(
        Stream.withSpan(`${provider}.results`, { attributes: { provider, job: ref.id } })
      )

  const cancel = (ref: JobRef) =>
    jobOf(ref).pipe(
      Effect.flatMap((job) => Effect.zipRight(spec.cancel?.(job) ?? Effect.void, statusOf(job))),
      span("cancel", { job: ref.id })
    )

  const enrichSync = (request: EnrichRequest) => {
    const sync = spec.enrichSync
    if (capabilities.sync === undefined || sync === undefined) {
      return Effect.fail(new InvalidRequest({ provider, message: `${provider} has no synchronous path` }))
    }
    return targetsOf(spec, request, capabilities.sync.maxBatch, "sync").pipe(
      Effect.flatMap((targets) => sync(request, targets)),
      span("enrichSync", { people: request.people.length, chunk: request.idempotencyKey })
    )
  }

  const find = spec.findSubmitted
  const findSubmitted = find === undefined ?
    undefined :
    (request: EnrichRequest) =>
      targetsOf(spec, request, capabilities.maxBatch, "batch").pipe(
        Effect.flatMap((targets) => find(request, targets)),
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeed(Option.none<JobRef>()),
          onSome: (submission) => Effect.map(refOf(request, submission), Option.some)
        })),
        span("findSubmitted", { people: request.people.length })
      )

  return {
    capabilities,
    submit,
    poll,
    results,
    cancel,
    enrichSync,
    ...(findSubmitted === undefined ? {} : { findSubmitted })
  }
}
