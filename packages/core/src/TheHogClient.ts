/**
 * TheHog (thehog.ai) contact enrichment, the raw client: `POST /api/enrichments` (answered 200 sync or 202 async
 * on the same endpoint) and the polls `GET /api/enrichments/:id` / `GET /api/operations/:id`. The adapter to
 * `ContactProvider` is `TheHogProvider`.
 *
 * Safety: a submit carries the `Idempotency-Key` it is given, so a retried submit — also after a timeout whose
 * first attempt did reach TheHog — returns the first operation and is not charged again; the answer says whether
 * it was such a replay. Polls go through a client-side gate below the documented 30/minute poll bucket.
 * `X-Access-Key` / `X-Secret-Key` are `Redacted` and registered in `Headers.currentRedactedNames`, so they never
 * show in logs, spans or errors.
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import {
  type EnrichmentError,
  InvalidRequest,
  MalformedResponse,
  RateLimited,
  ResultExpired
} from "./EnrichmentError.js"
import * as ProviderHttp from "./internal/providerHttp.js"
import { operationOf, type OperationRef, pollPath } from "./internal/thehog/polling.js"
import type * as RateLimits from "./RateLimits.js"
import { RateLimitStore } from "./RateLimitStore.js"
import * as TheHogApi from "./TheHogApi.js"

/** The provider name in results, provenance and errors. */
export const providerName = "thehog"

const enrichPath = "/api/enrichments"

// ---------------------------------------------------------------------------------------------------------------
// Options, limits, configuration
// ---------------------------------------------------------------------------------------------------------------

/**
 * Client-side limits, as sliding windows (`RateLimits`). `poll`: TheHog counts 30/minute per organisation; the
 * 10-second window keeps them from going out in one burst (TheHog asks for polls 2-5 s apart), and its interval is
 * the wait after a poll's 429 (TheHog asks for ≥ 10 s). `all`: the global per-organisation limit is not published
 * (INFERRED 300/minute, as the simulator defaults); 40 per 10 s stays under it. Every call takes its endpoint's
 * gates and `all`.
 */
export const defaultLimits: RateLimits.Limits = {
  all: [{ limit: 40, interval: "10 seconds" }],
  poll: [{ limit: 5, interval: "10 seconds" }, { limit: TheHogApi.pollLimitPerMinute, interval: "1 minute" }]
}

/** @since 0.1.0 @category Models */
export interface Options {
  readonly accessKey: Redacted.Redacted
  readonly secretKey: Redacted.Redacted
  /** defaults to `https://developer.thehog.ai` */
  readonly baseUrl?: string | undefined
  readonly limits?: RateLimits.Limits | undefined
  /** per attempt; a submit that times out is retried with the same Idempotency-Key */
  readonly timeout?: Duration.DurationInput | undefined
  /** sent as `X-Project-Id` when set */
  readonly projectId?: string | undefined
  /**
   * How long to wait after a 429 from a poll endpoint that gives no `Retry-After` (TheHog asks for ≥ 10 s).
   * Defaults to the interval of the first `poll` window: 10 s with `defaultLimits`, shorter when the limits are
   * scaled.
   */
  readonly pollRetryAfter?: Duration.DurationInput | undefined
}

/**
 * The client's options from the environment: keys from `THEHOG_ACCESS_KEY` / `THEHOG_SECRET_KEY`, base URL from
 * `THEHOG_BASE_URL` (default the real host). The one place these names are written.
 *
 * @since 0.1.0 @category Config
 */
export const config: Config.Config<Options> = Config.all({
  accessKey: Config.redacted("THEHOG_ACCESS_KEY"),
  secretKey: Config.redacted("THEHOG_SECRET_KEY"),
  baseUrl: Config.string("THEHOG_BASE_URL").pipe(Config.withDefault(TheHogApi.defaultBaseUrl))
})

// ---------------------------------------------------------------------------------------------------------------
// The service
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

/** The 202 answer of `POST /api/enrichments`, and the job it refers to. */
export interface AcceptedAnswer extends Delivery {
  readonly _tag: "Accepted"
  readonly body: TheHogApi.Accepted
  /** what polling the job needs: its id (from `id`, `operationId` or the `pollUrl`) and the `pollUrl`, if any */
  readonly operation: OperationRef
}

/** @since 0.1.0 @category Models */
export type EnrichAnswer = SyncAnswer | AcceptedAnswer

/** @since 0.1.0 @category Models */
export declare namespace TheHogClient {
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
    /** the poll TheHog pointed to (`pollUrl`, relative or absolute), else `GET /api/enrichments/:id` */
    readonly poll: (job: OperationRef) => Effect.Effect<TheHogApi.Operation, EnrichmentError>
    /** the request line `poll` sends for this job (for error messages) */
    readonly pollEndpoint: (job: OperationRef) => string
  }
}

/** @since 0.1.0 @category Context */
export class TheHogClient extends Context.Tag("@enrich/core/TheHogClient")<TheHogClient, TheHogClient.Service>() {}

const decodeSync = Schema.decodeUnknown(TheHogApi.SyncResponse, { onExcessProperty: "ignore" })
const decodeAccepted = Schema.decodeUnknown(TheHogApi.Accepted, { onExcessProperty: "ignore" })

const redactedNames = [TheHogApi.headers.accessKey, TheHogApi.headers.secretKey]
const withRedactedNames = (
  names: ReadonlyArray<string | RegExp>
): ReadonlyArray<string | RegExp> => [...names, ...redactedNames.filter((name) => !names.includes(name))]

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
 * Whether an answer is an Idempotency-Key replay: TheHog says so in a header, or the stored body carries the
 * first request's `meta.requestId` while `X-Request-Id` is this one's.
 */
const isReplay = (headers: Headers.Headers, body: unknown): boolean => {
  const requestId = headers[TheHogApi.headers.requestId]
  const bodyRequestId = Predicate.isRecord(body) && Predicate.isRecord(body.meta) ? body.meta.requestId : undefined
  return headers[TheHogApi.headers.idempotentReplayed] === "true" ||
    (requestId !== undefined && typeof bodyRequestId === "string" && bodyRequestId !== requestId)
}

/**
 * Reads an answer of `POST /api/enrichments` by its shape (a sync body has `data`), so that drift is reported
 * against the right schema. A 202 needs only something to poll: an id (`id` / `operationId`) or a `pollUrl`.
 */
const answerOf = (
  response: ProviderHttp.Response<unknown>,
  delivery: Delivery
): Effect.Effect<EnrichAnswer, MalformedResponse> => {
  const { body, status } = response
  const where = { provider: providerName, endpoint: `POST ${enrichPath}`, status }
  if (Predicate.isRecord(body) && "data" in body) {
    return Effect.mapError(
      Effect.map(decodeSync(body), (body): EnrichAnswer => ({ _tag: "Sync", body, ...delivery })),
      (error) => ProviderHttp.malformed(where, error)
    )
  }
  return Effect.flatMap(
    Effect.mapError(decodeAccepted(body), (error) => ProviderHttp.malformed(where, error)),
    (body) => {
      const operation = operationOf(body)
      return operation === undefined
        ? Effect.fail(
          new MalformedResponse({
            ...where,
            path: `["id"]`,
            detail: `is missing, as are ["operationId"] and a usable ["pollUrl"]: the answer names no job to poll`
          })
        )
        : Effect.succeed<EnrichAnswer>({ _tag: "Accepted", body, operation, ...delivery })
    }
  )
}

/**
 * @since 0.1.0 @category Constructors
 */
export const make = (
  options: Options
): Effect.Effect<TheHogClient.Service, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    // Registered for the layer's scope (logs of whoever uses it) and around every call (spans, errors).
    yield* Effect.locallyScopedWith(Headers.currentRedactedNames, withRedactedNames)
    const baseUrl = options.baseUrl ?? TheHogApi.defaultBaseUrl
    const limits = options.limits ?? defaultLimits
    const gates = yield* (yield* RateLimitStore).gates(providerName, limits)
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

    const enrich: TheHogClient.Service["enrich"] = (body, enrichOptions) => {
      const request = HttpClientRequest.post(enrichPath).pipe(
        HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(TheHogApi.EnrichmentRequest)(body)),
        (request) =>
          enrichOptions?.idempotencyKey === undefined
            ? request
            : HttpClientRequest.setHeader(request, TheHogApi.headers.idempotencyKey, enrichOptions.idempotencyKey)
      )
      const counted = Effect.flatMap(
        http.json("enrich", request, Schema.Unknown),
        (response) => Effect.map(FiberRef.get(enrichAttempts), (attempts) => ({ response, attempts }))
      )
      return Effect.locally(counted, enrichAttempts, 0).pipe(
        Effect.flatMap(({ attempts, response }) =>
          answerOf(response, { replayed: isReplay(response.headers, response.body), attempts })
        ),
        redacting
      )
    }

    return TheHogClient.of({
      baseUrl,
      enrich,
      getOperation: (id) => getOperationAt(id, `/api/operations/${encodeURIComponent(id)}`),
      getEnrichment: (id) => getOperationAt(id, `${enrichPath}/${encodeURIComponent(id)}`),
      poll: (job) => getOperationAt(job.id, pollPath(baseUrl, job)),
      pollEndpoint: (job) => `GET ${pollPath(baseUrl, job).split("?")[0]}`
    })
  })

/** @since 0.1.0 @category Layers */
export const layer = (options: Options): Layer.Layer<TheHogClient, never, HttpClient.HttpClient> =>
  Layer.scoped(TheHogClient, make(options))

/**
 * The client configured from `Config` (default: `config`, the `THEHOG_*` environment variables).
 *
 * @since 0.1.0 @category Layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<TheHogClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.map(options, layer))
