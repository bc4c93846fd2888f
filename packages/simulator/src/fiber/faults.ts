/**
 * Injected faults (`Env.faults.fiber`): 5xx and 429 answers that strike before a request is handled, and 2xx
 * bodies that are truncated, malformed or carry enum values the contract does not list.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { FiberAiApi } from "@enrich/core/wire"
import * as Predicate from "effect/Predicate"
import type { Env, Faults } from "../Env.js"
import { error, limited, type Reply } from "./replies.js"

/** The fault knobs now (tests may change them between requests). */
export const faultsOf = (env: Env): Faults => env.faults.fiber ?? {}

/**
 * A 5xx (burst or rate) or a 429 (storm or rate) instead of handling request number `n`; such a request never
 * started or charged anything.
 */
export const injectedFault = (
  env: Env,
  endpoint: FiberAiApi.Endpoint,
  f: Faults,
  n: number
): Reply | undefined => {
  const burst = f.serverErrorBurst
  if ((burst !== undefined && n >= burst.from && n < burst.from + burst.length) || env.chance(f.serverErrorRate)) {
    return error(n % 2 === 0 ? 500 : 503, "Internal server error, please retry")
  }
  const storm = f.rateLimitStorm
  if ((storm !== undefined && n >= storm.from && n < storm.from + storm.length) || env.chance(f.rateLimitRate)) {
    return limited(env, endpoint, "Too many requests, please slow down")
  }
  return undefined
}

/** A 2xx body whose `output`'s first field has the wrong type (what `malformedRate` sends). */
const corrupt = (body: unknown): unknown => {
  if (!Predicate.isRecord(body) || !Predicate.isRecord(body.output)) return { output: 42 }
  const output = body.output
  const [first] = Object.keys(output)
  if (first === undefined) return { ...body, output: 42 }
  return { ...body, output: { ...output, [first]: Predicate.isString(output[first]) ? 12345 : "corrupt" } }
}

/** Enum values the contract does not list (what `unknownEnumRate` sends); a `failed` status is kept. */
const withUnknownEnums = (body: unknown): unknown =>
  JSON.parse(JSON.stringify(body), (key, value: unknown) => {
    if (Predicate.isRecord(value) && Predicate.isString(value.email)) {
      return { ...value, type: "corporate", ...(value.status === undefined ? {} : { status: "catch_all" }) }
    }
    if (Predicate.isRecord(value) && Predicate.isString(value.number)) return { ...value, type: "landline" }
    if (key === "profile" && Predicate.isRecord(value) && value.status !== "failed") {
      return { ...value, status: "vendor-fanout" }
    }
    return value
  })

/** The HTTP response for a reply, a 2xx one possibly truncated, malformed or with unknown enum values. */
export const respond = (env: Env, reply: Reply, f: Faults): HttpServerResponse.HttpServerResponse => {
  const success = reply.status >= 200 && reply.status < 300
  if (success && env.chance(f.truncatedRate)) {
    const text = JSON.stringify(reply.body)
    return HttpServerResponse.text(text.slice(0, Math.floor(text.length / 2)), {
      status: reply.status,
      contentType: "application/json"
    })
  }
  let body = reply.body
  if (success && env.chance(f.malformedRate)) body = corrupt(body)
  else if (success && env.chance(f.unknownEnumRate)) body = withUnknownEnums(body)
  return HttpServerResponse.unsafeJson(body, { status: reply.status })
}
