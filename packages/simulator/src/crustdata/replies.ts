/**
 * Crustdata's answers: JSON error bodies built with `CrustdataApi.ErrorBody`, and 200 bodies that the fault knobs
 * may break (malformed, cut short, unknown email statuses).
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { CrustdataApi } from "@enrich/core/wire"
import * as Schema from "effect/Schema"
import type { Base } from "./sim.js"

type Metadata = CrustdataApi.ErrorBody["error"]["metadata"]

const errorBody = (type: string, message: string, metadata?: Metadata) =>
  Schema.encodeSync(CrustdataApi.ErrorBody)({
    error: { type, message, ...(metadata === undefined ? {} : { metadata }) }
  })

export const errorResponse = (
  status: number,
  type: string,
  message: string,
  options: { metadata?: Metadata; headers?: Record<string, string> } = {}
) =>
  HttpServerResponse.unsafeJson(errorBody(type, message, options.metadata), { status, headers: options.headers ?? {} })

export const badRequest = (message: string, metadata?: Metadata) =>
  errorResponse(400, CrustdataApi.ErrorType.invalidRequest, message, metadata === undefined ? {} : { metadata })

export const insufficientCredits = () =>
  errorResponse(403, CrustdataApi.ErrorType.permission, "Insufficient credits to run this request")

/** Unknown enum values are written after encoding, since the schema only encodes known ones. */
export const withUnknownStatuses = ({ env, faults }: Base, json: string) =>
  faults.unknownEnumRate === undefined
    ? json
    : json.replace(
      /("email":"[^"]*","status":")(\w+)"/g,
      (all, head: string) => (env.chance(faults.unknownEnumRate) ? `${head}catch_all"` : all)
    )

/** A 200 JSON body, or per the fault knobs one that breaks the contract or is cut short. */
export const okJson = (base: Base, body: unknown, malformed: () => unknown) => {
  const { env, faults } = base
  if (env.chance(faults.malformedRate)) return HttpServerResponse.unsafeJson(malformed())
  const text = withUnknownStatuses(base, JSON.stringify(body))
  if (env.chance(faults.truncatedRate)) {
    return HttpServerResponse.text(text.slice(0, Math.floor(text.length / 2)), { contentType: "application/json" })
  }
  return HttpServerResponse.text(text, { contentType: "application/json" })
}
