/**
 * TheHog (thehog.ai) contact enrichment: the raw client (`POST /api/enrichments`, answered 200 sync or 202 async
 * on the same endpoint, and the polls `GET /api/operations/:id` / `GET /api/enrichments/:id`) and its adapter to
 * `ContactProvider`.
 *
 * Safety: every submit carries an `Idempotency-Key` derived from the chunk, so a retried submit — also after a
 * timeout whose first attempt did reach TheHog — returns the first operation and is not charged again. Polls go
 * through a client-side gate below the documented 30/minute poll bucket. `X-Access-Key` / `X-Secret-Key` are
 * `Redacted` and registered in `Headers.currentRedactedNames`, so they never show in logs, spans or errors.
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Email, type Field, fieldOfEmail, makePhone, type Phone, Provenance } from "./Contact.js"
import type { Mode } from "./Contact.js"
import {
  type Capabilities,
  ContactProvider,
  type ContactProviderService,
  type CostModel,
  type EnrichRequest,
  JobRef,
  JobStatus,
  type ResultPage
} from "./ContactProvider.js"
import {
  type EnrichmentError,
  InvalidRequest,
  JobCanceled,
  JobFailed,
  JobTimedOut,
  MalformedResponse,
  RateLimited,
  ResultExpired
} from "./EnrichmentError.js"
import * as Identifier from "./Identifier.js"
import * as ProviderHttp from "./internal/providerHttp.js"
import { Failed, Found, NotFound, type ProviderOutcome, Rejected } from "./PersonResult.js"
import * as Polling from "./Polling.js"
import * as RateLimits from "./RateLimits.js"
import * as TheHogApi from "./TheHogApi.js"

/** The provider name in results, provenance and errors. */
export const providerName = "thehog"

const enrichPath = "/api/enrichments"

// ---------------------------------------------------------------------------------------------------------------
// Options and limits
// ---------------------------------------------------------------------------------------------------------------

/**
 * Client-side limits. `poll`: TheHog counts 30/minute per organisation in a sliding window while our gates are
 * fixed windows that restart on first use, so two windows can both be spent inside one provider minute; 4 per
 * 10 s can never exceed 28 in any 60 s. `all`: the global per-organisation limit is not published (INFERRED
 * 300/minute, as the simulator defaults); 40 per 10 s stays under it the same way. Every call takes its
 * endpoint's gate and `all`.
 */
export const defaultLimits: RateLimits.Limits = {
  all: [{ limit: 40, interval: "10 seconds" }],
  poll: [{ limit: 4, interval: "10 seconds" }]
}

/** @since 0.1.0 @category Models */
export interface Options {
  readonly accessKey: Redacted.Redacted
  readonly secretKey: Redacted.Redacted
  /** defaults to `https://developer.thehog.ai` */
  readonly baseUrl?: string
  readonly limits?: RateLimits.Limits
  /** per attempt; a submit that times out is retried with the same Idempotency-Key */
  readonly timeout?: Duration.DurationInput
  /** sent as `X-Project-Id` when set */
  readonly projectId?: string
  /**
   * How long to wait after a 429 from a poll endpoint that gives no `Retry-After` (TheHog asks for ≥ 10 s).
   * Defaults to one interval of the `poll` limit: 10 s with `defaultLimits`, shorter when the limits are scaled.
   */
  readonly pollRetryAfter?: Duration.DurationInput
}

// ---------------------------------------------------------------------------------------------------------------
// The raw client
// ---------------------------------------------------------------------------------------------------------------

/** How an answer came about, so that the adapter can tell what this call actually paid. */
export interface Delivery {
  /** an Idempotency-Key replay of an earlier request's answer (TheHog charged nothing for it) */
  readonly replayed: boolean
  /** requests sent by this call, retries included (> 1: an earlier attempt may have reached TheHog and paid) */
  readonly attempts: number
}

/** The 200 answer of `POST /api/enrichments`. */
export interface SyncAnswer extends Delivery {
  readonly _tag: "Sync"
  readonly body: TheHogApi.SyncResponse
}

/** The 202 answer of `POST /api/enrichments`. */
export interface AcceptedAnswer extends Delivery {
  readonly _tag: "Accepted"
  readonly body: TheHogApi.Accepted
}

/** @since 0.1.0 @category Models */
export type EnrichAnswer = SyncAnswer | AcceptedAnswer

/** @since 0.1.0 @category Models */
export declare namespace TheHog {
  /** @since 0.1.0 @category Models */
  export interface Service {
    readonly baseUrl: string
    /** `POST /api/enrichments`: the sync 200 or the async 202, whichever TheHog answers */
    readonly enrich: (
      body: TheHogApi.EnrichmentRequest,
      options?: { readonly idempotencyKey?: string }
    ) => Effect.Effect<EnrichAnswer, EnrichmentError>
    /** `GET /api/operations/:id`; an unknown id is `ResultExpired` */
    readonly getOperation: (id: string) => Effect.Effect<TheHogApi.Operation, EnrichmentError>
    /** `GET /api/enrichments/:id` (same answer as `getOperation`) */
    readonly getEnrichment: (id: string) => Effect.Effect<TheHogApi.Operation, EnrichmentError>
    /** the poll TheHog pointed to (`pollUrl`, relative or absolute), else `GET /api/operations/:id` */
    readonly poll: (
      job: { readonly id: string; readonly pollUrl?: string | undefined }
    ) => Effect.Effect<TheHogApi.Operation, EnrichmentError>
  }
}

/** @since 0.1.0 @category Context */
export class TheHog extends Context.Tag("@enrich/core/TheHog")<TheHog, TheHog.Service>() {}

const decodeSync = Schema.decodeUnknown(TheHogApi.SyncResponse, { onExcessProperty: "ignore" })
const decodeAccepted = Schema.decodeUnknown(TheHogApi.Accepted, { onExcessProperty: "ignore" })

const redactedNames = [TheHogApi.headers.accessKey, TheHogApi.headers.secretKey]
const withRedactedNames = (
  names: ReadonlyArray<string | RegExp>
): ReadonlyArray<string | RegExp> => [...names, ...redactedNames.filter((name) => !names.includes(name))]

/**
 * The path to poll, relative to our base URL. `pollUrl` may be relative (`/api/operations/op_1`) or absolute
 * (`https://developer.thehog.ai/api/operations/op_1`); of an absolute one only the path is used, so the keys are
 * never sent to another host than the configured one. A base URL with a path (a proxy, the simulator under
 * `/thehog`) is stripped from the front when the pollUrl repeats it.
 */
export const pollPath = (baseUrl: string, job: { readonly id: string; readonly pollUrl?: string | undefined }) => {
  const fallback = `/api/operations/${encodeURIComponent(job.id)}`
  const pollUrl = job.pollUrl?.trim()
  if (pollUrl === undefined || pollUrl === "") return fallback
  let path: string
  try {
    const url = new URL(pollUrl, "http://relative.invalid")
    path = url.pathname + url.search
  } catch {
    return fallback
  }
  let basePath: string
  try {
    basePath = new URL(baseUrl, "http://relative.invalid").pathname.replace(/\/+$/, "")
  } catch {
    basePath = ""
  }
  if (basePath !== "" && path.startsWith(basePath + "/")) path = path.slice(basePath.length)
  const api = path.indexOf("/api/")
  if (api > 0) path = path.slice(api)
  return path.startsWith("/api/") ? path : fallback
}

const validationMessage = (body: unknown): string | undefined => {
  if (!Predicate.isRecord(body)) return undefined
  const head = Array.isArray(body.message)
    ? body.message.filter(Predicate.isString).join("; ")
    : Predicate.isString(body.message)
    ? body.message
    : undefined
  const issues = Array.isArray(body.errors)
    ? body.errors.flatMap((issue) =>
      Predicate.isRecord(issue) && Predicate.isString(issue.message)
        ? [Predicate.isString(issue.property) ? `${issue.property}: ${issue.message}` : issue.message]
        : []
    )
    : []
  if (head === undefined && issues.length === 0) return undefined
  return [head ?? "Validation failed", ...issues].join(issues.length > 0 ? " — " : "")
}

/** Requests sent by the current `enrich` call (the gate runs once per attempt, retries included). */
const enrichAttempts = FiberRef.unsafeMake(0)

/**
 * TheHog's readings of error answers: validation details in the message; a poll 429 without `Retry-After`
 * waits as TheHog asks; the rest goes to the generic status mapping.
 */
const classify = (pollWaitMillis: number) => (context: ProviderHttp.ErrorContext): EnrichmentError | undefined => {
  const { endpoint, provider, status } = context
  if (status === 429) {
    if (context.headers["retry-after"] !== undefined || context.headers["x-ratelimit-reset"] !== undefined) {
      return undefined
    }
    return endpoint === "poll" ? new RateLimited({ provider, endpoint, retryAfterMillis: pollWaitMillis }) : undefined
  }
  if (status === 400 || status === 404 || status === 409 || status === 422) {
    const message = validationMessage(context.body) ?? `HTTP ${status}`
    return new InvalidRequest({ provider, status, message })
  }
  return undefined
}

/**
 * @since 0.1.0 @category Constructors
 */
export const make = (options: Options): Effect.Effect<TheHog.Service, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    // Registered for the layer's scope (logs of whoever uses it) and around every call (spans, errors).
    yield* Effect.locallyScopedWith(Headers.currentRedactedNames, withRedactedNames)
    const baseUrl = options.baseUrl ?? TheHogApi.defaultBaseUrl
    const limits = options.limits ?? defaultLimits
    const gates = yield* RateLimits.make(limits)
    const pollWindow = limits.poll?.[0]
    const pollWaitMillis = options.pollRetryAfter !== undefined
      ? Duration.toMillis(options.pollRetryAfter)
      : pollWindow !== undefined
      ? Duration.toMillis(pollWindow.interval)
      : 10_000
    const client = yield* HttpClient.HttpClient
    const http = ProviderHttp.make(client, {
      provider: providerName,
      baseUrl,
      decorate: (request) => {
        const authed = request.pipe(
          HttpClientRequest.setHeader(TheHogApi.headers.accessKey, Redacted.value(options.accessKey)),
          HttpClientRequest.setHeader(TheHogApi.headers.secretKey, Redacted.value(options.secretKey)),
          HttpClientRequest.acceptJson
        )
        return options.projectId === undefined
          ? authed
          : HttpClientRequest.setHeader(authed, TheHogApi.headers.projectId, options.projectId)
      },
      // the endpoint's own window first, then the organisation-wide one
      gates: {
        gate: (endpoint) => (effect) =>
          Effect.zipRight(
            endpoint === "enrich" ? FiberRef.update(enrichAttempts, (n) => n + 1) : Effect.void,
            gates.gate(endpoint)(gates.gate("all")(effect))
          )
      },
      classify: classify(pollWaitMillis),
      ...(options.timeout === undefined ? {} : { timeout: options.timeout })
    })
    const redacting = Effect.locallyWith(Headers.currentRedactedNames, withRedactedNames)

    const getOperationAt = (id: string, path: string) =>
      http.json("poll", HttpClientRequest.get(path), TheHogApi.Operation).pipe(
        Effect.map((response) => response.body),
        Effect.catchIf(
          (error): error is InvalidRequest => error._tag === "InvalidRequest" && error.status === 404,
          (error) => Effect.fail(new ResultExpired({ provider: providerName, jobId: id, message: error.message }))
        ),
        redacting
      )

    return TheHog.of({
      baseUrl,
      enrich: (body, enrichOptions) => {
        const request = HttpClientRequest.post(enrichPath).pipe(
          HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(TheHogApi.EnrichmentRequest)(body)),
          (request) =>
            enrichOptions?.idempotencyKey === undefined
              ? request
              : HttpClientRequest.setHeader(request, TheHogApi.headers.idempotencyKey, enrichOptions.idempotencyKey)
        )
        // Which answer it is goes by shape (a sync body has `data`), so drift is reported against the right schema.
        const counted = Effect.flatMap(
          http.json("enrich", request, Schema.Unknown),
          (response) => Effect.map(FiberRef.get(enrichAttempts), (attempts) => ({ ...response, attempts }))
        )
        return Effect.locally(counted, enrichAttempts, 0).pipe(
          Effect.flatMap(({ attempts, body, headers, status }) => {
            // A replay keeps the stored body, so its `meta.requestId` is the first request's, not this one's.
            const requestId = headers[TheHogApi.headers.requestId]
            const bodyRequestId = Predicate.isRecord(body) && Predicate.isRecord(body.meta)
              ? body.meta.requestId
              : undefined
            const replayed = headers[TheHogApi.headers.idempotentReplayed] === "true" ||
              (requestId !== undefined && typeof bodyRequestId === "string" && bodyRequestId !== requestId)
            const answer = Predicate.isRecord(body) && "data" in body
              ? Effect.map(decodeSync(body), (body): EnrichAnswer => ({ _tag: "Sync", body, replayed, attempts }))
              : Effect.map(
                decodeAccepted(body),
                (body): EnrichAnswer => ({ _tag: "Accepted", body, replayed, attempts })
              )
            return Effect.mapError(
              answer,
              (error) =>
                ProviderHttp.malformed({ provider: providerName, endpoint: `POST ${enrichPath}`, status }, error)
            )
          }),
          redacting
        )
      },
      getOperation: (id) => getOperationAt(id, `/api/operations/${encodeURIComponent(id)}`),
      getEnrichment: (id) => getOperationAt(id, `${enrichPath}/${encodeURIComponent(id)}`),
      poll: (job) => getOperationAt(job.id, pollPath(baseUrl, job))
    })
  })

/** @since 0.1.0 @category Layers */
export const layer = (options: Options): Layer.Layer<TheHog, never, HttpClient.HttpClient> =>
  Layer.scoped(TheHog, make(options))

/**
 * Keys from `THEHOG_ACCESS_KEY` / `THEHOG_SECRET_KEY`, base URL from `THEHOG_BASE_URL` (default the real host).
 *
 * @since 0.1.0 @category Layers
 */
export const layerConfig: Layer.Layer<TheHog, ConfigError.ConfigError, HttpClient.HttpClient> = Layer.unwrapEffect(
  Effect.map(
    Config.all({
      accessKey: Config.redacted("THEHOG_ACCESS_KEY"),
      secretKey: Config.redacted("THEHOG_SECRET_KEY"),
      baseUrl: Config.string("THEHOG_BASE_URL").pipe(Config.withDefault(TheHogApi.defaultBaseUrl))
    }),
    layer
  )
)

// ---------------------------------------------------------------------------------------------------------------
// The adapter to ContactProvider
// ---------------------------------------------------------------------------------------------------------------

/**
 * INFERRED prices (gen B publishes none): per identifier at submission, `contact.email` 1 credit and
 * `contact.phone` 2, charged per attempt whether or not anything is found (gen A charged per provider attempt).
 */
export const prices = { email: 1, phone: 2 } as const

const wantsEmail = (fields: ReadonlyArray<Field>) => fields.includes("work_email") || fields.includes("personal_email")

/** Credits one person costs for these fields. */
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

/** Our fields as TheHog's: `contact.email` covers both work and personal emails. */
export const requestFieldsOf = (
  fields: ReadonlyArray<Field>
): readonly [TheHogApi.RequestField, ...Array<TheHogApi.RequestField>] => {
  const email = wantsEmail(fields)
  const phone = fields.includes("phone")
  if (email && phone) return ["contact.email", "contact.phone"]
  return phone ? ["contact.phone"] : ["contact.email"]
}

/** The identifier object we send: the canonical LinkedIn URL, the address, the handle, the username. */
export const toWire = (identifier: Identifier.Identifier): TheHogApi.PersonIdentifier => {
  switch (identifier._tag) {
    case "LinkedInProfile":
      return { linkedin_url: identifier.url }
    case "EmailAddress":
      return { email: identifier.address }
    case "XHandle":
      return { x_handle: identifier.handle }
    case "GitHubUsername":
      return { github_username: identifier.username }
  }
}

/** Re-parses TheHog's echo of an identifier into ours, so results are keyed without any in-memory state. */
export const fromWire = (
  identifier: TheHogApi.PersonIdentifier
): Either.Either<Identifier.Identifier, Identifier.InvalidIdentifier> => {
  const [key, value] = TheHogApi.identifierEntry(identifier)
  switch (key) {
    case "linkedin_url":
      return Identifier.parseLinkedIn(value)
    case "email":
      return Identifier.parseEmail(value)
    case "x_handle":
      return Identifier.parseXHandle(value)
    case "github_username":
      return Identifier.parseGitHub(value)
  }
}

interface Context {
  readonly fields: ReadonlyArray<Field>
  readonly mode: Mode
  readonly observedAt: DateTime.Utc
  readonly cost: number
}

/**
 * TheHog returns verified values only, so every email is `valid`; it does not say work or personal, so the kind
 * is read from the domain (`fieldOfEmail`: free-mail → personal, else work). Only the fields asked for are kept.
 */
export const emailsOf = (raw: ReadonlyArray<string>, fields: ReadonlyArray<Field>): ReadonlyArray<Email> => {
  const seen = new Set<string>()
  const out: Array<Email> = []
  for (const value of raw) {
    const address = value.trim().toLowerCase()
    if (address === "" || !address.includes("@") || seen.has(address)) continue
    seen.add(address)
    const field = fieldOfEmail(new Email({ address, kind: "unknown", verdict: "valid" }))
    if (field === undefined || !fields.includes(field)) continue
    out.push(new Email({ address, kind: field === "personal_email" ? "personal" : "work", verdict: "valid" }))
  }
  return out
}

const phonesOf = (raw: ReadonlyArray<string>, fields: ReadonlyArray<Field>): ReadonlyArray<Phone> => {
  if (!fields.includes("phone")) return []
  const seen = new Set<string>()
  const out: Array<Phone> = []
  for (const value of raw) {
    if (value.trim() === "") continue
    const phone = makePhone(value)
    if (seen.has(phone.number)) continue
    seen.add(phone.number)
    out.push(phone)
  }
  return out
}

const outcomeOfData = (
  key: Identifier.PersonKey,
  data: TheHogApi.EnrichmentData | null | undefined,
  context: Context
): Found | NotFound => {
  const provenance = new Provenance({
    provider: providerName,
    endpoint: enrichPath,
    mode: context.mode,
    observedAt: context.observedAt,
    cost: context.cost
  })
  const emails = emailsOf(data?.contact?.email ?? [], context.fields)
  const phones = phonesOf(data?.contact?.phone ?? [], context.fields)
  return emails.length === 0 && phones.length === 0
    ? new NotFound({ key, provenance })
    : new Found({ key, emails, phones, provenance })
}

/**
 * One batch item as an outcome: `success` → Found (or NotFound when nothing asked for came back); `failed` whose
 * message means "no data" → NotFound, "unsupported identifier" → Rejected by the provider, anything else → Failed.
 */
export const outcomeOfItem = (item: TheHogApi.ResultItem, context: Context): ProviderOutcome => {
  const [, value] = TheHogApi.identifierEntry(item.identifier)
  const parsed = fromWire(item.identifier)
  if (Either.isLeft(parsed)) {
    return new Rejected({
      input: value,
      reason: `TheHog echoed an identifier we cannot read: ${parsed.left.reason}`,
      provider: providerName
    })
  }
  const key = parsed.right.key
  const hasData = item.data !== undefined && item.data !== null
  if (item.status === "success" || (item.status === "unknown" && hasData)) {
    return outcomeOfData(key, item.data, context)
  }
  const message = item.error?.message ?? (item.status === "unknown" ? "unknown item status" : "failed without a reason")
  if (TheHogApi.noDataPattern.test(message)) return outcomeOfData(key, undefined, context)
  if (TheHogApi.unsupportedPattern.test(message)) {
    return new Rejected({ key, input: value, reason: message, provider: providerName })
  }
  return new Failed({ key, provider: providerName, reason: message })
}

/** How a TheHog operation reads as our job status. */
export const jobStatusOf = (operation: TheHogApi.Operation, ref: JobRef): JobStatus => {
  const items = operation.result?.items.length
  const base = { total: ref.people, charged: ref.charged, refunded: 0 }
  switch (operation.status) {
    case "queued":
      return new JobStatus({ ...base, state: "queued", finished: 0 })
    case "processing":
      return new JobStatus({
        ...base,
        state: "running",
        finished: Math.floor(((operation.progress ?? 0) / 100) * ref.people)
      })
    case "succeeded":
    case "partial_success":
      return new JobStatus({ ...base, state: "completed", finished: items ?? ref.people })
    case "failed":
      return new JobStatus({ ...base, state: "failed", message: operation.error?.message ?? "failed" })
    case "cancelled":
      return new JobStatus({ ...base, state: "canceled" })
    case "unknown":
      // a status we do not know yet: finished if it carries a result, otherwise still going
      return items !== undefined
        ? new JobStatus({ ...base, state: "completed", finished: items })
        : new JobStatus({ ...base, state: "running" })
  }
}

const finished = (operation: TheHogApi.Operation) =>
  TheHogApi.isTerminal(operation.status) ||
  (operation.status === "unknown" && Predicate.isNotNullable(operation.result))

/** Outcomes go out in pages of this many items; the cursor is the index of the next item in `result.items`. */
export const pageSize = 25

// A sync answer that arrives through `submit` is kept in the JobRef, so `results` works after a restart too.
const SyncMeta = Schema.parseJson(
  Schema.Struct({ identifier: TheHogApi.PersonIdentifier, answer: TheHogApi.SyncResponse })
)

const parseCursor = (cursor: string | undefined, total: number): Either.Either<number, InvalidRequest> => {
  if (cursor === undefined) return Either.right(0)
  const n = Number(cursor)
  return Number.isInteger(n) && n >= 0 && n <= total && /^\d+$/.test(cursor)
    ? Either.right(n)
    : Either.left(new InvalidRequest({ provider: providerName, message: `not a TheHog result cursor: ${cursor}` }))
}

const pagesOf = (
  outcomes: ReadonlyArray<ProviderOutcome>,
  start: number
): ReadonlyArray<ResultPage> => {
  const pages: Array<ResultPage> = []
  for (let from = start; from < outcomes.length; from += pageSize) {
    const to = Math.min(outcomes.length, from + pageSize)
    pages.push({ results: outcomes.slice(from, to), cursor: to < outcomes.length ? String(to) : undefined })
  }
  return pages.length === 0 ? [{ results: [], cursor: undefined }] : pages
}

/**
 * The adapter: `submit` always sends `identifiers` (TheHog answers 202 with an operation), `enrichSync` sends a
 * single LinkedIn `/in/` person as `identifier` (200) and anyone else as `identifiers` (202, then waits).
 *
 * @since 0.1.0 @category Constructors
 */
export const contactProvider: Effect.Effect<ContactProviderService, never, TheHog> = Effect.gen(function*() {
  const client = yield* TheHog

  const refOf = (request: EnrichRequest, answer: EnrichAnswer, submittedAt: DateTime.Utc): JobRef => {
    const fields = request.fields
    const estimate = creditsPerPerson(fields) * request.people.length
    const cost = answer.body.meta.cost?.actual ?? estimate
    // A replay on the first attempt answers a request an earlier submit made (and paid for): this one paid
    // nothing. After a retry it may be the answer to our own first attempt, whose charge nobody reported yet.
    const charged = answer.replayed && answer.attempts <= 1 ? 0 : cost
    const replay = answer.replayed ? { replayed: "true", replayedCost: String(cost) } : {}
    if (answer._tag === "Accepted") {
      return new JobRef({
        provider: providerName,
        id: answer.body.id,
        mode: "batch",
        submittedAt,
        people: request.people.length,
        fields,
        charged,
        meta: { pollUrl: answer.body.pollUrl, requestId: answer.body.meta.requestId, ...replay }
      })
    }
    const identifier = toWire(request.people[0].identifier)
    return new JobRef({
      provider: providerName,
      id: `sync:${answer.body.meta.requestId}`,
      mode: "sync",
      submittedAt,
      people: 1,
      fields,
      charged,
      meta: { sync: Schema.encodeSync(SyncMeta)({ identifier, answer: answer.body }), ...replay }
    })
  }

  const syncMetaOf = (ref: JobRef) =>
    (ref.meta as Record<string, string | undefined>).sync === undefined
      ? Effect.succeed(undefined)
      : Effect.mapError(
        Schema.decode(SyncMeta)((ref.meta as Record<string, string | undefined>).sync ?? ""),
        (error) => ProviderHttp.malformed({ provider: providerName, endpoint: "job reference" }, error)
      )

  const awaitOperation = (ref: JobRef) =>
    Effect.gen(function*() {
      const policy = yield* Polling.Polling
      const check = client.poll({ id: ref.id, pollUrl: (ref.meta as Record<string, string | undefined>).pollUrl })
      const until = Schedule.recurUntil(finished).pipe(Schedule.zipLeft(Polling.delays(policy)))
      return yield* Effect.repeat(check, until).pipe(
        Effect.timeoutFail({
          duration: policy.deadline,
          onTimeout: () =>
            new JobTimedOut({
              provider: providerName,
              jobId: ref.id,
              waitedMillis: Duration.toMillis(policy.deadline)
            })
        })
      )
    })

  const outcomesOf = (operation: TheHogApi.Operation, ref: JobRef, observedAt: DateTime.Utc) => {
    if (operation.status === "failed") {
      return Effect.fail(
        new JobFailed({ provider: providerName, jobId: ref.id, message: operation.error?.message ?? "failed" })
      )
    }
    if (operation.status === "cancelled") return Effect.fail(new JobCanceled({ provider: providerName, jobId: ref.id }))
    const items = operation.result?.items
    if (items === undefined) {
      return Effect.fail(
        new MalformedResponse({
          provider: providerName,
          endpoint: `GET /api/operations/${ref.id}`,
          path: `["result"]`,
          detail: `is missing (operation ${operation.status})`
        })
      )
    }
    const context: Context = { fields: ref.fields, mode: ref.mode, observedAt, cost: creditsPerPerson(ref.fields) }
    return Effect.succeed(items.map((item) => outcomeOfItem(item, context)))
  }

  const syncOutcome = (
    identifier: TheHogApi.PersonIdentifier,
    answer: TheHogApi.SyncResponse,
    fields: ReadonlyArray<Field>,
    observedAt: DateTime.Utc
  ): ProviderOutcome => {
    const context: Context = {
      fields,
      mode: "sync",
      observedAt,
      cost: answer.meta.cost?.actual ?? creditsPerPerson(fields)
    }
    const parsed = fromWire(identifier)
    return Either.isLeft(parsed)
      ? new Rejected({
        input: TheHogApi.identifierEntry(identifier)[1],
        reason: parsed.left.reason,
        provider: "thehog"
      })
      : outcomeOfData(parsed.right.key, answer.data, context)
  }

  const poll = (ref: JobRef): Effect.Effect<JobStatus, EnrichmentError> =>
    (ref.meta as Record<string, string | undefined>).sync !== undefined
      ? Effect.succeed(
        new JobStatus({ state: "completed", total: 1, finished: 1, charged: ref.charged, refunded: 0 })
      )
      : Effect.map(
        client.poll({ id: ref.id, pollUrl: (ref.meta as Record<string, string | undefined>).pollUrl }),
        (operation) => jobStatusOf(operation, ref)
      )

  const results = (ref: JobRef, cursor?: string): Stream.Stream<ResultPage, EnrichmentError> =>
    Stream.unwrap(Effect.gen(function*() {
      const sync = yield* syncMetaOf(ref)
      let outcomes: ReadonlyArray<ProviderOutcome>
      if (sync !== undefined) {
        outcomes = [syncOutcome(sync.identifier, sync.answer, ref.fields, yield* DateTime.now)]
      } else {
        const operation = yield* awaitOperation(ref)
        outcomes = yield* outcomesOf(operation, ref, yield* DateTime.now)
      }
      const start = yield* parseCursor(cursor, outcomes.length)
      return Stream.fromIterable(pagesOf(outcomes, start))
    }))

  const submit = (request: EnrichRequest): Effect.Effect<JobRef, EnrichmentError> =>
    Effect.gen(function*() {
      if (request.people.length > capabilities.maxBatch) {
        return yield* new InvalidRequest({
          provider: providerName,
          message: `TheHog takes at most ${capabilities.maxBatch} identifiers per request, got ${request.people.length}`
        })
      }
      const answer = yield* client.enrich(
        {
          identifiers: request.people.map((person) => toWire(person.identifier)),
          fields: requestFieldsOf(request.fields)
        },
        { idempotencyKey: request.idempotencyKey }
      )
      return refOf(request, answer, yield* DateTime.now)
    }).pipe(Effect.withSpan("TheHog.submit", { attributes: { people: request.people.length } }))

  const enrichSync = (request: EnrichRequest): Effect.Effect<ReadonlyArray<ProviderOutcome>, EnrichmentError> =>
    Effect.gen(function*() {
      if (request.people.length > 1) {
        return yield* new InvalidRequest({
          provider: providerName,
          message: `TheHog answers synchronously for one person only, got ${request.people.length}`
        })
      }
      const person = request.people[0]
      const identifier = toWire(person.identifier)
      const single = person.identifier._tag === "LinkedInProfile" && person.identifier.path === "in"
      const fields = requestFieldsOf(request.fields)
      // a different body gets a different key: TheHog refuses a key reused with another request
      const answer = yield* client.enrich(
        single ? { identifier, fields } : { identifiers: [identifier], fields },
        { idempotencyKey: single ? `${request.idempotencyKey}:single` : request.idempotencyKey }
      )
      if (answer._tag === "Sync") return [syncOutcome(identifier, answer.body, request.fields, yield* DateTime.now)]
      // TheHog chose the async path: wait for the operation, as `results` would
      const ref = refOf(request, answer, yield* DateTime.now)
      const operation = yield* awaitOperation(ref)
      return yield* outcomesOf(operation, ref, yield* DateTime.now)
    }).pipe(Effect.withSpan("TheHog.enrichSync"))

  return {
    capabilities,
    submit,
    poll,
    results,
    // TheHog documents no cancel endpoint: the job runs on (it was charged at submission); report where it is
    cancel: poll,
    enrichSync
  }
})

/** @since 0.1.0 @category Layers */
export const layerContactProvider: Layer.Layer<ContactProvider, never, TheHog> = Layer.effect(
  ContactProvider,
  contactProvider
)
