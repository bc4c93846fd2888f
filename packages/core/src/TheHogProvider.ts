/**
 * TheHog as a `ContactProvider`, built with `ContactProvider.make`: `submit` always sends `identifiers` (TheHog
 * answers 202 with a job reference), `enrichSync` sends a single LinkedIn `/in/` person as `identifier` (200) and
 * anyone else as `identifiers` (202, then waits); `results` come once the operation is terminal.
 *
 * Credits: TheHog's answers carry no cost unless `meta.cost` is present. `meta.cost.actual` is booked as
 * reported; without it, the price list's figure is booked marked `estimated` (on the JobRef, the JobStatus and
 * each outcome's Provenance). A `failed` operation is charged nothing unless TheHog reported a charge. An
 * Idempotency-Key replay of an earlier submit's answer was paid by that submit: it is charged 0 here.
 *
 * @since 0.1.0
 */
import type * as Array from "effect/Array"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Field } from "./Contact.js"
import {
  type Capabilities,
  ContactProvider,
  type ContactProviderService,
  type CostModel,
  type EnrichRequest,
  type Job,
  JobRef,
  JobStatus,
  make as makeProvider,
  type Person,
  type Spec,
  type Submission
} from "./ContactProvider.js"
import { type EnrichmentError, JobCanceled, JobFailed, MalformedResponse } from "./EnrichmentError.js"
import * as Results from "./internal/thehog/results.js"
import { requestFieldsOf, toWire, wantsEmail } from "./internal/thehog/wire.js"
import type { ProviderOutcome } from "./PersonResult.js"
import * as Polling from "./Polling.js"
import * as TheHogApi from "./TheHogApi.js"
import { type EnrichAnswer, providerName, TheHogClient } from "./TheHogClient.js"

export { fromWire, requestFieldsOf, toWire } from "./internal/thehog/wire.js"

// ---------------------------------------------------------------------------------------------------------------
// Prices and capabilities
// ---------------------------------------------------------------------------------------------------------------

/**
 * INFERRED prices (gen B publishes none): per identifier at submission, `contact.email` 1 credit and
 * `contact.phone` 2, charged per attempt whether or not anything is found (gen A charged per provider attempt).
 */
export const prices = { email: 1, phone: 2 } as const

/** Credits one person costs for these fields, by the price list. */
export const creditsPerPerson = (fields: ReadonlyArray<Field>): number =>
  (wantsEmail(fields) ? prices.email : 0) + (fields.includes("phone") ? prices.phone : 0)

/** @since 0.1.0 @category Models */
export const costModel: CostModel = {
  billing: "per-request",
  maxPerPerson: (fields) => creditsPerPerson(fields)
}

/** @since 0.1.0 @category Models */
export const capabilities: Capabilities = {
  provider: providerName,
  identifierKinds: ["linkedin", "email", "x", "github"],
  fields: ["work_email", "personal_email", "phone"],
  maxBatch: TheHogApi.maxIdentifiers,
  maxActiveJobs: undefined,
  // only a single LinkedIn identifier asking contact fields only is answered synchronously
  sync: { maxBatch: 1 },
  cost: costModel,
  resubmitSafety: "idempotency-key"
}

// ---------------------------------------------------------------------------------------------------------------
// The job meta
// ---------------------------------------------------------------------------------------------------------------

const replay = {
  /** the answer was an Idempotency-Key replay of an earlier request's */
  replayed: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** what the replayed request cost (as TheHog reported it, else the price list's figure) */
  replayedCost: Schema.optional(Schema.Number)
}

/** A job TheHog runs: what polling it needs (its id is the JobRef's), and where the reference came from. */
export const OperationMeta = Schema.TaggedStruct("Operation", {
  /** the 202's `pollUrl`, relative or absolute; absent: `GET /api/enrichments/:id` */
  pollUrl: Schema.optional(Schema.String),
  requestId: Schema.optional(Schema.String),
  ...replay
})

/** A submit TheHog answered at once (200): the answer is kept whole, so `results` works after a restart too. */
export const AnsweredMeta = Schema.TaggedStruct("Answered", {
  identifier: TheHogApi.PersonIdentifier,
  answer: TheHogApi.SyncResponse,
  ...replay
})

const legacyReplay = {
  replayed: Schema.optional(Schema.String),
  replayedCost: Schema.optional(Schema.NumberFromString)
}
const fromLegacyReplay = (
  legacy: { readonly replayed?: string | undefined; readonly replayedCost?: number | undefined }
) => ({
  replayed: legacy.replayed === "true",
  ...(legacy.replayedCost === undefined ? {} : { replayedCost: legacy.replayedCost })
})
const toLegacyReplay = (meta: { readonly replayed: boolean; readonly replayedCost?: number | undefined }) => ({
  ...(meta.replayed ? { replayed: "true" } : {}),
  ...(meta.replayedCost === undefined ? {} : { replayedCost: meta.replayedCost })
})

/** The string map JobRefs held before the meta had a schema: `{sync: <JSON of {identifier, answer}>, ...}`. */
const LegacyAnswered = Schema.transform(
  Schema.Struct({
    sync: Schema.parseJson(Schema.Struct({ identifier: TheHogApi.PersonIdentifier, answer: TheHogApi.SyncResponse })),
    ...legacyReplay
  }),
  Schema.typeSchema(AnsweredMeta),
  {
    strict: true,
    decode: (legacy) => ({ _tag: "Answered" as const, ...legacy.sync, ...fromLegacyReplay(legacy) }),
    encode: (meta) => ({ sync: { identifier: meta.identifier, answer: meta.answer }, ...toLegacyReplay(meta) })
  }
)

/** ...and `{pollUrl, requestId, ...}` for an operation. */
const LegacyOperation = Schema.transform(
  Schema.Struct({
    pollUrl: Schema.optional(Schema.String),
    requestId: Schema.optional(Schema.String),
    ...legacyReplay
  }),
  Schema.typeSchema(OperationMeta),
  {
    strict: true,
    decode: (legacy) => ({
      _tag: "Operation" as const,
      ...(legacy.pollUrl === undefined ? {} : { pollUrl: legacy.pollUrl }),
      ...(legacy.requestId === undefined ? {} : { requestId: legacy.requestId }),
      ...fromLegacyReplay(legacy)
    }),
    encode: (meta) => ({
      ...(meta.pollUrl === undefined ? {} : { pollUrl: meta.pollUrl }),
      ...(meta.requestId === undefined ? {} : { requestId: meta.requestId }),
      ...toLegacyReplay(meta)
    })
  }
)

/**
 * TheHog's `JobRef.meta`. Always written as `Operation` / `Answered`; JobRefs a ledger kept from before (string
 * maps) are still read, so a job created then is not abandoned.
 *
 * @since 0.1.0 @category Models
 */
export const JobMeta = Schema.Union(OperationMeta, AnsweredMeta, LegacyAnswered, LegacyOperation)
/** @since 0.1.0 @category Models */
export type JobMeta = typeof JobMeta.Type

/** One status check: the operation as polled, or a job answered at submit (nothing to poll). */
export type State =
  | { readonly _tag: "Polled"; readonly operation: TheHogApi.Operation }
  | { readonly _tag: "Answered" }

// ---------------------------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------------------------

/**
 * What a submit cost: `meta.cost.actual` when TheHog reports it, else the price list's figure (estimated). A
 * replay on the first attempt answers a request an earlier submit made (and paid for): this one paid nothing.
 * After a retry it may be the answer to our own first attempt, whose charge nobody reported yet.
 */
const chargeOf = (answer: EnrichAnswer, request: EnrichRequest, people: number) => {
  const reported = answer.body.meta?.cost?.actual
  const cost = reported ?? creditsPerPerson(request.fields) * people
  const paidHere = !(answer.replayed && answer.attempts <= 1)
  return {
    charged: paidHere ? cost : 0,
    estimated: paidHere && reported === undefined,
    replay: answer.replayed ? { replayed: true, replayedCost: cost } : { replayed: false }
  }
}

const submissionOf = (
  request: EnrichRequest,
  targets: Array.NonEmptyReadonlyArray<TheHogApi.PersonIdentifier>,
  answer: EnrichAnswer
): Submission<JobMeta> => {
  if (answer._tag === "Accepted") {
    const { charged, estimated, replay } = chargeOf(answer, request, request.people.length)
    const { pollUrl } = answer.operation
    const requestId = answer.body.meta?.requestId
    return {
      id: answer.operation.id,
      people: request.people.length,
      charged,
      estimated,
      mode: "batch",
      meta: {
        _tag: "Operation",
        ...(pollUrl === undefined ? {} : { pollUrl }),
        ...(requestId === undefined ? {} : { requestId }),
        ...replay
      }
    }
  }
  const { charged, estimated, replay } = chargeOf(answer, request, 1)
  return {
    id: `sync:${answer.body.meta.requestId}`,
    people: 1,
    charged,
    estimated,
    mode: "sync",
    meta: { _tag: "Answered", identifier: targets[0], answer: answer.body, ...replay }
  }
}

/** The one outcome of a sync answer: its cost as reported in `meta.cost.actual`, else the price list's. */
const answeredOutcome = (
  identifier: TheHogApi.PersonIdentifier,
  answer: TheHogApi.SyncResponse,
  fields: ReadonlyArray<Field>,
  observedAt: DateTime.Utc
): ProviderOutcome => {
  const reported = answer.meta.cost?.actual
  return Results.outcomeOfAnswer(identifier, answer, {
    fields,
    mode: "sync",
    observedAt,
    cost: reported ?? creditsPerPerson(fields),
    estimated: reported === undefined
  })
}

const toJobStatus = (state: State, job: Job<JobMeta>): JobStatus =>
  state._tag === "Answered"
    ? new JobStatus({
      state: "completed",
      total: 1,
      finished: 1,
      charged: job.ref.charged,
      refunded: 0,
      estimated: job.ref.estimated
    })
    : Results.jobStatusOf(state.operation, job.ref, job.meta.replayed)

/** A processing operation's `progress` (0-100) as a fraction; none while queued, when the job has not started. */
const progressOf = (state: State): number | undefined =>
  state._tag === "Polled" && state.operation.status === "processing" && typeof state.operation.progress === "number"
    ? state.operation.progress / 100
    : undefined

/** What polling a job needs: its id, and the `pollUrl` of its 202 if there was one. */
const operationOf = (job: Job<JobMeta>) => ({
  id: job.ref.id,
  pollUrl: job.meta._tag === "Operation" ? job.meta.pollUrl : undefined
})

/** Every person of a terminal job, in TheHog's order. */
const outcomesOf = (
  client: TheHogClient.Service,
  job: Job<JobMeta>,
  state: State,
  observedAt: DateTime.Utc
): Effect.Effect<ReadonlyArray<ProviderOutcome>, EnrichmentError> => {
  const { meta, ref } = job
  if (meta._tag === "Answered") {
    return Effect.succeed([answeredOutcome(meta.identifier, meta.answer, ref.fields, observedAt)])
  }
  if (state._tag !== "Polled") return Effect.succeed([])
  const { operation } = state
  const items = operation.result?.items
  if (items === undefined) {
    return Effect.fail(
      new MalformedResponse({
        provider: providerName,
        endpoint: client.pollEndpoint(operationOf(job)),
        path: `["result"]`,
        detail: `is missing (operation ${operation.status})`
      })
    )
  }
  const charge = Results.chargeOf(operation, ref, meta.replayed)
  const context = {
    fields: ref.fields,
    mode: ref.mode,
    observedAt,
    ...Results.personCostOf(charge, ref, meta.replayed, creditsPerPerson(ref.fields))
  }
  return Effect.succeed(items.map((item) => Results.outcomeOfItem(item, context)))
}

/**
 * The adapter's spec over a client.
 *
 * @since 0.1.0 @category Constructors
 */
export const spec = (
  client: TheHogClient.Service
): Spec<TheHogApi.PersonIdentifier, JobMeta, typeof JobMeta.Encoded, State> => {
  const status = (job: Job<JobMeta>): Effect.Effect<State, EnrichmentError> =>
    job.meta._tag === "Answered"
      ? Effect.succeed({ _tag: "Answered" })
      : Effect.map(client.poll(operationOf(job)), (operation) => ({ _tag: "Polled", operation }))

  /** Waits for a job as `results` does (for `enrichSync` when TheHog chose the async path). */
  const awaitOutcomes = (job: Job<JobMeta>) =>
    Effect.gen(function*() {
      const terminal = yield* Polling.awaitTerminal(status(job), {
        isTerminal: (s) => toJobStatus(s, job).terminal,
        provider: providerName,
        jobId: job.ref.id,
        progress: progressOf
      })
      const final = toJobStatus(terminal, job)
      if (final.state === "failed") {
        return yield* new JobFailed({ provider: providerName, jobId: job.ref.id, message: final.message ?? "failed" })
      }
      if (final.state === "canceled") return yield* new JobCanceled({ provider: providerName, jobId: job.ref.id })
      return yield* outcomesOf(client, job, terminal, yield* DateTime.now)
    })

  const enrichSync = (request: EnrichRequest, targets: Array.NonEmptyReadonlyArray<TheHogApi.PersonIdentifier>) =>
    Effect.gen(function*() {
      const person = request.people[0]
      const identifier = targets[0]
      const single = person.identifier._tag === "LinkedInProfile" && person.identifier.path === "in"
      const fields = requestFieldsOf(request.fields)
      // a different body gets a different key: TheHog refuses a key reused with another request
      const answer = yield* client.enrich(
        single ? { identifier, fields } : { identifiers: [identifier], fields },
        { idempotencyKey: single ? `${request.idempotencyKey}:single` : request.idempotencyKey }
      )
      const now = yield* DateTime.now
      if (answer._tag === "Sync") return [answeredOutcome(identifier, answer.body, request.fields, now)]
      // TheHog chose the async path: wait for the operation, as `results` would
      const submission = submissionOf(request, targets, answer)
      const ref = new JobRef({
        provider: providerName,
        id: submission.id,
        mode: "batch",
        path: request.path,
        submittedAt: now,
        people: submission.people,
        fields: request.fields,
        charged: submission.charged,
        estimated: submission.estimated,
        meta: Schema.encodeSync(JobMeta)(submission.meta)
      })
      return yield* awaitOutcomes({ ref, meta: submission.meta })
    })

  return {
    capabilities,
    target: (person: Person) => toWire(person.identifier),
    meta: JobMeta,
    submit: (request, targets) =>
      Effect.map(
        client.enrich(
          { identifiers: targets, fields: requestFieldsOf(request.fields) },
          { idempotencyKey: request.idempotencyKey }
        ),
        (answer) => submissionOf(request, targets, answer)
      ),
    status,
    toJobStatus,
    progress: progressOf,
    results: {
      _tag: "afterTerminal",
      stream: (job, terminal, cursor) =>
        Stream.unwrap(Effect.gen(function*() {
          const outcomes = yield* outcomesOf(client, job, terminal, yield* DateTime.now)
          const start = yield* Results.parseCursor(cursor, outcomes.length)
          return Stream.fromIterable(Results.pagesOf(outcomes, start))
        }))
    },
    // TheHog documents no cancel endpoint: the job runs on (it was charged at submission); `cancel` reports it
    enrichSync
  }
}

/**
 * @since 0.1.0 @category Constructors
 */
export const make: Effect.Effect<ContactProviderService, never, TheHogClient> = Effect.map(
  TheHogClient,
  (client) => makeProvider(spec(client))
)

/** @since 0.1.0 @category Layers */
export const layer: Layer.Layer<ContactProvider, never, TheHogClient> = Layer.effect(ContactProvider, make)
