/**
 * Fiber AI: the raw client (batch start / poll / cancel, exhaustive start / poll, sync `/single`) and its
 * adapter to `ContactProvider`.
 *
 * - Auth is the `apiKey` field of every JSON body (Fiber's scheme); the key is `Redacted` until the body is
 *   encoded and never appears in errors, logs or spans.
 * - Batch results are paged by an opaque cursor over the task's finished rows (INFERRED, see `FiberAiApi`):
 *   `results(ref, cursor)` keeps the last cursor it got, re-polls from it, and so resumes after a restart
 *   with no other state. People are keyed by re-parsing Fiber's echo of the URL we sent.
 * - Fiber documents no idempotency: a batch start is retried only when Fiber certainly did not take it (429, an
 *   HTTP 5xx answer), never after a transport failure or a timeout, which stay ambiguous and surface as
 *   `ProviderUnavailable` (`resubmitSafety: "none"`).
 * - Credits are taken upfront per unique person and undelivered data is refunded as rows finish; each person's
 *   `Provenance.cost` is the price of the fields actually delivered (0 when nothing was).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Backoff from "./Backoff.js"
import { allFields, Email, type Field, fieldOfEmail, makePhone, type Mode, type Phone, Provenance } from "./Contact.js"
import {
  type Capabilities,
  ContactProvider,
  type ContactProviderService,
  type EnrichRequest,
  JobRef,
  JobStatus,
  type Person,
  type ResultPage
} from "./ContactProvider.js"
import {
  type EnrichmentError,
  InvalidRequest,
  JobCanceled,
  JobFailed,
  JobTimedOut,
  ResultExpired
} from "./EnrichmentError.js"
import * as FiberAiApi from "./FiberAiApi.js"
import * as Identifier from "./Identifier.js"
import * as ProviderHttp from "./internal/providerHttp.js"
import { Failed, Found, NotFound, type ProviderOutcome, Rejected } from "./PersonResult.js"
import * as Polling from "./Polling.js"
import * as RateLimits from "./RateLimits.js"

const provider = "fiber"

/** @since 0.1.0 @category Models */
export interface Options {
  readonly apiKey: Redacted.Redacted
  /** defaults to https://api.fiber.ai */
  readonly baseUrl?: string | undefined
  readonly limits?: RateLimits.Limits | undefined
  /** rows per batch poll (`take`, 1..100; default 100) */
  readonly pageSize?: number | undefined
  /** per request attempt */
  readonly timeout?: Duration.DurationInput | undefined
}

/** The documented per-endpoint limits (requests per minute; CONFIRMED). */
export const defaultLimits: RateLimits.Limits = Object.fromEntries(
  Object.entries(FiberAiApi.requestsPerMinute).map(([endpoint, limit]) => [endpoint, [{ limit, interval: "1 minute" }]])
)

type Body<A> = Omit<A, "apiKey">

/** What `exhaustive` found for one person, with Fiber's low-quality emails kept apart. */
export interface ExhaustiveResult {
  readonly taskId: string
  readonly status: FiberAiApi.Profile["status"]
  /** the emails that passed Fiber's validation (verdict from their `status`, `unknown` when absent) */
  readonly emails: ReadonlyArray<Email>
  /** `lowQualityEmails`: verdict `risky`, or `invalid` when Fiber says so; never `valid` */
  readonly lowQualityEmails: ReadonlyArray<Email>
  readonly phones: ReadonlyArray<Phone>
  /** from `charged-for-async-process` */
  readonly creditsCharged: number
  readonly profile: FiberAiApi.Profile
}

/** @since 0.1.0 @category Models */
export declare namespace FiberAi {
  /** @since 0.1.0 @category Models */
  export interface Service {
    /** rows asked per batch poll */
    readonly pageSize: number
    /** `POST /v1/contact-details/batch/start` */
    readonly startBatch: (
      body: Body<FiberAiApi.StartBatchRequest>
    ) => Effect.Effect<FiberAiApi.StartBatchResponse, EnrichmentError>
    /** `POST /v1/contact-details/batch/poll`; an unknown task is `ResultExpired` */
    readonly pollBatch: (
      body: Body<FiberAiApi.PollBatchRequest>
    ) => Effect.Effect<FiberAiApi.PollBatchResponse, EnrichmentError>
    /** `POST /v1/contact-details/batch/cancel` */
    readonly cancelBatch: (taskId: string) => Effect.Effect<FiberAiApi.CancelBatchResponse, EnrichmentError>
    /** `POST /v1/contact-details/exhaustive/start` */
    readonly startExhaustive: (
      body: Body<FiberAiApi.ExhaustiveStartRequest>
    ) => Effect.Effect<FiberAiApi.ExhaustiveStartResponse, EnrichmentError>
    /** `POST /v1/contact-details/exhaustive/poll` */
    readonly pollExhaustive: (taskId: string) => Effect.Effect<FiberAiApi.ExhaustivePollResponse, EnrichmentError>
    /** `POST /v1/contact-details/single` (synchronous, one person; a bare slug is accepted) */
    readonly single: (body: Body<FiberAiApi.SingleRequest>) => Effect.Effect<FiberAiApi.SingleResponse, EnrichmentError>
    /**
     * Exhaustive reveal of one person: start, then poll per `Polling` until done (`JobTimedOut` after the
     * deadline, `JobFailed` when Fiber reports `failed`).
     */
    readonly exhaustive: (
      linkedinUrl: string,
      fields: ReadonlyArray<Field>
    ) => Effect.Effect<ExhaustiveResult, EnrichmentError>
  }
}

/** @since 0.1.0 @category Context */
export class FiberAi extends Context.Tag("@enrich/core/FiberAi")<FiberAi, FiberAi.Service>() {}

// ---------------------------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------------------------

// Values are built from responses already decoded by their Schema, so constructors skip a second validation.

/** An email of Fiber's main list: `status` gives the verdict; no status means `unknown`. */
export const emailOf = (item: FiberAiApi.EmailItem): Email =>
  new Email({ address: item.email.trim(), kind: item.type, verdict: item.status ?? "unknown" }, true)

/** An email of `lowQualityEmails`: failed Fiber's validation, so `risky` unless Fiber says `invalid`. */
export const lowQualityEmailOf = (item: FiberAiApi.EmailItem): Email =>
  new Email(
    { address: item.email.trim(), kind: item.type, verdict: item.status === "invalid" ? "invalid" : "risky" },
    true
  )

/** @since 0.1.0 @category Constructors */
export const phoneOf = (item: FiberAiApi.PhoneItem): Phone => makePhone(item.number, item.type)

/** The requested fields these values fill: what Fiber bills for. */
const deliveredFields = (
  emails: ReadonlyArray<Email>,
  phones: ReadonlyArray<Phone>,
  asked: ReadonlyArray<Field>
): ReadonlyArray<Field> => {
  const delivered = new Set<Field>()
  for (const email of emails) {
    const field = fieldOfEmail(email)
    if (field !== undefined) delivered.add(field)
  }
  if (phones.length > 0) delivered.add("phone")
  return asked.filter((field) => delivered.has(field))
}

// ---------------------------------------------------------------------------------------------------------------
// Raw client
// ---------------------------------------------------------------------------------------------------------------

const encodeIssue = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return "request does not match Fiber's schema"
  return `${issue.path.length === 0 ? "body" : issue.path.join(".")}: ${issue.message}`.slice(0, 300)
}

/** Fiber certainly did not take the request: throttled, or it answered with a 5xx before doing anything. */
const safeToResend = (error: EnrichmentError): boolean =>
  error._tag === "RateLimited" || (error._tag === "ProviderUnavailable" && error.status !== undefined)

/**
 * @since 0.1.0 @category Constructors
 */
export const make: (
  options: Options
) => Effect.Effect<FiberAi.Service, never, HttpClient.HttpClient | Scope.Scope> = Effect.fnUntraced(
  function*(options: Options) {
    const client = yield* HttpClient.HttpClient
    const gates = yield* RateLimits.make(options.limits ?? defaultLimits)
    const http = ProviderHttp.make(client, {
      provider,
      baseUrl: options.baseUrl ?? FiberAiApi.defaultBaseUrl,
      decorate: HttpClientRequest.acceptJson,
      gates,
      ...(options.timeout === undefined ? {} : { timeout: options.timeout })
    })
    const pageSize = Math.max(1, Math.min(FiberAiApi.maxTake, Math.floor(options.pageSize ?? FiberAiApi.maxTake)))
    const apiKey = options.apiKey

    const call = <A, I, B, J>(
      endpoint: FiberAiApi.Endpoint,
      requestSchema: Schema.Schema<A, I>,
      body: A,
      responseSchema: Schema.Schema<B, J>
    ): Effect.Effect<B, EnrichmentError> =>
      Schema.encode(requestSchema)(body).pipe(
        Effect.mapError((error) => new InvalidRequest({ provider, message: encodeIssue(error) })),
        Effect.flatMap((encoded) =>
          http.json(
            endpoint,
            HttpClientRequest.post(FiberAiApi.paths[endpoint]).pipe(HttpClientRequest.bodyUnsafeJson(encoded)),
            responseSchema
          )
        ),
        Effect.map((response) => response.body)
      )

    // A task Fiber no longer knows (404) was real once (we hold its id): its results are gone.
    const known = (taskId: string) => <A>(effect: Effect.Effect<A, EnrichmentError>) =>
      Effect.catchIf(
        effect,
        (error) => error._tag === "InvalidRequest" && error.status === 404,
        (error) => Effect.fail(new ResultExpired({ provider, jobId: taskId, message: error.message }))
      )

    // Starts are not idempotent: no inner retries, and only resend what Fiber certainly did not take.
    const resendOnlyIfSafe = <A>(effect: Effect.Effect<A, EnrichmentError>) =>
      Effect.flatMap(Backoff.Backoff, (policy) =>
        effect.pipe(
          Effect.provideService(Backoff.Backoff, { ...policy, times: 0 }),
          Effect.retry({ schedule: Backoff.schedule(policy), while: safeToResend })
        ))

    const startBatch: FiberAi.Service["startBatch"] = (body) =>
      resendOnlyIfSafe(
        call("batch/start", FiberAiApi.StartBatchRequest, { apiKey, ...body }, FiberAiApi.StartBatchResponse)
      )

    const pollBatch: FiberAi.Service["pollBatch"] = (body) =>
      call("batch/poll", FiberAiApi.PollBatchRequest, { apiKey, ...body }, FiberAiApi.PollBatchResponse).pipe(
        known(body.taskId)
      )

    const cancelBatch: FiberAi.Service["cancelBatch"] = (taskId) =>
      call("batch/cancel", FiberAiApi.CancelBatchRequest, { apiKey, taskId }, FiberAiApi.CancelBatchResponse).pipe(
        known(taskId)
      )

    const startExhaustive: FiberAi.Service["startExhaustive"] = (body) =>
      resendOnlyIfSafe(
        call(
          "exhaustive/start",
          FiberAiApi.ExhaustiveStartRequest,
          { apiKey, ...body },
          FiberAiApi.ExhaustiveStartResponse
        )
      )

    const pollExhaustive: FiberAi.Service["pollExhaustive"] = (taskId) =>
      call("exhaustive/poll", FiberAiApi.ExhaustivePollRequest, { apiKey, taskId }, FiberAiApi.ExhaustivePollResponse)
        .pipe(known(taskId))

    const single: FiberAi.Service["single"] = (body) =>
      call("single", FiberAiApi.SingleRequest, { apiKey, ...body }, FiberAiApi.SingleResponse)

    const isFinal = (response: FiberAiApi.ExhaustivePollResponse) =>
      response.output.done || response.output.profile.status === "completed" ||
      response.output.profile.status === "failed"

    const exhaustive: FiberAi.Service["exhaustive"] = (linkedinUrl, fields) =>
      Effect.gen(function*() {
        const policy = yield* Polling.Polling
        const started = yield* startExhaustive({ linkedinUrl, enrichmentType: FiberAiApi.enrichmentTypesOf(fields) })
        const taskId = started.output.taskId
        const final = yield* pollExhaustive(taskId).pipe(
          Effect.repeat(Schedule.recurUntil(isFinal).pipe(Schedule.zipLeft(Polling.delays(policy)))),
          Effect.timeoutFail({
            duration: policy.deadline,
            onTimeout: () =>
              new JobTimedOut({ provider, jobId: taskId, waitedMillis: Duration.toMillis(policy.deadline) })
          })
        )
        const profile = final.output.profile
        if (profile.status === "failed") {
          return yield* new JobFailed({ provider, jobId: taskId, message: profile.error ?? "exhaustive reveal failed" })
        }
        return {
          taskId,
          status: profile.status,
          emails: profile.emails.map(emailOf),
          lowQualityEmails: (profile.lowQualityEmails ?? []).map(lowQualityEmailOf),
          phones: profile.phoneNumbers.map(phoneOf),
          creditsCharged: FiberAiApi.chargedBy(final.chargeInfo),
          profile
        }
      })

    return FiberAi.of({
      pageSize,
      startBatch,
      pollBatch,
      cancelBatch,
      startExhaustive,
      pollExhaustive,
      single,
      exhaustive
    })
  }
)

/** @since 0.1.0 @category Layers */
export const layer = (options: Options): Layer.Layer<FiberAi, never, HttpClient.HttpClient> =>
  Layer.scoped(FiberAi, make(options))

/** `FIBER_API_KEY` (required) and `FIBER_BASE_URL` (default https://api.fiber.ai). */
export const layerConfig: Layer.Layer<FiberAi, ConfigError.ConfigError, HttpClient.HttpClient> = Layer.scoped(
  FiberAi,
  Effect.flatMap(
    Config.all({
      apiKey: Config.redacted("FIBER_API_KEY"),
      baseUrl: Config.string("FIBER_BASE_URL").pipe(Config.withDefault(FiberAiApi.defaultBaseUrl))
    }),
    make
  )
)

// ---------------------------------------------------------------------------------------------------------------
// Adapter to ContactProvider
// ---------------------------------------------------------------------------------------------------------------

/** @since 0.1.0 @category Models */
export const capabilities: Capabilities = {
  provider,
  identifierKinds: ["linkedin"],
  fields: allFields,
  maxBatch: FiberAiApi.maxBatchPeople,
  // not documented; nothing to enforce client-side
  maxActiveJobs: undefined,
  sync: { maxBatch: 10 },
  cost: {
    billing: "upfront-per-person",
    maxPerPerson: (fields: ReadonlyArray<Field>, mode: Mode) => FiberAiApi.price(fields, mode)
  },
  resubmitSafety: "none",
  // Starts are limited (30 a minute) but tasks are not, and a task's people are claimed one after another
  // ("only unclaimed profiles will be cancelled"). The timings are INFERRED (Fiber documents none); if real
  // tasks are faster the plan only makes more, smaller tasks than needed.
  pacing: {
    startsPerMinute: FiberAiApi.requestsPerMinute["batch/start"],
    firstMillis: 5_000,
    perPersonMillis: 250
  }
}

const rejectedReason = "Fiber could not resolve this LinkedIn URL (healing failed)"

/** The identity of a row: its parsed key, or the raw echo when it does not parse. */
const rowIdentity = (row: FiberAiApi.PageResult): string => {
  const parsed = Identifier.parseLinkedIn(row.inputs.linkedinUrl.value, { bareSlugs: true })
  return Either.isRight(parsed) ? parsed.right.key : `raw:${row.inputs.linkedinUrl.value}`
}

/** One finished batch row as an outcome, keyed by re-parsing Fiber's echo of the URL we sent. */
export const outcomeOfRow = (
  row: FiberAiApi.PageResult,
  fields: ReadonlyArray<Field>,
  observedAt: DateTime.Utc
): ProviderOutcome => {
  const input = row.inputs.linkedinUrl.value
  const parsed = Identifier.parseLinkedIn(input, { bareSlugs: true })
  if (Either.isLeft(parsed)) {
    return new Rejected({ input, reason: `Fiber echoed an unreadable LinkedIn URL: ${parsed.left.reason}`, provider })
  }
  const key = parsed.right.key
  // Validation off: the row was decoded by its Schema and every field here is typed (validating a Found also
  // recompiles its parser on each call, since its fields hold classes).
  const provenance = (cost: number) =>
    new Provenance({ provider, endpoint: FiberAiApi.paths["batch/poll"], mode: "batch", observedAt, cost }, true)
  if (row.outputs === undefined) return new Rejected({ key, input, reason: rejectedReason, provider }, true)
  if (row.outputs === null) return new NotFound({ key, provenance: provenance(0) }, true)
  const emails = row.outputs.emails.map(emailOf)
  const phones = row.outputs.phoneNumbers.map(phoneOf)
  if (emails.length === 0 && phones.length === 0) return new NotFound({ key, provenance: provenance(0) }, true)
  const cost = FiberAiApi.price(deliveredFields(emails, phones, fields), "batch")
  return new Found({ key, emails, phones, provenance: provenance(cost) }, true)
}

/** People of a task Fiber is done with, whatever the outcome: each has (or will have) a row in the pages. */
const finishedOf = (stats: FiberAiApi.OverallStats): number => stats.numCompleted + stats.numFailed + stats.numRejected

const statusOf = (ref: JobRef, response: FiberAiApi.PollBatchResponse): JobStatus => {
  const { done, failed, canceled, overallStats: stats } = response.output
  const finished = finishedOf(stats)
  const state = done
    ? failed ? "failed" as const : canceled ? "canceled" as const : "completed" as const
    : finished > 0
    ? "running" as const
    : "queued" as const
  return new JobStatus({
    state,
    total: stats.totalPeopleToFetch,
    finished,
    charged: ref.charged,
    refunded: FiberAiApi.refundedBy(response.chargeInfo),
    ...(state === "failed" ? { message: "Fiber reports the task failed and will not retry it" } : {}),
    ...(state === "canceled" ? { message: `canceled; ${stats.numRemaining} people were not processed` } : {})
  })
}

/** Outcome of one `/single` answer. */
const outcomeOfSingle = (
  person: Person,
  response: FiberAiApi.SingleResponse,
  fields: ReadonlyArray<Field>,
  observedAt: DateTime.Utc
): ProviderOutcome => {
  const { done, profile } = response.output
  if (profile.status === "failed" || (!done && profile.status !== "completed")) {
    return new Failed({
      key: person.key,
      provider,
      reason: profile.error ?? `Fiber's reveal ended ${profile.status}`
    })
  }
  const emails = [...profile.emails.map(emailOf), ...(profile.lowQualityEmails ?? []).map(lowQualityEmailOf)]
  const phones = profile.phoneNumbers.map(phoneOf)
  const reported = response.output.done && response.chargeInfo.method === "charged-now"
    ? FiberAiApi.chargedBy(response.chargeInfo)
    : FiberAiApi.price(deliveredFields(emails, phones, fields), "sync")
  const provenance = new Provenance({
    provider,
    endpoint: FiberAiApi.paths.single,
    mode: "sync",
    observedAt,
    cost: reported
  })
  return emails.length === 0 && phones.length === 0
    ? new NotFound({ key: person.key, provenance })
    : new Found({ key: person.key, emails, phones, provenance })
}

/** Errors that concern the account rather than the person: the whole sync call fails with them. */
const accountWide = (error: EnrichmentError): boolean =>
  error._tag === "Unauthorized" || error._tag === "InsufficientCredits"

/**
 * The `ContactProvider` view of a Fiber client.
 *
 * @since 0.1.0 @category Constructors
 */
export const makeContactProvider = (fiber: FiberAi.Service): ContactProviderService => {
  const linkedInOf = (person: Person): Identifier.LinkedInProfile | undefined =>
    person.identifier._tag === "LinkedInProfile" ? person.identifier : undefined

  const submit = (request: EnrichRequest): Effect.Effect<JobRef, EnrichmentError> =>
    Effect.gen(function*() {
      if (request.people.length > FiberAiApi.maxBatchPeople) {
        return yield* new InvalidRequest({
          provider,
          message: `Fiber takes at most ${FiberAiApi.maxBatchPeople} people per batch, got ${request.people.length}`
        })
      }
      const urls: Array<string> = []
      const seen = new Set<string>()
      for (const person of request.people) {
        const profile = linkedInOf(person)
        if (profile === undefined) {
          return yield* new InvalidRequest({
            provider,
            message: `Fiber takes LinkedIn URLs only, not ${person.identifier.kind} identifiers (${person.key})`
          })
        }
        if (!seen.has(profile.url)) {
          seen.add(profile.url)
          urls.push(profile.url)
        }
      }
      const response = yield* fiber.startBatch({
        personDetails: urls.map((value) => ({ linkedinUrl: { value } })),
        enrichmentTypes: FiberAiApi.enrichmentTypesOf(request.fields)
      })
      const output = response.output
      const charged = response.chargeInfo.method === "charged-now"
        ? FiberAiApi.chargedBy(response.chargeInfo)
        : output.numPeopleEnqueued * FiberAiApi.price(request.fields, "batch")
      return new JobRef({
        provider,
        id: output.taskId,
        mode: "batch",
        submittedAt: yield* DateTime.now,
        people: output.numPeopleEnqueued,
        fields: request.fields,
        charged,
        meta: { duplicatesSkipped: String(output.numDuplicatesSkipped ?? 0) }
      })
    })

  const poll = (ref: JobRef): Effect.Effect<JobStatus, EnrichmentError> =>
    Effect.map(fiber.pollBatch({ taskId: ref.id, take: 1 }), (response) => statusOf(ref, response))

  interface Position {
    readonly cursor: string | undefined
    /** set when the task ended badly: raised after the last rows are emitted */
    readonly end: EnrichmentError | undefined
    /** how long to wait before the next poll (0: at once, the last page was full or the task is done) */
    readonly waitMillis: number
  }

  /** The first poll that saw rows finished: the task's observed pace is measured from there. */
  interface Pace {
    readonly at: number
    readonly finished: number
  }

  // The soonest any task of this client showed finished rows after its start (as seen by a poll, so an upper
  // bound of Fiber's latency to a task's first row). Later tasks wait that long before their first poll: polls
  // before the first row come back empty, and each is taken from the limit all tasks share.
  let firstRowsWithin: number | undefined

  const results = (ref: JobRef, from?: string): Stream.Stream<ResultPage, EnrichmentError> =>
    Stream.unwrap(Effect.gen(function*() {
      const policy = yield* Polling.Polling
      const deadline = Duration.toMillis(policy.deadline)
      const startedAt = yield* Clock.currentTimeMillis
      // A task just started has nothing to show: polling it at once only spends the shared poll limit, which
      // the last pages of every task need at the end of a run. A task started long ago is polled at once.
      const submittedAt = DateTime.toEpochMillis(ref.submittedAt)
      const sinceStart = startedAt - submittedAt
      const firstWait = Math.max(0, Math.max(Duration.toMillis(policy.initialDelay), firstRowsWithin ?? 0) - sinceStart)
      const take = fiber.pageSize
      // People already emitted by this stream: a re-poll from an old cursor (a provider that does not advance
      // it) must not emit anyone twice.
      const emitted = new Set<string>()
      const fresh = (response: FiberAiApi.PollBatchResponse) =>
        response.output.pageResults.some((row) => !emitted.has(rowIdentity(row)))

      // Poll from `cursor` until there is something new or the task is done, sleeping per `Polling` in between,
      // after `waitMillis` first.
      const nextPoll = (cursor: string | undefined, waitMillis: number) =>
        Effect.gen(function*() {
          if (waitMillis > 0) yield* Effect.sleep(Duration.millis(waitMillis))
          const elapsed = (yield* Clock.currentTimeMillis) - startedAt
          if (elapsed >= deadline) return yield* new JobTimedOut({ provider, jobId: ref.id, waitedMillis: elapsed })
          return yield* fiber.pollBatch({ taskId: ref.id, take, ...(cursor === undefined ? {} : { cursor }) }).pipe(
            Effect.repeat(
              Schedule.recurUntil((response: FiberAiApi.PollBatchResponse) => response.output.done || fresh(response))
                .pipe(Schedule.zipLeft(Polling.delays(policy)))
            ),
            Effect.timeoutFail({
              duration: deadline - elapsed,
              onTimeout: () => new JobTimedOut({ provider, jobId: ref.id, waitedMillis: deadline })
            })
          )
        })

      // When less than a page is ready, polling again at once, or on a fixed schedule, spends the poll limit all
      // tasks share (240 a minute) on near-empty pages: with 60 tasks it ran out within 20 s and every task then
      // waited for the window to slide. So each task waits until it should have a full page, or, sooner, until
      // it should be done, at the pace it has shown so far (measured, not assumed), and the polls spread over
      // the minute. Before any row has finished, the `Polling` schedule alone applies. `ready` is how many
      // finished rows are still unread.
      let pace: Pace | undefined
      const waitForPage = (stats: FiberAiApi.OverallStats, ready: number) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const finished = finishedOf(stats)
          const first = Duration.toMillis(policy.initialDelay)
          if (pace === undefined) {
            if (finished > 0) {
              pace = { at: now, finished }
              // only a stream that watched its task from the start knows when the first rows came
              if (from === undefined && sinceStart < first) {
                const within = now - submittedAt
                firstRowsWithin = Math.min(firstRowsWithin ?? within, within)
              }
            }
            return first
          }
          const perMillis = (finished - pace.finished) / Math.max(1, now - pace.at)
          if (perMillis <= 0) return first
          const untilFullPage = (take - ready) / perMillis
          const untilDone = stats.numRemaining / perMillis
          const floor = first / 4
          // a task that has been slow so far may speed up: never more than 6 schedule caps between polls
          const ceiling = 6 * Duration.toMillis(policy.maxDelay)
          return Math.min(ceiling, Math.max(floor, Math.min(untilFullPage, untilDone + floor)))
        })

      return Stream.paginateChunkEffect<Position, ResultPage, EnrichmentError, never>(
        { cursor: from, end: undefined, waitMillis: firstWait },
        (position) => {
          if (position.end !== undefined) return Effect.fail(position.end)
          return Effect.gen(function*() {
            const response = yield* nextPoll(position.cursor, position.waitMillis)
            const output = response.output
            const observedAt = yield* DateTime.now
            const outcomes: Array<ProviderOutcome> = []
            for (const row of output.pageResults) {
              const identity = rowIdentity(row)
              if (emitted.has(identity)) continue
              emitted.add(identity)
              outcomes.push(outcomeOfRow(row, ref.fields, observedAt))
            }
            // keep the last cursor we got: a null/absent one means "no further than before"
            const cursor = output.nextCursor ?? position.cursor
            // Done, and nothing new, no way further, or every finished row seen by this stream. Otherwise a short
            // page is not trusted to be the end (Fiber may cap pages below `take`): one more poll from the new
            // cursor must come back empty.
            const stats = output.overallStats
            const finished = finishedOf(stats)
            const seenAll = from === undefined && emitted.size >= finished
            const last = output.done && (outcomes.length === 0 || output.nextCursor === undefined ||
              output.nextCursor === null || seenAll)
            if (!last) {
              const page = outcomes.length > 0 ? Chunk.of<ResultPage>({ results: outcomes, cursor }) : Chunk.empty()
              // A full page may have more behind it, known for sure only to a stream that read the task from its
              // first row (the others poll again at once). Re-polling when less than a page is left spent one poll
              // per page on a few rows, and with it the limit the last pages of a run need.
              const ready = from === undefined ? Math.max(0, finished - emitted.size) : take
              const waitMillis = output.done || (outcomes.length >= take && ready >= take)
                ? 0
                : yield* waitForPage(stats, outcomes.length >= take ? ready : 0)
              return [page, Option.some<Position>({ cursor, end: undefined, waitMillis })] as const
            }
            // the final status rides on the last page (possibly empty), so nobody polls again to settle credits
            const page = Chunk.of<ResultPage>({ results: outcomes, cursor, final: statusOf(ref, response) })
            const end = output.failed
              ? new JobFailed({ provider, jobId: ref.id, message: "Fiber reports the task failed" })
              : output.canceled
              ? new JobCanceled({ provider, jobId: ref.id })
              : undefined
            return [
              page,
              end === undefined ? Option.none<Position>() : Option.some<Position>({ cursor, end, waitMillis: 0 })
            ] as const
          })
        }
      )
    }))

  const cancel = (ref: JobRef): Effect.Effect<JobStatus, EnrichmentError> =>
    Effect.zipRight(fiber.cancelBatch(ref.id), poll(ref))

  const syncOne = (person: Person, fields: ReadonlyArray<Field>) => {
    const profile = linkedInOf(person)
    if (profile === undefined) {
      return Effect.succeed(
        Either.right<ProviderOutcome>(
          new Rejected({
            key: person.key,
            input: Identifier.valueOf(person.identifier),
            reason: "Fiber takes LinkedIn URLs only",
            provider
          })
        )
      )
    }
    return fiber.single({
      linkedinUrl: profile.url,
      enrichmentType: FiberAiApi.enrichmentTypesOf(fields),
      validateEmails: true
    }).pipe(
      Effect.flatMap((response) =>
        Effect.map(DateTime.now, (observedAt) => outcomeOfSingle(person, response, fields, observedAt))
      ),
      Effect.either
    )
  }

  const enrichSync = (request: EnrichRequest): Effect.Effect<ReadonlyArray<ProviderOutcome>, EnrichmentError> =>
    Effect.gen(function*() {
      const limit = capabilities.sync?.maxBatch ?? 0
      if (request.people.length > limit) {
        return yield* new InvalidRequest({
          provider,
          message: `Fiber's sync path takes at most ${limit} people, got ${request.people.length}`
        })
      }
      // one `/single` call per person, concurrently; the endpoint's rate-limit gate paces them
      const answers = yield* Effect.forEach(request.people, (person) => syncOne(person, request.fields), {
        concurrency: "unbounded"
      })
      const errors = answers.flatMap((answer) => (Either.isLeft(answer) ? [answer.left] : []))
      if (errors.length === answers.length && accountWide(errors[0]!)) return yield* Effect.fail(errors[0]!)
      return answers.map((answer, i) =>
        Either.isRight(answer)
          ? answer.right
          : new Failed({ key: request.people[i]!.key, provider, reason: `${answer.left._tag}: ${answer.left.message}` })
      )
    })

  return { capabilities, submit, poll, results, cancel, enrichSync }
}

/** @since 0.1.0 @category Constructors */
export const contactProvider: Effect.Effect<ContactProviderService, never, FiberAi> = Effect.map(
  FiberAi,
  makeContactProvider
)

/** @since 0.1.0 @category Layers */
export const layerContactProvider: Layer.Layer<ContactProvider, never, FiberAi> = Layer.effect(
  ContactProvider,
  contactProvider
)
