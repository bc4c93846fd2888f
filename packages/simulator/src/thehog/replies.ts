/**
 * TheHog's answers: a status and body built before they are sent, NestJS-style error bodies, and the sending
 * itself, with `X-Request-Id` on every answer and 2xx bodies the fault knobs may cut short or corrupt.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { TheHogApi } from "@enrich/core/wire"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type { Env, Faults } from "../Env.js"

export interface Reply {
  readonly status: number
  readonly body: unknown
  readonly headers?: Readonly<Record<string, string>>
}

export const isoOf = (millis: number) => new Date(millis).toISOString()

export const errorReply = (
  status: number,
  message: string,
  path: string,
  requestId: string,
  now: number,
  errors?: ReadonlyArray<TheHogApi.ValidationIssue>
): Reply => ({
  status,
  body: Schema.encodeSync(TheHogApi.ErrorBody)({
    statusCode: status,
    error: TheHogApi.reasonPhrase[status] ?? "Error",
    message,
    path,
    requestId,
    timestamp: isoOf(now),
    ...(errors === undefined ? {} : { errors })
  })
})

/** A 2xx body with a wrong type in its first field (what `malformedRate` sends). */
const corrupt = (body: unknown): unknown => {
  if (!Predicate.isRecord(body)) return 42
  const [first] = Object.keys(body)
  return first === undefined ? 42 : { ...body, [first]: Predicate.isString(body[first]) ? 12345 : "corrupt" }
}

export const respond = (
  env: Env,
  reply: Reply,
  requestId: string,
  f: Faults
): HttpServerResponse.HttpServerResponse => {
  const headers = { ...reply.headers, [TheHogApi.headers.requestId]: requestId }
  const ok = reply.status >= 200 && reply.status < 300
  if (ok && env.chance(f.truncatedRate)) {
    const text = JSON.stringify(reply.body)
    return HttpServerResponse.text(text.slice(0, Math.floor(text.length / 2)), {
      status: reply.status,
      contentType: "application/json",
      headers
    })
  }
  const body = ok && env.chance(f.malformedRate) ? corrupt(reply.body) : reply.body
  return HttpServerResponse.unsafeJson(body, { status: reply.status, headers })
}
