/**
 * What a request must pass before a handler sees it, in this order: a JSON object body (else 400), a known
 * `apiKey` in it (else 401), the endpoint's rate limit per key in provider time (else 429, no rate-limit headers:
 * Fiber documents none), the endpoint's schema (else 400). Keys the endpoint does not know are ignored and named
 * in `warnings`.
 */
import { FiberAiApi } from "@enrich/core/wire"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type { Env } from "../Env.js"
import { type Call, error, limited, type Reply } from "./replies.js"
import type { Settings } from "./state.js"

/** Request keys the endpoint does not know, as Fiber's `warnings` (top level and inside the type flags). */
const extraneous = (
  raw: Record<string, unknown>,
  known: ReadonlyArray<string>,
  nested: string | undefined
): ReadonlyArray<FiberAiApi.Warning> => {
  const warnings: Array<FiberAiApi.Warning> = []
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) warnings.push({ field: key, message: `Unrecognized field '${key}' was ignored` })
  }
  const flags = nested === undefined ? undefined : raw[nested]
  if (Predicate.isRecord(flags)) {
    for (const key of Object.keys(flags)) {
      if (!Object.keys(FiberAiApi.EnrichmentTypes.fields).includes(key)) {
        warnings.push({ field: `${nested}.${key}`, message: `Unrecognized field '${nested}.${key}' was ignored` })
      }
    }
  }
  return warnings
}

const issueOf = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return "Invalid request body"
  const path = issue.path.length === 0 ? "body" : issue.path.join(".")
  return `Invalid request: ${path}: ${issue.message}`.slice(0, 400)
}

/** How an endpoint reads its body: its schema, and the key of its type flags (for `warnings`). */
export interface Contract<A, I> {
  readonly endpoint: FiberAiApi.Endpoint
  readonly schema: Schema.Schema<A, I> & { readonly fields: Schema.Struct.Fields }
  readonly nested?: string | undefined
}

/** The call to handle, or the refusal; a request admitted by the rate limit is counted in its window. */
export const admit = <A, I>(
  env: Env,
  settings: Settings,
  contract: Contract<A, I>,
  raw: unknown,
  now: number
): Either.Either<Call<A>, Reply> => {
  const { endpoint, nested, schema } = contract
  if (!Predicate.isRecord(raw) || Array.isArray(raw)) {
    return Either.left(error(400, "The request body must be a JSON object"))
  }
  const apiKey = raw.apiKey
  if (!Predicate.isString(apiKey) || !settings.apiKeys.includes(apiKey)) {
    return Either.left(error(401, "Missing or invalid API key: pass your Fiber API key as `apiKey` in the body"))
  }
  const limit = settings.limits[endpoint]
  if (!env.window(`fiber:${endpoint}:${apiKey}`, limit, 60_000).admit(now).allowed) {
    return Either.left(limited(env, endpoint, `Rate limit exceeded: ${limit} requests per 1 minute on this endpoint`))
  }
  const decoded = Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore" })(raw)
  if (decoded._tag === "Left") return Either.left(error(400, issueOf(decoded.left)))
  const warnings = extraneous(raw, Object.keys(schema.fields), nested)
  return Either.right({ body: decoded.right, apiKey, now, warnings })
}
