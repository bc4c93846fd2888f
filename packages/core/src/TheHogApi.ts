/**
 * TheHog's wire contract (docs generation B, host `developer.thehog.ai`) as Schemas: `POST /api/enrichments`
 * (a sync 200 or an async 202 on the same endpoint) and the poll `GET /api/enrichments/:id` /
 * `GET /api/operations/:id`. Written from `shared/providers/thehog.md` and the "Enrich contacts" guide. The
 * client decodes with these (unknown fields ignored) and the simulator encodes its bodies with them, so the two
 * cannot drift apart.
 *
 * Tolerance: enum-like values TheHog may extend (operation `status`, item `status`) decode to an `"unknown"`
 * member instead of failing a whole job; contact values decode from strings (our INFERRED default) or from
 * `{address|email|phone|number|value}` objects; `result` decodes from `{items}` or from a bare items array.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/** @since 0.1.0 @category Constants */
export const defaultBaseUrl = "https://developer.thehog.ai"

/** Documented: `identifiers` takes at most 100 people (G-enrich). */
export const maxIdentifiers = 100

/** Documented: the poll endpoints share a 30 requests/minute bucket per organisation (Rate, R-op-A). */
export const pollLimitPerMinute = 30

/** Header names (CONFIRMED, Auth-B / R-submit / Shapes-B). */
export const headers = {
  accessKey: "x-access-key",
  secretKey: "x-secret-key",
  idempotencyKey: "idempotency-key",
  requestId: "x-request-id",
  projectId: "x-project-id",
  /** INFERRED (Stripe's convention, what the simulator sends): `true` on an Idempotency-Key replay */
  idempotentReplayed: "idempotent-replayed"
} as const

// ---------------------------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------------------------

/**
 * `fields` allow-list: `contact.email`, `contact.phone`, `signals` documented (G-enrich), `profile` from the API
 * reference example (R-submit). Anything else is a 400 (TP reports `company_name` rejected).
 */
export const RequestField = Schema.Literal("contact.email", "contact.phone", "signals", "profile")
/** @since 0.1.0 @category Models */
export type RequestField = typeof RequestField.Type
/** @since 0.1.0 @category Models */
export const requestFields: ReadonlyArray<RequestField> = RequestField.literals

/** Only these fields can be answered synchronously (with a single LinkedIn identifier). */
export const contactFields: ReadonlyArray<RequestField> = ["contact.email", "contact.phone"]

/** PersonIdentifier: exactly one of these keys, each a string (CONFIRMED G-enrich). */
export const LinkedInIdentifier = Schema.Struct({ linkedin_url: Schema.String })
/** @since 0.1.0 @category Models */
export const EmailIdentifier = Schema.Struct({ email: Schema.String })
/** @since 0.1.0 @category Models */
export const XIdentifier = Schema.Struct({ x_handle: Schema.String })
/** @since 0.1.0 @category Models */
export const GitHubIdentifier = Schema.Struct({ github_username: Schema.String })

/** @since 0.1.0 @category Models */
export const PersonIdentifier = Schema.Union(LinkedInIdentifier, EmailIdentifier, XIdentifier, GitHubIdentifier)
/** @since 0.1.0 @category Models */
export type PersonIdentifier = typeof PersonIdentifier.Type

/** The wire names of identifier kinds, in the order they are looked for. */
export const identifierKeys = ["linkedin_url", "email", "x_handle", "github_username"] as const
/** @since 0.1.0 @category Models */
export type IdentifierKey = typeof identifierKeys[number]

/** The kind and value of an identifier object (the first known key wins). */
export const identifierEntry = (identifier: PersonIdentifier): readonly [IdentifierKey, string] => {
  if ("linkedin_url" in identifier) return ["linkedin_url", identifier.linkedin_url]
  if ("email" in identifier) return ["email", identifier.email]
  if ("x_handle" in identifier) return ["x_handle", identifier.x_handle]
  return ["github_username", identifier.github_username]
}

/** Optional signal settings, only meaningful with `signals` (CONFIRMED names, R-submit; values INFERRED). */
export const SignalsConfig = Schema.Struct({
  platforms: Schema.optional(Schema.Array(Schema.String)),
  max_posts: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Number })),
  intent_signals: Schema.optional(Schema.Array(Schema.String)),
  since_days: Schema.optional(Schema.Number),
  handles: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})

/** Body of `POST /api/enrichments`: exactly one of `identifier` / `identifiers` (≤ 100), non-empty `fields`. */
export const EnrichmentRequest = Schema.Struct({
  identifier: Schema.optional(PersonIdentifier),
  identifiers: Schema.optional(Schema.Array(PersonIdentifier)),
  fields: Schema.NonEmptyArray(RequestField),
  signals_config: Schema.optional(SignalsConfig)
})
/** @since 0.1.0 @category Models */
export type EnrichmentRequest = typeof EnrichmentRequest.Type

// ---------------------------------------------------------------------------------------------------------------
// Shared response pieces
// ---------------------------------------------------------------------------------------------------------------

/**
 * Credits of one request: CONFIRMED on gen A sync responses (Shapes-A), INFERRED for gen B (sync and, in our
 * simulator, the 202 too). `actual` is what was charged at submission; without it TheHog reported no charge.
 */
export const Cost = Schema.Struct({ estimated: Schema.optional(Schema.Number), actual: Schema.optional(Schema.Number) })
/** @since 0.1.0 @category Models */
export type Cost = typeof Cost.Type

/** `meta` on every body: `requestId` CONFIRMED; `cost`, `projectId`, `estimatedCost` INFERRED / gen A. */
export const Meta = Schema.Struct({
  requestId: Schema.String,
  cost: Schema.optional(Cost),
  projectId: Schema.optional(Schema.String),
  estimatedCost: Schema.optional(Schema.Number)
})
/** @since 0.1.0 @category Models */
export type Meta = typeof Meta.Type

const ContactObject = Schema.Union(
  Schema.Struct({ address: Schema.String }),
  Schema.Struct({ email: Schema.String }),
  Schema.Struct({ phone: Schema.String }),
  Schema.Struct({ number: Schema.String }),
  Schema.Struct({ value: Schema.String })
)

/**
 * One email or phone. The element shape is not documented: strings are our INFERRED default (and what the
 * simulator sends); an object carrying the value under a usual key is read too rather than failing the job.
 */
export const ContactValue = Schema.Union(
  Schema.String,
  Schema.transform(ContactObject, Schema.String, {
    strict: true,
    decode: (o) =>
      "address" in o ? o.address : "email" in o ? o.email : "phone" in o ? o.phone : "number" in o ? o.number : o.value,
    encode: (value) => ({ value })
  })
)

/** `[]`, `null` and absent all mean "nothing" (which one TheHog sends is INFERRED); absent when not asked for. */
const values = Schema.optionalWith(Schema.Array(ContactValue), { nullable: true })

/** `data.contact.email` / `data.contact.phone`: verified values only (CONFIRMED G-enrich "Verified ..."). */
export const ContactData = Schema.Struct({
  email: values,
  phone: values
})
/** @since 0.1.0 @category Models */
export type ContactData = typeof ContactData.Type

/** Profile fields (INFERRED: the API reference only shows `profile` as a requestable field). */
export const ProfileData = Schema.Struct({
  firstName: Schema.optional(Schema.NullOr(Schema.String)),
  lastName: Schema.optional(Schema.NullOr(Schema.String)),
  company: Schema.optional(Schema.NullOr(Schema.String)),
  title: Schema.optional(Schema.NullOr(Schema.String))
})

/** `data` of a sync answer and of a successful item (CONFIRMED paths; `signals` content undocumented). */
export const EnrichmentData = Schema.Struct({
  contact: Schema.optional(Schema.NullOr(ContactData)),
  profile: Schema.optional(Schema.NullOr(ProfileData)),
  signals: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown })))
})
/** @since 0.1.0 @category Models */
export type EnrichmentData = typeof EnrichmentData.Type

// ---------------------------------------------------------------------------------------------------------------
// POST /api/enrichments answers
// ---------------------------------------------------------------------------------------------------------------

/** HTTP 200: a single LinkedIn identifier asking only contact fields (CONFIRMED envelope `{data, meta}`). */
export const SyncResponse = Schema.Struct({
  data: EnrichmentData,
  meta: Meta
})
/** @since 0.1.0 @category Models */
export type SyncResponse = typeof SyncResponse.Type

/**
 * Operation status (CONFIRMED R-op). `completed` is not documented but TP treats it as terminal, so it is read as
 * `succeeded`; any other value decodes as `unknown` (the client keeps polling unless a `result` is present).
 */
export const KnownOperationStatus = Schema.Literal(
  "queued",
  "processing",
  "succeeded",
  "partial_success",
  "failed",
  "cancelled"
)
/** @since 0.1.0 @category Models */
export const OperationStatus = Schema.transform(
  Schema.String,
  Schema.Literal(...KnownOperationStatus.literals, "unknown"),
  {
    strict: true,
    decode: (status) =>
      status === "completed" ? "succeeded" : Schema.is(KnownOperationStatus)(status) ? status : "unknown",
    encode: (status) => status
  }
)
/** @since 0.1.0 @category Models */
export type OperationStatus = typeof OperationStatus.Type

/** Terminal statuses: `partial_success` means the job finished and some items failed (INFERRED reading). */
export const isTerminal = (status: OperationStatus): boolean =>
  status === "succeeded" || status === "partial_success" || status === "failed" || status === "cancelled"

/** `meta` of a 202: like `Meta`, every part optional. */
export const AcceptedMeta = Schema.Struct({
  requestId: Schema.optional(Schema.String),
  cost: Schema.optional(Cost),
  projectId: Schema.optional(Schema.String),
  estimatedCost: Schema.optional(Schema.Number)
})

/**
 * HTTP 202: the job reference. Shapes-B shows `{id, operationId, status: "queued", pollUrl, meta}` (`id` =
 * `operationId`; `pollUrl` absolute there, relative in Async-B), but the guide (G-enrich) calls it only "a job
 * reference" to poll at `GET /api/enrichments/:id`. So every part is optional here (`null` reads as absent): the
 * client needs only something to poll, an id (`id` or `operationId`) or a `pollUrl`, and checks that itself.
 */
export const Accepted = Schema.Struct({
  id: Schema.optionalWith(Schema.String, { nullable: true }),
  operationId: Schema.optionalWith(Schema.String, { nullable: true }),
  status: Schema.optionalWith(OperationStatus, { nullable: true }),
  pollUrl: Schema.optionalWith(Schema.String, { nullable: true }),
  meta: Schema.optionalWith(AcceptedMeta, { nullable: true })
})
/** @since 0.1.0 @category Models */
export type Accepted = typeof Accepted.Type

// ---------------------------------------------------------------------------------------------------------------
// GET /api/enrichments/:id and GET /api/operations/:id
// ---------------------------------------------------------------------------------------------------------------

/** Item status (CONFIRMED `success` | `failed`); anything else decodes as `unknown`. */
export const ItemStatus = Schema.transform(Schema.String, Schema.Literal("success", "failed", "unknown"), {
  strict: true,
  decode: (status) => (status === "success" || status === "failed" ? status : "unknown"),
  encode: (status) => status
})
/** @since 0.1.0 @category Models */
export type ItemStatus = typeof ItemStatus.Type

/** "Safe error message" object (CONFIRMED name; `code` INFERRED). */
export const ItemError = Schema.Struct({
  message: Schema.String,
  code: Schema.optional(Schema.String)
})

/** One batch item: the identifier echoed verbatim, a status, and `data` or `error` (nesting INFERRED). */
export const ResultItem = Schema.Struct({
  identifier: PersonIdentifier,
  status: ItemStatus,
  data: Schema.optional(Schema.NullOr(EnrichmentData)),
  error: Schema.optional(Schema.NullOr(ItemError))
})
/** @since 0.1.0 @category Models */
export type ResultItem = typeof ResultItem.Type

const Items = Schema.Struct({ items: Schema.Array(ResultItem) })

/** `result`: `{items: [...]}` is our INFERRED default; a bare items array (the other reading) is accepted too. */
export const Result = Schema.Union(
  Items,
  Schema.transform(Schema.Array(ResultItem), Schema.typeSchema(Items), {
    strict: true,
    decode: (items) => ({ items }),
    encode: (result) => result.items
  })
)
/** @since 0.1.0 @category Models */
export type Result = typeof Result.Type

/** `error` of a failed operation (CONFIRMED "object"; fields INFERRED). */
export const OperationError = Schema.Struct({
  message: Schema.String,
  code: Schema.optional(Schema.String)
})

/** The poll answer `{id, status, progress, result, error}` (CONFIRMED R-op); `meta` INFERRED. */
export const Operation = Schema.Struct({
  id: Schema.String,
  status: OperationStatus,
  progress: Schema.optional(Schema.NullOr(Schema.Number)),
  result: Schema.optional(Schema.NullOr(Result)),
  error: Schema.optional(Schema.NullOr(OperationError)),
  meta: Schema.optional(Meta)
})
/** @since 0.1.0 @category Models */
export type Operation = typeof Operation.Type

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/** `errors[]` entries of a 400 `Validation failed` (CONFIRMED Err). */
export const ValidationIssue = Schema.Struct({
  property: Schema.String,
  message: Schema.String
})
/** @since 0.1.0 @category Models */
export type ValidationIssue = typeof ValidationIssue.Type

/**
 * Every error body (NestJS style, CONFIRMED Err/Auth-B/Rate). `message` may be an array in NestJS defaults, so
 * both are accepted.
 */
export const ErrorBody = Schema.Struct({
  statusCode: Schema.Number,
  error: Schema.String,
  message: Schema.Union(Schema.String, Schema.Array(Schema.String)),
  path: Schema.String,
  requestId: Schema.String,
  timestamp: Schema.String,
  errors: Schema.optional(Schema.Array(ValidationIssue))
})
/** @since 0.1.0 @category Models */
export type ErrorBody = typeof ErrorBody.Type

/** HTTP reason phrases used in `error` (NestJS). */
export const reasonPhrase: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  422: "Unprocessable Entity",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable"
}

/** CONFIRMED messages (Err, Rate). */
export const messages = {
  validation: "Validation failed",
  unauthorized: "Invalid or missing authentication credentials",
  rateLimited: "Rate limit exceeded. Please slow down and retry."
} as const

/** INFERRED per-item messages meaning "looked, found nothing": such items are `NotFound`, not `Failed`. */
export const noDataPattern = /no (contact )?data|not found|no match|no results|nothing found/i

/** INFERRED per-item messages meaning "cannot take this identifier": such items are provider-side `Rejected`. */
export const unsupportedPattern = /unsupported|invalid identifier|not a valid/i
