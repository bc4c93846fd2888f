/**
 * Fiber AI's raw client: batch start / poll / cancel, exhaustive start / poll, the synchronous `/single`, each
 * call through its endpoint's rate-limit gate. `FiberAiProvider` adapts it to `ContactProvider`.
 *
 * - Auth is the `apiKey` field of every JSON body (Fiber's scheme); the key is `Redacted` until the body is
 *   encoded and never appears in errors, logs or spans.
 * - Fiber documents no idempotency: a start is retried only when Fiber certainly did not take it (429, an HTTP
 *   5xx answer), never after a transport failure or a timeout, which stay ambiguous and surface as
 *   `ProviderUnavailable`.
 * - A task Fiber no longer knows (404 on poll or cancel) is `ResultExpired`.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Backoff from "./Backoff.js"
import type { Email, Field, Phone } from "./Contact.js"
import { type EnrichmentError, InvalidRequest, JobFailed, JobTimedOut, ResultExpired } from "./EnrichmentError.js"
import * as FiberAiApi from "./FiberAiApi.js"
import { emailOf, lowQualityEmailOf, phoneOf } from "./internal/fiber/values.js"
import * as ProviderHttp from "./internal/providerHttp.js"
import * as Polling from "./Polling.js"
import type * as RateLimits from "./RateLimits.js"
import { RateLimitStore } from "./RateLimitStore.js"

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
export declare namespace FiberAiClient {
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
export class FiberAiClient extends Context.Tag("@enrich/core/FiberAiClient")<FiberAiClient, FiberAiClient.Service>() {}

const encodeIssue = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return "request does not match Fiber's schema"
  return `${issue.path.length === 0 ? "body" : issue.path.join(".")}: ${issue.message}`.slice(0, 300)
}

/** Fiber certainly did not take the request: throttled, or it answered with a 5xx before doing anything. */
const safeToResend = (error: EnrichmentError): boolean =>
  error._tag === "RateLimited" || (error._tag === "ProviderUnavailable" && error.status !== undefined)

const isFinal = (response: FiberAiApi.ExhaustivePollResponse) =>
  response.output.done || response.output.profile.status === "completed" ||
  response.output.profile.status === "failed"

/** Exhaustive reveal of one person: start, then poll per `Polling` until done. */
const exhaustiveWith = (
  startExhaustive: FiberAiClient.Service["startExhaustive"],
  pollExhaustive: FiberAiClient.Service["pollExhaustive"]
): FiberAiClient.Service["exhaustive"] =>
(linkedinUrl, fields) =>
  Effect.gen(function*() {
    const policy = yield* Polling.Polling
    const started = yield* startExhaustive({ linkedinUrl, enrichmentType: FiberAiApi.enrichmentTypesOf(fields) })
    const taskId = started.output.taskId
    const final = yield* pollExhaustive(taskId).pipe(
      Effect.repeat(Schedule.recurUntil(isFinal).pipe(Schedule.zipLeft(Polling.delays(policy)))),
      Effect.timeoutFail({
        duration: policy.deadline,
        onTimeout: () => new JobTimedOut({ provider, jobId: taskId, waitedMillis: Duration.toMillis(policy.deadline) })
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

/**
 * @since 0.1.0 @category Constructors
 */
export const make: (
  options: Options
) => Effect.Effect<FiberAiClient.Service, never, HttpClient.HttpClient | Scope.Scope> = Effect.fnUntraced(
  function*(options: Options) {
    const client = yield* HttpClient.HttpClient
    const gates = yield* (yield* RateLimitStore).gates(provider, options.limits ?? defaultLimits)
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

    const startBatch: FiberAiClient.Service["startBatch"] = (body) =>
      resendOnlyIfSafe(
        call("batch/start", FiberAiApi.StartBatchRequest, { apiKey, ...body }, FiberAiApi.StartBatchResponse)
      )

    const pollBatch: FiberAiClient.Service["pollBatch"] = (body) =>
      call("batch/poll", FiberAiApi.PollBatchRequest, { apiKey, ...body }, FiberAiApi.PollBatchResponse).pipe(
        known(body.taskId)
      )

    const cancelBatch: FiberAiClient.Service["cancelBatch"] = (taskId) =>
      call("batch/cancel", FiberAiApi.CancelBatchRequest, { apiKey, taskId }, FiberAiApi.CancelBatchResponse).pipe(
        known(taskId)
      )

    const startExhaustive: FiberAiClient.Service["startExhaustive"] = (body) =>
      resendOnlyIfSafe(
        call(
          "exhaustive/start",
          FiberAiApi.ExhaustiveStartRequest,
          { apiKey, ...body },
          FiberAiApi.ExhaustiveStartResponse
        )
      )

    const pollExhaustive: FiberAiClient.Service["pollExhaustive"] = (taskId) =>
      call("exhaustive/poll", FiberAiApi.ExhaustivePollRequest, { apiKey, taskId }, FiberAiApi.ExhaustivePollResponse)
        .pipe(known(taskId))

    const single: FiberAiClient.Service["single"] = (body) =>
      call("single", FiberAiApi.SingleRequest, { apiKey, ...body }, FiberAiApi.SingleResponse)

    const exhaustive = exhaustiveWith(startExhaustive, pollExhaustive)

    return FiberAiClient.of({
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
export const layer = (options: Options): Layer.Layer<FiberAiClient, never, HttpClient.HttpClient> =>
  Layer.scoped(FiberAiClient, make(options))

/**
 * The client's settings from the environment: `FIBER_API_KEY` (required) and `FIBER_BASE_URL` (default: the real
 * host). The one place these names are written.
 *
 * @since 0.1.0 @category Config
 */
export const config: Config.Config<Options> = Config.all({
  apiKey: Config.redacted("FIBER_API_KEY"),
  baseUrl: Config.string("FIBER_BASE_URL").pipe(Config.withDefault(FiberAiApi.defaultBaseUrl))
})

/** @since 0.1.0 @category Layers */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<FiberAiClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.map(options, layer))
