/**
 * The one way provider modules talk HTTP: gate by the endpoint's rate limit, execute, map status codes
 * and bodies to `EnrichmentError`, decode with Schema (drift → `MalformedResponse` with the path), and
 * retry transient failures per `Backoff`. Provider modules add their auth and their own error readings.
 */
import type * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Backoff from "../Backoff.js"
import {
  type EnrichmentError,
  formatPath,
  InsufficientCredits,
  InvalidRequest,
  MalformedResponse,
  ProviderUnavailable,
  RateLimited,
  Unauthorized
} from "../EnrichmentError.js"
import * as ProviderMetrics from "../ProviderMetrics.js"
import type { Gates } from "../RateLimits.js"

export interface ErrorContext {
  readonly provider: string
  readonly endpoint: string
  readonly status: number
  readonly body: unknown
  readonly headers: Headers.Headers
}

export interface Options {
  readonly provider: string
  readonly baseUrl: string
  /** adds auth and version headers; secrets are `Redacted` and their header names registered as redacted */
  readonly decorate: (request: HttpClientRequest.HttpClientRequest) => HttpClientRequest.HttpClientRequest
  readonly gates: Gates
  /** a provider's own reading of an error response; `undefined` falls back to the generic status mapping */
  readonly classify?: (context: ErrorContext) => EnrichmentError | undefined
  /** per attempt; a hung connection becomes `ProviderUnavailable` and is retried */
  readonly timeout?: Duration.DurationInput
}

export interface Response<A> {
  readonly body: A
  readonly status: number
  readonly headers: Headers.Headers
}

export interface ProviderHttp {
  readonly json: <A, I>(
    endpoint: string,
    request: HttpClientRequest.HttpClientRequest,
    schema: Schema.Schema<A, I, never>
  ) => Effect.Effect<Response<A>, EnrichmentError>
  /** a checked 2xx response whose body the caller streams (downloads); no auth is added when `bare` */
  readonly raw: (
    endpoint: string,
    request: HttpClientRequest.HttpClientRequest,
    options?: { readonly bare?: boolean }
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, EnrichmentError>
}

/** Seconds from `Retry-After` (seconds or HTTP date) or `x-ratelimit-reset`, as milliseconds. */
export const retryAfterMillis = (headers: Headers.Headers, now: number): number | undefined => {
  const retryAfter = headers["retry-after"]
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter)
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
    const date = Date.parse(retryAfter)
    if (Number.isFinite(date)) return Math.max(0, date - now)
  }
  const reset = headers["x-ratelimit-reset"]
  if (reset !== undefined && Number.isFinite(Number(reset))) return Math.max(0, Number(reset) * 1000)
  return undefined
}

/** The human message of an error body, whatever the provider's shape: `{message}`, `{error:{message}}`, `{error}`. */
export const messageOf = (body: unknown): string | undefined => {
  if (typeof body === "string") return body.slice(0, 300) || undefined
  if (!Predicate.isRecord(body)) return undefined
  if (typeof body.message === "string") return body.message
  const error = body.error
  if (Predicate.isRecord(error) && typeof error.message === "string") return error.message
  if (typeof error === "string") return error
  return undefined
}

/** The generic mapping of an HTTP status to the error family. */
export const classifyStatus = (context: ErrorContext, now: number): EnrichmentError => {
  const { endpoint, provider, status } = context
  const message = messageOf(context.body) ?? `HTTP ${status}`
  if (status === 429) {
    const wait = retryAfterMillis(context.headers, now)
    return new RateLimited({ provider, endpoint, ...(wait === undefined ? {} : { retryAfterMillis: wait }) })
  }
  if (status === 401 || status === 403) {
    return /credit/i.test(message)
      ? new InsufficientCredits({ provider, message })
      : new Unauthorized({ provider, status, message })
  }
  if (status === 402) {
    const alert = Predicate.isRecord(context.body) ? context.body.outOfCreditsAlert : undefined
    const available = Predicate.isRecord(alert) && typeof alert.availableCredits === "number"
      ? { availableCredits: alert.availableCredits }
      : {}
    return new InsufficientCredits({ provider, message, ...available })
  }
  if (status >= 500 || status === 408) return new ProviderUnavailable({ provider, endpoint, status, message })
  return new InvalidRequest({ provider, message, status })
}

/**
 * How an error message names a request: `POST /api/enrichments`. The path only: no host, and no query string,
 * which may carry a key (Fiber's GETs).
 */
export const describeRequest = (request: HttpClientRequest.HttpClientRequest): string => {
  const url = request.url
  const path = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "") : url
  return `${request.method} ${path.split(/[?#]/)[0] || "/"}`
}

/** Schema drift: the first issue's path and message, with where the body came from. */
export const malformed = (
  where: { readonly provider: string; readonly endpoint: string; readonly status?: number | undefined },
  error: ParseResult.ParseError
): MalformedResponse => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  return new MalformedResponse({
    provider: where.provider,
    endpoint: where.endpoint,
    ...(where.status === undefined ? {} : { status: where.status }),
    path: formatPath(issue?.path ?? []),
    detail: issue?.message ?? error.message
  })
}

/** System error codes that mean nothing answered at all: no connection was ever made. */
const unreachableCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"])

/** The first system error code in an error's cause chain (undici and node:http nest them differently). */
const codeOf = (error: unknown, depth = 0): string | undefined => {
  if (!Predicate.isRecord(error) || depth > 4) return undefined
  if (typeof error.code === "string") return error.code
  const errors = Array.isArray(error.errors) ? error.errors : []
  for (const inner of [error.cause, ...errors]) {
    const code = codeOf(inner, depth + 1)
    if (code !== undefined) return code
  }
  return undefined
}

const transport = (provider: string, endpoint: string, error: HttpClientError.HttpClientError) => {
  const code = codeOf(error.cause)
  if (error._tag === "RequestError" && code !== undefined && unreachableCodes.has(code)) {
    return new ProviderUnavailable({
      provider,
      endpoint,
      message: `cannot connect to ${provider} (${code}): is its base URL right, and is it up?`,
      unreachable: true
    })
  }
  return new ProviderUnavailable({
    provider,
    endpoint,
    message:
      (error._tag === "RequestError" ? `request failed (${error.reason})` : `response failed (${error.reason})`) +
      (code === undefined ? "" : ` ${code}`)
  })
}

const readBody = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<unknown> =>
  response.text.pipe(
    Effect.map((text) => {
      try {
        return JSON.parse(text) as unknown
      } catch {
        return text
      }
    }),
    Effect.orElseSucceed(() => undefined)
  )

export const make = (client: HttpClient.HttpClient, options: Options): ProviderHttp => {
  const { provider } = options
  const timeout = options.timeout ?? "60 seconds"
  const base = client.pipe(
    HttpClient.mapRequestInput(HttpClientRequest.prependUrl(options.baseUrl)),
    // No platform span per request: it records the full URL, whose query may carry a key (Fiber's GETs), an
    // identifier or a signed download link, and would send our trace ids to the provider. The span of each call
    // (`<provider>.<endpoint>`) and `ProviderMetrics` stand in for it.
    HttpClient.withTracerDisabledWhen(() => true)
  )

  const send = (endpoint: string, request: HttpClientRequest.HttpClientRequest, bare: boolean) =>
    options.gates.gate(endpoint)(
      base.execute(bare ? request : options.decorate(request)).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new ProviderUnavailable({ provider, endpoint, message: `no answer in ${Duration.format(timeout)}` })
        }),
        Effect.catchTags({
          RequestError: (error) => Effect.fail(transport(provider, endpoint, error)),
          ResponseError: (error) => Effect.fail(transport(provider, endpoint, error))
        }),
        // inside the gate: the latency is the provider's, not our wait for the rate limit
        ProviderMetrics.trackRequest(provider, endpoint)
      )
    )

  const checked = (endpoint: string, request: HttpClientRequest.HttpClientRequest, bare: boolean) =>
    Effect.flatMap(send(endpoint, request, bare), (response) => {
      if (response.status >= 200 && response.status < 300) return Effect.succeed(response)
      return Effect.flatMap(readBody(response), (body) => {
        const context: ErrorContext = { provider, endpoint, status: response.status, body, headers: response.headers }
        return Effect.flatMap(
          Effect.clockWith((clock) => clock.currentTimeMillis),
          (now) => Effect.fail(options.classify?.(context) ?? classifyStatus(context, now))
        )
      })
    })

  return {
    json: (endpoint, request, schema) => {
      const decode = Schema.decodeUnknown(schema, { onExcessProperty: "ignore" })
      return Backoff.retryTransient(
        Effect.flatMap(checked(endpoint, request, false), (response) =>
          response.text.pipe(
            Effect.mapError(() => new ProviderUnavailable({ provider, endpoint, message: "body could not be read" })),
            Effect.flatMap((text) =>
              Effect.try({
                try: () => JSON.parse(text) as unknown,
                catch: () =>
                  new MalformedResponse({
                    provider,
                    endpoint: describeRequest(request),
                    status: response.status,
                    path: "(body)",
                    detail: `is not JSON (${text.length} bytes: ${JSON.stringify(text.slice(0, 60))})`
                  })
              })
            ),
            Effect.flatMap((json) =>
              Effect.mapError(
                decode(json),
                (error) => malformed({ provider, endpoint: describeRequest(request), status: response.status }, error)
              )
            ),
            Effect.map((body) => ({ body, status: response.status, headers: response.headers }))
          ))
      ).pipe(Effect.withSpan(`${provider}.${endpoint}`, { attributes: { provider, endpoint } }))
    },
    raw: (endpoint, request, rawOptions) =>
      Backoff.retryTransient(checked(endpoint, request, rawOptions?.bare === true)).pipe(
        Effect.withSpan(`${provider}.${endpoint}`, { attributes: { provider, endpoint } })
      )
  }
}
