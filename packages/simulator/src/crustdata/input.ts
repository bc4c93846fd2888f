/** Reading request bodies: a JSON object, and identifier or field lists in either of their accepted forms. */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"

/** The request's JSON body if it is an object. */
export const jsonBody = (request: HttpServerRequest.HttpServerRequest) =>
  request.json.pipe(
    Effect.map((body): Record<string, unknown> | undefined => (Predicate.isRecord(body) ? body : undefined)),
    Effect.orElseSucceed(() => undefined)
  )

/** Splits the comma-separated string form, or checks an array of strings. */
export const stringList = (value: unknown): ReadonlyArray<string> | undefined => {
  if (typeof value === "string") return value.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
  if (Array.isArray(value) && value.every(Predicate.isString)) return value.map((s) => s.trim())
  return undefined
}
