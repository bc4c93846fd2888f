/**
 * Crustdata: the raw client (batch contact enrich, job status, streamed gzipped JSONL results, sync contact
 * enrich) and its adapter to `ContactProvider`.
 *
 * - Results are streamed: download → gunzip (web-standard `DecompressionStream`, so core stays
 *   platform-neutral) → text → lines → Schema per line; the file is never held in memory.
 * - The download link is a pre-signed S3 URL: fetched bare (an `Authorization` header makes S3 refuse it),
 *   refreshed once through `GET /batch/{id}` when it has expired, else `ResultExpired`.
 * - At most 5 active jobs per account: a semaphore in the adapter, taken at submit and given back when the job
 *   is seen terminal; a 429 saying so becomes `TooManyActiveJobs` and the submit waits and retries.
 * - A webhook can end the wait early (`notifyCompleted` / `awaitCompletion(id, signal)`); the status is always
 *   re-fetched rather than trusting the webhook body.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Field, Verdict } from "./Contact.js"
import { Email, makePhone, Provenance } from "./Contact.js"
import {
  type Capabilities,
  ContactProvider,
  type ContactProviderService,
  type EnrichRequest,
  JobRef,
  JobStatus,
  type ResultPage
} from "./ContactProvider.js"
import * as CrustdataApi from "./CrustdataApi.js"
import {
  type EnrichmentError,
  InvalidRequest,
  isEnrichmentError,
  JobFailed,
  JobTimedOut,
  MalformedResponse,
  ProviderUnavailable,
  ResultExpired,
  TooManyActiveJobs
} from "./EnrichmentError.js"
import * as Identifier from "./Identifier.js"
import type { PersonKey } from "./Identifier.js"
import * as ProviderHttp from "./internal/providerHttp.js"
import { Failed, Found, NotFound, type ProviderOutcome } from "./PersonResult.js"
import * as Polling from "./Polling.js"
import * as RateLimits from "./RateLimits.js"

const provider = "crustdata"

/** Endpoint names, used for rate-limit gates, spans and errors. */
export const endpoints = {
  submit: "batch/submit",
  status: "batch/status",
  list: "batch/list",
  download: "batch/download",
  contactEnrich: "person/contact/enrich"
} as const

/** @since 0.1.0 @category Models */
export interface Options {
  readonly apiKey: Redacted.Redacted
  /** defaults to https://api.crustdata.com */
  readonly baseUrl?: string | undefined
  readonly limits?: RateLimits.Limits | undefined
  /** the account's cap on pending/processing batch jobs (documented: 5) */
  readonly maxActiveJobs?: number | undefined
  /** outcomes per `ResultPage` (JSONL records per page) */
  readonly pageSize?: number | undefined
  /** sent as `webhook_url` with every batch submit */
  readonly webhookUrl?: string | undefined
  /** per request attempt */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Documented: `/person/contact/enrich` 15 requests/minute (sliding window). The batch endpoints' limits are not
 * published: the values below are INFERRED, conservative, and the client also honours `x-ratelimit-reset` on 429.
 */
export const defaultLimits: RateLimits.Limits = {
  [endpoints.contactEnrich]: [{ limit: 15, interval: "1 minute" }],
  [endpoints.submit]: [{ limit: 30, interval: "1 minute" }],
  [endpoints.status]: [{ limit: 120, interval: "1 minute" }],
  [endpoints.list]: [{ limit: 30, interval: "1 minute" }]
}

/** @since 0.1.0 @category Models */
export declare namespace Crustdata {
  /** @since 0.1.0 @category Models */
  export interface Service {
    readonly maxActiveJobs: number
    readonly pageSize: number
    readonly webhookUrl: string | undefined
    /** `POST /batch/person/contact/enrich` */
    readonly submitBatch: (
      body: CrustdataApi.BatchSubmitRequest
    ) => Effect.Effect<CrustdataApi.BatchSubmitResponse, EnrichmentError>
    /** `GET /batch/{batch_id}` */
    readonly batchStatus: (batchId: string) => Effect.Effect<CrustdataApi.BatchStatusResponse, EnrichmentError>
    /** `GET /batch`: one page of the account's jobs, most recent first (no download links) */
    readonly listBatches: (
      query?: CrustdataApi.BatchListQuery
    ) => Effect.Effect<CrustdataApi.BatchListResponse, EnrichmentError>
    /**
     * Waits until the job is `completed` or `failed`: polls per `Polling`, and checks at once when `signal`
     * completes or `notifyCompleted(batchId)` is called (e.g. from a webhook receiver). `JobTimedOut` after
     * the policy's deadline.
     */
    readonly awaitCompletion: (
      batchId: string,
      signal?: Effect.Effect<void>
    ) => Effect.Effect<CrustdataApi.BatchStatusResponse, EnrichmentError>
    /** wakes every `awaitCompletion` of this job (a webhook arrived); harmless when nobody waits */
    readonly notifyCompleted: (batchId: string) => Effect.Effect<void>
    /**
     * The records of a completed job, streamed from its gzipped JSONL file. Uses `status`'s download link when
     * given (else fetches the status), and refreshes an expired link once.
     */
    readonly records: (
      batchId: string,
      status?: CrustdataApi.BatchStatusResponse
    ) => Stream.Stream<CrustdataApi.BatchRecord, EnrichmentError>
    /** `POST /person/contact/enrich` */
    readonly enrichContacts: (
      body: CrustdataApi.ContactEnrichRequest
    ) => Effect.Effect<CrustdataApi.ContactEnrichResponse, EnrichmentError>
  }
}

/** @since 0.1.0 @category Context */
export class Crustdata extends Context.Tag("@enrich/core/Crustdata")<Crustdata, Crustdata.Service>() {}

const isTerminal = (status: CrustdataApi.BatchStatusResponse): boolean =>
  status.status === "completed" || status.status === "failed"

const errorBodyOf = Schema.decodeUnknownOption(CrustdataApi.ErrorBody)

/** Crustdata's own error readings; everything else falls back to the generic status mapping. */
const classify = (maxActiveJobs: number) => (context: ProviderHttp.ErrorContext): EnrichmentError | undefined => {
  const message = ProviderHttp.messageOf(context.body) ?? `HTTP ${context.status}`
  if (context.endpoint === endpoints.download) {
    // S3 answers an expired or otherwise refused pre-signed link with 403 (XML body); a missing object with 404
    return context.status === 403 || context.status === 404 || context.status === 410
      ? new ResultExpired({ provider, jobId: "", message: `download refused (HTTP ${context.status}): ${message}` })
      : undefined
  }
  if (context.status === 429 && /active/i.test(message)) {
    return new TooManyActiveJobs({ provider, limit: maxActiveJobs })
  }
  if (context.status === 400) {
    const available = Option.flatMap(
      errorBodyOf(context.body),
      (body) => Option.fromNullable(body.error.metadata?.available_fields)
    )
    return new InvalidRequest({
      provider,
      status: 400,
      message: Option.match(available, {
        onNone: () => message,
        onSome: (fields) => `${message} (available fields: ${fields.join(", ")})`
      })
    })
  }
  return undefined
}

const concatBytes = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

const hex = (bytes: Uint8Array): string => [...bytes.slice(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ")

/** Fails early, with a readable message, when the body does not start with the gzip magic bytes `1f 8b`. */
const checkGzipMagic = (jobId: string) => <R>(self: Stream.Stream<Uint8Array, EnrichmentError, R>) =>
  self.pipe(
    Stream.mapAccumEffect(
      new Uint8Array(0) as Uint8Array | undefined,
      (held, chunk): Effect.Effect<readonly [Uint8Array | undefined, Uint8Array], EnrichmentError> => {
        if (held === undefined) return Effect.succeed([undefined, chunk] as const)
        const head = concatBytes(held, chunk)
        if (head.length < 2) return Effect.succeed([head, new Uint8Array(0)] as const)
        if (head[0] !== 0x1f || head[1] !== 0x8b) {
          return Effect.fail(
            new MalformedResponse({
              provider,
              endpoint: "GET results file",
              path: "(body)",
              detail: `of batch ${jobId} is not gzip (starts with ${hex(head)})`
            })
          )
        }
        return Effect.succeed([undefined, head] as const)
      }
    ),
    Stream.filter((chunk) => chunk.length > 0)
  )

/**
 * Gunzips with the web-standard `DecompressionStream` (a global in Node ≥ 18, browsers, Deno, Bun), bridging
 * Effect streams and web streams. An upstream `EnrichmentError` passes through; a decompression failure
 * (corrupt or truncated file) becomes `MalformedResponse`.
 */
export const gunzip = (jobId: string) =>
<R>(
  self: Stream.Stream<Uint8Array, EnrichmentError, R>
): Stream.Stream<Uint8Array, EnrichmentError, R> =>
  Stream.unwrap(
    Effect.map(Stream.toReadableStreamEffect(checkGzipMagic(jobId)(self)), (readable) =>
      Stream.fromReadableStream({
        evaluate: () =>
          readable.pipeThrough(
            new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>
          ),
        onError: (error): EnrichmentError =>
          isEnrichmentError(error)
            ? error
            : new MalformedResponse({
              provider,
              endpoint: "GET results file",
              path: "(body)",
              detail: `of batch ${jobId} could not be gunzipped (${
                error instanceof Error ? error.message : String(error)
              })`
            })
      }))
  )

/** @since 0.1.0 @category Constructors */
export const make = (options: Options): Effect.Effect<Crustdata.Service, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const gates = yield* RateLimits.make(options.limits ?? defaultLimits)
    const maxActiveJobs = options.maxActiveJobs ?? CrustdataApi.maxActiveJobs
    const http = ProviderHttp.make(client, {
      provider,
      baseUrl: options.baseUrl ?? CrustdataApi.defaultBaseUrl,
      decorate: (request) =>
        request.pipe(
          HttpClientRequest.bearerToken(options.apiKey),
          HttpClientRequest.setHeader("x-api-version", CrustdataApi.apiVersion),
          HttpClientRequest.acceptJson
        ),
      gates,
      classify: classify(maxActiveJobs),
      ...(options.timeout === undefined ? {} : { timeout: options.timeout })
    })
    // Download links are absolute pre-signed URLs on another host: no base URL, no auth.
    const files = ProviderHttp.make(client, {
      provider,
      baseUrl: "",
      decorate: (request) => request,
      gates,
      classify: classify(maxActiveJobs),
      ...(options.timeout === undefined ? {} : { timeout: options.timeout })
    })

    const submitBatch = (body: CrustdataApi.BatchSubmitRequest) =>
      Effect.map(
        http.json(
          endpoints.submit,
          HttpClientRequest.post("/batch/person/contact/enrich").pipe(
            HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(CrustdataApi.BatchSubmitRequest)(body))
          ),
          CrustdataApi.BatchSubmitResponse
        ),
        (response) => response.body
      )

    const batchStatus = (batchId: string) =>
      Effect.map(
        http.json(
          endpoints.status,
          HttpClientRequest.get(`/batch/${encodeURIComponent(batchId)}`),
          CrustdataApi.BatchStatusResponse
        ),
        (response) => response.body
      )

    const listBatches = (query: CrustdataApi.BatchListQuery = {}) =>
      Effect.map(
        http.json(
          endpoints.list,
          HttpClientRequest.get("/batch").pipe(
            HttpClientRequest.setUrlParams({
              ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
              ...(query.limit === undefined ? {} : { limit: String(query.limit) }),
              ...(query.status === undefined ? {} : { status: query.status })
            })
          ),
          CrustdataApi.BatchListResponse
        ),
        (response) => response.body
      )

    const enrichContacts = (body: CrustdataApi.ContactEnrichRequest) =>
      Effect.map(
        http.json(
          endpoints.contactEnrich,
          HttpClientRequest.post("/person/contact/enrich").pipe(
            HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(CrustdataApi.ContactEnrichRequest)(body))
          ),
          CrustdataApi.ContactEnrichResponse
        ),
        (response) => response.body
      )

    // Webhook wake-ups: one Deferred per job that someone waits for (or was told about first), dropped when the
    // last waiter is done.
    const wakeups = new Map<string, { readonly deferred: Deferred.Deferred<void>; waiters: number }>()
    const wakeupOf = (batchId: string) =>
      Effect.suspend(() => {
        const existing = wakeups.get(batchId)
        if (existing !== undefined) return Effect.succeed(existing)
        return Effect.map(Deferred.make<void>(), (deferred) => {
          const entry = { deferred, waiters: 0 }
          wakeups.set(batchId, entry)
          return entry
        })
      })
    const notifyCompleted = (batchId: string) =>
      Effect.flatMap(wakeupOf(batchId), (entry) => Deferred.succeed(entry.deferred, undefined)).pipe(Effect.asVoid)
    const waitFor = (batchId: string) =>
      Effect.acquireRelease(
        Effect.tap(wakeupOf(batchId), (entry) => Effect.sync(() => entry.waiters++)),
        (entry) =>
          Effect.sync(() => {
            if (--entry.waiters === 0 && wakeups.get(batchId) === entry) wakeups.delete(batchId)
          })
      )

    const awaitCompletion = (batchId: string, signal?: Effect.Effect<void>) =>
      Effect.gen(function*() {
        const policy = yield* Polling.Polling
        const status = batchStatus(batchId)
        const polled = Effect.repeat(
          status,
          Schedule.recurUntil(isTerminal).pipe(Schedule.zipLeft(Polling.delays(policy)))
        )
        const wakeup = yield* waitFor(batchId)
        const woken = signal === undefined
          ? Deferred.await(wakeup.deferred)
          : Effect.raceFirst(signal, Deferred.await(wakeup.deferred))
        // A wake-up checks at once; a premature one (job not terminal yet) leaves the polling to finish the wait.
        const signalled = Effect.flatMap(
          Effect.zipRight(woken, status),
          (s) => isTerminal(s) ? Effect.succeed(s) : Effect.never
        )
        return yield* Effect.raceFirst(polled, signalled).pipe(
          Effect.timeoutFail({
            duration: policy.deadline,
            onTimeout: () =>
              new JobTimedOut({ provider, jobId: batchId, waitedMillis: Duration.toMillis(policy.deadline) })
          })
        )
      }).pipe(Effect.scoped)

    const withJob = (batchId: string) => (error: EnrichmentError): EnrichmentError =>
      error._tag === "ResultExpired" ? new ResultExpired({ provider, jobId: batchId, message: error.message }) : error

    const downloadLink = (
      batchId: string,
      status: CrustdataApi.BatchStatusResponse
    ): Effect.Effect<string, EnrichmentError> => {
      if (status.status === "failed") {
        return Effect.fail(
          new JobFailed({ provider, jobId: batchId, message: status.error_message ?? "batch job failed" })
        )
      }
      if (status.status !== "completed") {
        return Effect.fail(
          new InvalidRequest({ provider, message: `batch ${batchId} is ${status.status}: no results yet` })
        )
      }
      return status.download_url === undefined
        ? Effect.fail(new ResultExpired({ provider, jobId: batchId, message: "completed job without a download_url" }))
        : Effect.succeed(status.download_url)
    }

    const open = (url: string) => files.raw(endpoints.download, HttpClientRequest.get(url), { bare: true })

    const records = (batchId: string, known?: CrustdataApi.BatchStatusResponse) =>
      Stream.unwrap(Effect.gen(function*() {
        const first = yield* downloadLink(batchId, known ?? (yield* batchStatus(batchId)))
        // An expired link (S3 403) gets one fresh link from the status endpoint, then gives up.
        const response = yield* open(first).pipe(
          Effect.catchTag(
            "ResultExpired",
            () => Effect.flatMap(Effect.flatMap(batchStatus(batchId), (s) => downloadLink(batchId, s)), open)
          ),
          Effect.mapError(withJob(batchId))
        )
        // 1-based number of the last non-empty line read (this stream's own counter: `unwrap` runs per stream)
        let index = 0
        return response.stream.pipe(
          Stream.mapError((): EnrichmentError =>
            new ProviderUnavailable({
              provider,
              endpoint: endpoints.download,
              message: `results file of ${batchId} could not be read to the end`
            })
          ),
          gunzip(batchId),
          Stream.decodeText(),
          Stream.splitLines,
          Stream.chunks,
          Stream.flatMap((lines) => {
            // The records before a malformed line are still emitted, then the stream fails at that line.
            const decoded: Array<CrustdataApi.BatchRecord> = []
            for (const line of lines) {
              if (line.trim().length === 0) continue
              const result = CrustdataApi.decodeBatchLine(line)
              index++
              if (Either.isRight(result)) {
                decoded.push(result.right)
                continue
              }
              const drift = ProviderHttp.malformed({ provider, endpoint: "GET results file" }, result.left)
              const error = new MalformedResponse({
                provider,
                endpoint: drift.endpoint,
                path: `line ${index} ${drift.path}`,
                detail: drift.detail
              })
              return Stream.concat(Stream.fromIterable(decoded), Stream.fail(error))
            }
            return Stream.fromIterable(decoded)
          })
        )
      }))

    return Crustdata.of({
      maxActiveJobs,
      pageSize: options.pageSize ?? 100,
      webhookUrl: options.webhookUrl,
      submitBatch,
      batchStatus,
      listBatches,
      awaitCompletion,
      notifyCompleted,
      records,
      enrichContacts
    })
  })

/** @since 0.1.0 @category Layers */
export const layer = (options: Options): Layer.Layer<Crustdata, never, HttpClient.HttpClient> =>
  Layer.scoped(Crustdata, make(options))

/** Reads `CRUSTDATA_API_KEY` and `CRUSTDATA_BASE_URL` (default: the real host). */
export const layerConfig: Layer.Layer<Crustdata, ConfigError.ConfigError, HttpClient.HttpClient> = Layer.unwrapEffect(
  Effect.map(
    Config.all({
      apiKey: Config.redacted("CRUSTDATA_API_KEY"),
      baseUrl: Config.string("CRUSTDATA_BASE_URL").pipe(Config.withDefault(CrustdataApi.defaultBaseUrl))
    }),
    layer
  )
)

// ---------------------------------------------------------------------------------------------------------------
// Adapter to ContactProvider
// ---------------------------------------------------------------------------------------------------------------

const verdictOf: Record<CrustdataApi.EmailStatus, Verdict> = {
  deliverable: "valid",
  risky: "risky",
  unknown: "unknown",
  undeliverable: "invalid"
}

/** Our fields as batch `fields`: personal email and phone together are the `personal_contact_info` group. */
export const batchFieldsOf = (fields: ReadonlyArray<Field>): Array<CrustdataApi.BatchField> => {
  const out: Array<CrustdataApi.BatchField> = []
  if (fields.includes("work_email")) out.push("business_email")
  if (fields.includes("personal_email") && fields.includes("phone")) out.push("personal_contact_info")
  else if (fields.includes("personal_email")) out.push("personal_contact_info.personal_emails")
  else if (fields.includes("phone")) out.push("personal_contact_info.phone_numbers")
  return out
}

/** Our fields as sync `fields`. */
export const syncFieldsOf = (fields: ReadonlyArray<Field>): Array<CrustdataApi.SyncField> => [
  ...(fields.includes("work_email") ? ["contact.business_emails" as const] : []),
  ...(fields.includes("personal_email") ? ["contact.personal_emails" as const] : []),
  ...(fields.includes("phone") ? ["contact.phone_numbers" as const] : [])
]

/** The most one person can cost for these fields (no base fee; capped per profile). */
export const maxPerPerson = (fields: ReadonlyArray<Field>): number =>
  CrustdataApi.priceOf({
    businessEmails: fields.includes("work_email") ? 1 : 0,
    personalEmails: fields.includes("personal_email") ? 1 : 0,
    phones: fields.includes("phone") ? 1 : 0
  })

const batchEndpoint = "/batch/person/contact/enrich"

/** How many pages of 100 jobs `findSubmitted` looks through: a crash is recent, and older jobs are not ours. */
const findPages = 10
const syncEndpoint = "/person/contact/enrich"

const contactOutcome = (
  key: PersonKey,
  contact: {
    readonly business: ReadonlyArray<CrustdataApi.EmailEntry>
    readonly personal: ReadonlyArray<CrustdataApi.EmailEntry>
    readonly phones: ReadonlyArray<string>
  },
  endpoint: string,
  mode: "batch" | "sync",
  observedAt: DateTime.Utc
): Found | NotFound => {
  // Validation off: built from records already decoded by their Schema, every field typed here (validating a
  // Found also recompiles its parser on each call, since its fields hold classes).
  const email = (kind: "work" | "personal") => (entry: CrustdataApi.EmailEntry) =>
    new Email({ address: entry.email.trim(), kind, verdict: verdictOf[entry.status] }, true)
  const business = contact.business.filter((e) => e.email.trim() !== "").map(email("work"))
  const personal = contact.personal.filter((e) => e.email.trim() !== "").map(email("personal"))
  const phones = contact.phones.filter((p) => p.trim() !== "").map((p) => makePhone(p, "unknown"))
  const cost = CrustdataApi.priceOf({
    businessEmails: business.length,
    personalEmails: personal.length,
    phones: phones.length
  })
  const provenance = new Provenance({ provider, endpoint, mode, observedAt, cost }, true)
  return business.length + personal.length + phones.length === 0
    ? new NotFound({ key, provenance }, true)
    : new Found({ key, emails: [...business, ...personal], phones, provenance }, true)
}

const keyOfUrl = (url: string): PersonKey | undefined =>
  Either.match(Identifier.parseLinkedIn(url), { onLeft: () => undefined, onRight: (profile) => profile.key })

/** The canonical URLs a job was submitted with, kept in `JobRef.meta` so results work after a restart. */
const submittedUrls = (ref: JobRef): ReadonlyArray<string> =>
  ((ref.meta as Record<string, string | undefined>).urls ?? "").split("\n").filter((url) => url !== "")

const toJobStatus = (status: CrustdataApi.BatchStatusResponse): JobStatus =>
  new JobStatus({
    state: status.status === "pending"
      ? "queued"
      : status.status === "completed"
      ? "completed"
      : status.status === "failed"
      ? "failed"
      : "running",
    total: status.identifier_count,
    ...(status.result_count === undefined ? {} : { finished: status.result_count }),
    // billed per value delivered; the status does not report credits
    charged: 0,
    refunded: 0,
    ...(status.error_message === undefined ? {} : { message: status.error_message })
  })

const linkedInOnly = (request: EnrichRequest) =>
  Effect.forEach(request.people, (person) =>
    person.identifier._tag === "LinkedInProfile"
      ? Effect.succeed({ key: person.key, url: person.identifier.url })
      : Effect.fail(
        new InvalidRequest({
          provider,
          message: `Crustdata takes LinkedIn profile URLs only, not ${person.identifier.kind} (${person.key})`
        })
      ))

/**
 * The adapter. Active-job permits: taken at submit, given back the first time `poll`, `results` or the reaper
 * sees the job terminal (at most once per job). A results stream interrupted before the job ends keeps its
 * permit on purpose — the job is still active at Crustdata and counts against the account's 5 — and a submit
 * that finds no free permit re-checks the held jobs every `Polling.maxDelay`, so permits of jobs nobody
 * watches any more come back once those jobs finish instead of leaking.
 *
 * @since 0.1.0 @category Adapters
 */
export const contactProvider: Effect.Effect<ContactProviderService, never, Crustdata> = Effect.gen(function*() {
  const client = yield* Crustdata
  const semaphore = yield* Effect.makeSemaphore(client.maxActiveJobs)
  const held = new Set<string>()

  const release = (batchId: string) =>
    Effect.suspend(() => (held.delete(batchId) ? Effect.asVoid(semaphore.release(1)) : Effect.void))
  const observe = (batchId: string, status: CrustdataApi.BatchStatusResponse) =>
    isTerminal(status) ? release(batchId) : Effect.void

  const reap = Effect.suspend(() =>
    held.size < client.maxActiveJobs
      ? Effect.void
      : Effect.forEach(
        [...held],
        (batchId) => client.batchStatus(batchId).pipe(Effect.flatMap((s) => observe(batchId, s)), Effect.ignore),
        { discard: true }
      )
  )
  const acquire = Effect.flatMap(Polling.Polling, (policy) =>
    Effect.raceFirst(
      semaphore.take(1),
      Effect.zipRight(reap, Effect.forever(Effect.zipRight(Effect.sleep(policy.maxDelay), reap)))
    ))

  const capabilities: Capabilities = {
    provider,
    identifierKinds: ["linkedin"],
    fields: ["work_email", "personal_email", "phone"],
    maxBatch: CrustdataApi.maxBatchUrls,
    maxActiveJobs: client.maxActiveJobs,
    sync: { maxBatch: CrustdataApi.maxSyncIdentifiers },
    cost: { billing: "per-value-delivered", maxPerPerson },
    resubmitSafety: "job-list"
  }

  const post = (urls: ReadonlyArray<string>, fields: ReadonlyArray<CrustdataApi.BatchField>) =>
    Effect.flatMap(Polling.Polling, (policy) =>
      client.submitBatch({
        professional_network_profile_urls: urls,
        fields,
        ...(client.webhookUrl === undefined ? {} : { webhook_url: client.webhookUrl })
      }).pipe(
        // Someone else's jobs on the same key (another process, or ours from before a restart): wait for a slot.
        Effect.retry({
          while: (error) => error._tag === "TooManyActiveJobs",
          schedule: Polling.delays(policy).pipe(Schedule.upTo(policy.deadline))
        })
      ))

  const submit = (request: EnrichRequest) =>
    Effect.gen(function*() {
      if (request.people.length > CrustdataApi.maxBatchUrls) {
        return yield* new InvalidRequest({
          provider,
          message: `at most ${CrustdataApi.maxBatchUrls} profile URLs per batch, got ${request.people.length}`
        })
      }
      const people = yield* linkedInOnly(request)
      const urls = people.map((p) => p.url)
      const fields = batchFieldsOf(request.fields)
      const response = yield* Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          yield* restore(acquire)
          const exit = yield* Effect.exit(restore(post(urls, fields)))
          if (Exit.isSuccess(exit)) held.add(exit.value.batch_id)
          else yield* semaphore.release(1)
          return yield* exit
        })
      )
      return new JobRef({
        provider,
        id: response.batch_id,
        mode: "batch",
        submittedAt: yield* DateTime.now,
        people: urls.length,
        fields: request.fields,
        charged: 0,
        meta: { urls: urls.join("\n"), statusUrl: response.status_url }
      })
    })

  const poll = (ref: JobRef) =>
    client.batchStatus(ref.id).pipe(
      Effect.tap((status) => observe(ref.id, status)),
      Effect.map(toJobStatus)
    )

  const results = (ref: JobRef, cursor?: string): Stream.Stream<ResultPage, EnrichmentError> =>
    Stream.unwrap(Effect.gen(function*() {
      const skip = cursor === undefined ? 0 : Number(cursor)
      if (!Number.isInteger(skip) || skip < 0) {
        return yield* new InvalidRequest({ provider, message: `not a Crustdata result cursor: ${cursor}` })
      }
      const status = yield* client.awaitCompletion(ref.id).pipe(Effect.tap((s) => observe(ref.id, s)))
      if (status.status === "failed") {
        return yield* new JobFailed({ provider, jobId: ref.id, message: status.error_message ?? "batch job failed" })
      }
      const observedAt = yield* DateTime.now
      const submitted = new Map<PersonKey, string>()
      // Crustdata echoes the submitted URL verbatim: its key is looked up instead of parsed again per record.
      const keyBySubmittedUrl = new Map<string, PersonKey>()
      for (const url of submittedUrls(ref)) {
        const key = keyOfUrl(url)
        if (key !== undefined) {
          submitted.set(key, url)
          keyBySubmittedUrl.set(url, key)
        }
      }
      // keys already accounted for, including those of skipped lines, so a resumed stream emits no one twice
      const seen = new Set<PersonKey>()
      const accept = (record: CrustdataApi.BatchRecord): ProviderOutcome | undefined => {
        const key = keyBySubmittedUrl.get(record.original_identifier) ?? keyOfUrl(record.original_identifier)
        if (key === undefined || seen.has(key) || (submitted.size > 0 && !submitted.has(key))) return undefined
        seen.add(key)
        return contactOutcome(
          key,
          {
            business: record.data.business_email,
            personal: record.data.personal_contact_info.personal_emails,
            phones: record.data.personal_contact_info.phone_numbers
          },
          batchEndpoint,
          "batch",
          observedAt
        )
      }
      const missing = (): Array<ProviderOutcome> =>
        [...submitted.keys()].filter((key) => !seen.has(key)).map((key) =>
          new Failed({ key, provider, reason: `not in Crustdata's results file for batch ${ref.id}` })
        )
      let lastEmitted = false
      const pages = client.records(ref.id, status).pipe(
        Stream.zipWithIndex,
        // Records before the cursor are only accounted for (`accept` marks them seen); chunk by chunk, no effect
        // per record.
        Stream.mapChunks((chunk) =>
          Chunk.filter(chunk, ([record, index]) => {
            if (index >= skip) return true
            accept(record)
            return false
          })
        ),
        Stream.grouped(client.pageSize),
        Stream.zipWithNext,
        Stream.map(([group, next]): ResultPage => {
          const lines = [...group]
          const outcomes = lines.flatMap(([record]) => {
            const outcome = accept(record)
            return outcome === undefined ? [] : [outcome]
          })
          if (Option.isSome(next)) return { results: outcomes, cursor: String(lines[lines.length - 1]![1] + 1) }
          lastEmitted = true
          return { results: [...outcomes, ...missing()], cursor: undefined }
        })
      )
      return Stream.concat(
        pages,
        Stream.suspend(() => (lastEmitted ? Stream.empty : Stream.make({ results: missing(), cursor: undefined })))
      )
    }))

  /**
   * The job this exact request already started, from `GET /batch`: recent jobs (most recent first, at most
   * `findPages` pages) of the same size are candidates; each is waited for until terminal, per `Polling`, and its
   * file's `original_identifier`s compared with the URLs `submit` would send (Crustdata echoes them verbatim).
   * A failed candidate cannot be compared (it has no file) and billed nothing, so it is passed over.
   */
  const findSubmitted = (request: EnrichRequest) =>
    Effect.gen(function*() {
      const urls = (yield* linkedInOnly(request)).map((p) => p.url)
      const wanted = [...urls].sort()
      const sameUrls = (batchId: string, status: CrustdataApi.BatchStatusResponse) =>
        client.records(batchId, status).pipe(
          Stream.map((record) => record.original_identifier),
          Stream.runCollect,
          Effect.map((chunk) => {
            const got = Chunk.toReadonlyArray(chunk).slice().sort()
            return got.length === wanted.length && got.every((url, i) => url === wanted[i])
          })
        )
      let cursor: string | undefined = undefined
      for (let page = 0; page < findPages; page++) {
        const listed: CrustdataApi.BatchListResponse = yield* client.listBatches({
          limit: 100,
          ...(cursor === undefined ? {} : { cursor })
        })
        for (const summary of listed.batches) {
          if (summary.identifier_count !== urls.length || summary.status === "failed") continue
          const status = yield* client.awaitCompletion(summary.batch_id)
          yield* observe(summary.batch_id, status)
          if (status.status !== "completed" || !(yield* sameUrls(summary.batch_id, status))) continue
          const created = Option.flatMap(Option.fromNullable(summary.created_at), DateTime.make)
          return Option.some(
            new JobRef({
              provider,
              id: summary.batch_id,
              mode: "batch",
              submittedAt: Option.isSome(created) ? created.value : yield* DateTime.now,
              people: urls.length,
              fields: request.fields,
              charged: 0,
              meta: { urls: urls.join("\n"), statusUrl: `/batch/${summary.batch_id}` }
            })
          )
        }
        if (listed.next_cursor === null) break
        cursor = listed.next_cursor
      }
      return Option.none<JobRef>()
    })

  const enrichSync = (request: EnrichRequest) =>
    Effect.gen(function*() {
      if (request.people.length > CrustdataApi.maxSyncIdentifiers) {
        return yield* new InvalidRequest({
          provider,
          message: `at most ${CrustdataApi.maxSyncIdentifiers} profiles per sync request, got ${request.people.length}`
        })
      }
      const people = yield* linkedInOnly(request)
      const entries = yield* client.enrichContacts({
        professional_network_profile_urls: people.map((p) => p.url),
        fields: syncFieldsOf(request.fields)
      })
      const observedAt = yield* DateTime.now
      const byKey = new Map<PersonKey, CrustdataApi.ContactEnrichEntry>()
      for (const entry of entries) {
        const key = keyOfUrl(entry.matched_on)
        if (key !== undefined && !byKey.has(key)) byKey.set(key, entry)
      }
      return people.map(({ key }, index): ProviderOutcome => {
        // matched by the echoed URL; by position (documented input order) when the echo is not a URL we parse
        const entry = byKey.get(key) ?? (entries.length === people.length ? entries[index] : undefined)
        if (entry === undefined) return new Failed({ key, provider, reason: "not in Crustdata's response" })
        const best = [...entry.matches].sort((a, b) => b.confidence_score - a.confidence_score)[0]
        const contact = best?.person_data.contact
        return contactOutcome(
          key,
          {
            business: contact?.business_emails ?? [],
            personal: contact?.personal_emails ?? [],
            phones: contact?.phone_numbers ?? []
          },
          syncEndpoint,
          "sync",
          observedAt
        )
      })
    })

  return {
    capabilities,
    submit,
    poll,
    results,
    // Crustdata documents no way to cancel a batch job: report where it stands.
    cancel: poll,
    enrichSync,
    findSubmitted
  }
})

/** @since 0.1.0 @category Layers */
export const layerContactProvider: Layer.Layer<ContactProvider, never, Crustdata> = Layer.effect(
  ContactProvider,
  contactProvider
)
