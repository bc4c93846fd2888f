/**
 * What every API request goes through before its handler: counting, injected faults (5xx bursts, 429 storms),
 * auth (`Bearer` or legacy `Token`), the `x-api-version` header on POSTs, and the per-key sliding rate window
 * whose `x-ratelimit-*` headers go on every answer.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { CrustdataApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import type { Env } from "../Env.js"
import { errorResponse } from "./replies.js"
import { type Base, provider } from "./sim.js"

/** An admitted request: the caller's key, provider time, and the request. */
export interface Call {
  readonly key: string
  readonly now: number
  readonly request: HttpServerRequest.HttpServerRequest
}

const inWindow = (n: number, range: { readonly from: number; readonly length: number } | undefined) =>
  range !== undefined && n >= range.from && n < range.from + range.length

const rateHeaders = (env: Env, limit: number, remaining: number, resetMillis: number) => ({
  "x-ratelimit-limit": String(limit),
  "x-ratelimit-remaining": String(remaining),
  // seconds until the oldest counted request leaves the window, in real seconds so a time-scaled simulator
  // does not make clients oversleep
  "x-ratelimit-reset": String(Math.round(env.realMillis(resetMillis)) / 1000)
})

/** Everything an API request goes through: counting, faults, auth, version header, rate window. */
export const api = <R>(
  base: Base,
  endpoint: string,
  perMinute: number,
  handle: (call: Call) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
) =>
  Effect.gen(function*() {
    const { env, faults, settings } = base
    const request = yield* HttpServerRequest.HttpServerRequest
    const name = `${provider}:${endpoint}`
    env.counters.request(name)
    const now = yield* env.now
    const n = env.nextRequestNumber(provider)
    if (inWindow(n, faults.serverErrorBurst) || env.chance(faults.serverErrorRate)) {
      return errorResponse(500, CrustdataApi.ErrorType.api, "Internal server error")
    }
    if (inWindow(n, faults.rateLimitStorm) || env.chance(faults.rateLimitRate)) {
      env.counters.limited(name)
      return errorResponse(429, CrustdataApi.ErrorType.rateLimit, "Rate limit exceeded", {
        headers: rateHeaders(env, perMinute, 0, 2_000)
      })
    }
    const auth = /^(?:Bearer|Token)\s+(.+)$/i.exec(request.headers.authorization ?? "")
    const key = auth?.[1]?.trim()
    if (key === undefined || !settings.apiKeys.has(key)) {
      return errorResponse(401, CrustdataApi.ErrorType.authentication, "Invalid or missing API key")
    }
    if (request.method === "POST" && request.headers["x-api-version"] !== CrustdataApi.apiVersion) {
      return errorResponse(
        400,
        CrustdataApi.ErrorType.invalidRequest,
        `The x-api-version header is required and must be ${CrustdataApi.apiVersion}`
      )
    }
    const admission = env.window(`${name}:${key}`, perMinute, 60_000).admit(now)
    const headers = rateHeaders(env, admission.limit, admission.remaining, admission.resetMillis)
    if (!admission.allowed) {
      env.counters.limited(name)
      return errorResponse(429, CrustdataApi.ErrorType.rateLimit, `Rate limit of ${perMinute}/min exceeded`, {
        headers
      })
    }
    const response = yield* handle({ key, now, request })
    return HttpServerResponse.setHeaders(response, headers)
  })
