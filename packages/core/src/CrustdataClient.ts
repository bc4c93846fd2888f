/**
 * Crustdata's raw client: batch contact enrich, job status and list, streamed gzipped JSONL results, sync contact
 * enrich. The adapter to `ContactProvider` is `CrustdataProvider`.
 *
 * - Results are streamed: download → gunzip → lines → Schema per line; the file is never held in memory.
 * - The download link is a pre-signed S3 URL: fetched bare (an `Authorization` header makes S3 refuse it),
 *   refreshed once through `GET /batch/{id}` when it has expired, else `ResultExpired`.
 * - At most 5 active jobs per account: the client holds the permits (slots of the `RateLimitStore`: per process, or
 *   shared by every process of a shared store), once for everyone using it. `submitJob` takes
 *   one (a 429 saying the account is at its cap becomes `TooManyActiveJobs`, and the submit waits and retries);
 *   the first status check that sees the job terminal gives it back.
 * - A webhook can end the wait early (`notifyCompleted`); the status is always re-fetched rather than trusting the
 *   webhook body.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as CrustdataApi from "./CrustdataApi.js"
import {
  type EnrichmentError,
  InvalidRequest,
  JobFailed,
  JobLost,
  ProviderUnavailable,
  ResultExpired,
  TooManyActiveJobs
} from "./EnrichmentError.js"
import * as Permits from "./internal/crustdata/permits.js"
import * as Records from "./internal/crustdata/records.js"
import * as Wakeups from "./internal/crustdata/wakeups.js"
import * as ProviderHttp from "./internal/providerHttp.js"
import * as Polling from "./Polling.js"
import type * as RateLimits from "./RateLimits.js"
import { RateLimitStore } from "./RateLimitStore.js"

const provider = "crustdata"

/**
 * Endpoint names, used for rate-limit gates, spans and errors.
 *
 * @since 0.1.0 @category Models
 */
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
 *
 * @since 0.1.0 @category Models
 */
export const defaultLimits: RateLimits.Limits = {
  [endpoints.contactEnrich]: [{ limit: 15, interval: "1 minute" }],
  [endpoints.submit]: [{ limit: 30, interval: "1 minute" }],
  [endpoints.status]: [{ limit: 120, interval: "1 minute" }],
  [endpoints.list]: [{ limit: 30, interval: "1 minute" }]
}

/** @since 0.1.0 @category Models */
export declare namespace CrustdataClient {
  /** @since 0.1.0 @category Models */
  export interface Service {
    readonly maxActiveJobs: number
    readonly pageSize: number
    readonly webhookUrl: string | undefined
    /** `POST /batch/person/contact/enrich`, as is: no permit, no retry when the account is at its cap */
    readonly submitBatch: (
      body: CrustdataApi.BatchSubmitRequest
    ) => Effect.Effect<CrustdataApi.BatchSubmitResponse, EnrichmentError>
    /**
     * `submitBatch` holding one of the account's `maxActiveJobs` permits (waiting for one; the client's
     * `webhookUrl` added). A `TooManyActiveJobs` refusal (someone else's jobs on the same key) is retried per
     * `Polling` until its deadline. The permit is kept until a status check sees the job terminal — also when
     * nobody watches the job any more: a submit waiting for a permit re-checks the held jobs.
     */
    readonly submitJob: (
      body: CrustdataApi.BatchSubmitRequest
    ) => Effect.Effect<CrustdataApi.BatchSubmitResponse, EnrichmentError>
    /** `GET /batch/{batch_id}`; a terminal answer gives back the job's permit, if it holds one */
    readonly batchStatus: (batchId: string) => Effect.Effect<CrustdataApi.BatchStatusResponse, EnrichmentError>
    /** `GET /batch`: one page of the account's jobs, most recent first (no download links) */
    readonly listBatches: (
      query?: CrustdataApi.BatchListQuery
    ) => Effect.Effect<CrustdataApi.BatchListResponse, EnrichmentError>
    /**
     * Waits until the job is `completed` or `failed` (`Polling.awaitTerminal`): checks at once when `signal`
     * completes or `notifyCompleted(batchId)` is called. `JobTimedOut` after the policy's deadline.
     */
    readonly awaitCompletion: (
      batchId: string,
      signal?: Effect.Effect<void>
    ) => Effect.Effect<CrustdataApi.BatchStatusResponse, EnrichmentError>
    /** completes when `notifyCompleted(batchId)` is called (at once if it already was) */
    readonly wakeup: (batchId: string) => Effect.Effect<void>
    /** wakes every wait for this job (a webhook arrived); harmless when nobody waits */
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
export class CrustdataClient
  extends Context.Tag("@enrich/core/CrustdataClient")<CrustdataClient, CrustdataClient.Service>()
{}

/** @since 0.1.0 @category Predicates */
export const isTerminal = (status: CrustdataApi.BatchStatusResponse): boolean =>
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

/** The link to a job's results file, or why there is none. */
const downloadLink = (
  batchId: string,
  status: CrustdataApi.BatchStatusResponse
): Effect.Effect<string, EnrichmentError> => {
  if (status.status === "failed") {
    return Effect.fail(new JobFailed({ provider, jobId: batchId, message: status.error_message ?? "batch job failed" }))
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

/** The JSON endpoints, as plain calls. */
const jsonCalls = (http: ProviderHttp.ProviderHttp) => ({
  submitBatch: (body: CrustdataApi.BatchSubmitRequest) =>
    Effect.map(
      http.json(
        endpoints.submit,
        HttpClientRequest.post("/batch/person/contact/enrich").pipe(
          HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(CrustdataApi.BatchSubmitRequest)(body))
        ),
        CrustdataApi.BatchSubmitResponse
      ),
      (response) => response.body
    ),
  batchStatus: (batchId: string) =>
    http.json(
      endpoints.status,
      HttpClientRequest.get(`/batch/${encodeURIComponent(batchId)}`),
      CrustdataApi.BatchStatusResponse
    ).pipe(
      Effect.map((response) => response.body),
      Effect.catchIf(
        (error) => error._tag === "InvalidRequest" && error.status === 404,
        (error) =>
          Effect.fail(
            new JobLost({
              provider,
              jobId: batchId,
              message: `Crustdata no longer knows batch ${batchId}: ${error.message}`
            })
          )
      )
    ),
  listBatches: (query: CrustdataApi.BatchListQuery = {}) =>
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
    ),
  enrichContacts: (body: CrustdataApi.ContactEnrichRequest) =>
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
})

/** @since 0.1.0 @category Constructors */
export const make = (
  options: Options
): Effect.Effect<CrustdataClient.Service, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const store = yield* RateLimitStore
    const gates = yield* store.gates(provider, options.limits ?? defaultLimits)
    const maxActiveJobs = options.maxActiveJobs ?? CrustdataApi.maxActiveJobs
    const common = {
      provider,
      gates,
      classify: classify(maxActiveJobs),
      ...(options.timeout === undefined ? {} : { timeout: options.timeout })
    }
    const calls = jsonCalls(ProviderHttp.make(client, {
      ...common,
      baseUrl: options.baseUrl ?? CrustdataApi.defaultBaseUrl,
      decorate: (request) =>
        request.pipe(
          HttpClientRequest.bearerToken(options.apiKey),
          HttpClientRequest.setHeader("x-api-version", CrustdataApi.apiVersion),
          HttpClientRequest.acceptJson
        )
    }))
    // Download links are absolute pre-signed URLs on another host: no base URL, no auth.
    const files = ProviderHttp.make(client, { ...common, baseUrl: "", decorate: (request) => request })
    const permits = Permits.make(yield* store.slots(provider, "active-jobs", maxActiveJobs))
    const wakeups = Wakeups.make()

    // A job seen terminal, or that Crustdata no longer knows, no longer counts against the account's active jobs.
    const batchStatus = (batchId: string) =>
      calls.batchStatus(batchId).pipe(
        Effect.tap((status) => isTerminal(status) ? permits.release(batchId) : Effect.void),
        Effect.tapErrorTag("JobLost", () => permits.release(batchId))
      )

    const submitJob = (body: CrustdataApi.BatchSubmitRequest) =>
      Effect.flatMap(Polling.Polling, (policy) =>
        permits.submit(
          calls.submitBatch({
            ...body,
            ...(options.webhookUrl === undefined ? {} : { webhook_url: options.webhookUrl })
          }).pipe(
            // Someone else's jobs on the same key (another process, or ours from before a restart): wait for a slot.
            Effect.retry({
              while: (error) => error._tag === "TooManyActiveJobs",
              schedule: Polling.delays(policy).pipe(Schedule.upTo(policy.deadline))
            })
          ),
          (response) => response.batch_id,
          batchStatus
        ))

    const awaitCompletion = (batchId: string, signal?: Effect.Effect<void>) =>
      Polling.awaitTerminal(batchStatus(batchId), {
        isTerminal,
        provider,
        jobId: batchId,
        wake: signal === undefined ? wakeups.wait(batchId) : Effect.raceFirst(signal, wakeups.wait(batchId))
      })

    const withJob = (batchId: string) => (error: EnrichmentError): EnrichmentError =>
      error._tag === "ResultExpired" ? new ResultExpired({ provider, jobId: batchId, message: error.message }) : error

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
        return response.stream.pipe(
          Stream.mapError((): EnrichmentError =>
            new ProviderUnavailable({
              provider,
              endpoint: endpoints.download,
              message: `results file of ${batchId} could not be read to the end`
            })
          ),
          Records.decodeFile(batchId)
        )
      }))

    return CrustdataClient.of({
      maxActiveJobs,
      pageSize: options.pageSize ?? 100,
      webhookUrl: options.webhookUrl,
      submitBatch: calls.submitBatch,
      submitJob,
      batchStatus,
      listBatches: calls.listBatches,
      awaitCompletion,
      wakeup: wakeups.wait,
      notifyCompleted: wakeups.notify,
      records,
      enrichContacts: calls.enrichContacts
    })
  })

/** @since 0.1.0 @category Layers */
export const layer = (options: Options): Layer.Layer<CrustdataClient, never, HttpClient.HttpClient> =>
  Layer.scoped(CrustdataClient, make(options))

/**
 * The client's settings from the environment: `CRUSTDATA_API_KEY` (required) and `CRUSTDATA_BASE_URL` (default:
 * the real host). The one place these names are written.
 *
 * @since 0.1.0 @category Config
 */
export const config: Config.Config<Options> = Config.all({
  apiKey: Config.redacted("CRUSTDATA_API_KEY"),
  baseUrl: Config.string("CRUSTDATA_BASE_URL").pipe(Config.withDefault(CrustdataApi.defaultBaseUrl))
})

/** @since 0.1.0 @category Layers */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<CrustdataClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.map(options, layer))
