/**
 * The one error family every provider maps its HTTP, parse and job failures into.
 * Each error carries the provider it came from so a waterfall can decide what to do next.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const provider = Schema.String

/** @since 0.1.0 @category Errors */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  provider,
  message: Schema.String,
  status: Schema.optional(Schema.Number)
}) {}

/** @since 0.1.0 @category Errors */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  provider,
  status: Schema.Number,
  message: Schema.String
}) {}

/** @since 0.1.0 @category Errors */
export class InsufficientCredits extends Schema.TaggedError<InsufficientCredits>()("InsufficientCredits", {
  provider,
  message: Schema.String,
  availableCredits: Schema.optional(Schema.Number)
}) {}

/** @since 0.1.0 @category Errors */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  provider,
  endpoint: Schema.String,
  /** milliseconds the provider asked us to wait (Retry-After / x-ratelimit-reset), when it said */
  retryAfterMillis: Schema.optional(Schema.Number)
}) {
  get retryAfter(): Duration.Duration | undefined {
    return this.retryAfterMillis === undefined ? undefined : Duration.millis(this.retryAfterMillis)
  }
  override get message() {
    return `${this.provider} rate limited ${this.endpoint}` +
      (this.retryAfterMillis === undefined ? "" : ` (retry after ${this.retryAfterMillis} ms)`)
  }
}

/** @since 0.1.0 @category Errors */
export class TooManyActiveJobs extends Schema.TaggedError<TooManyActiveJobs>()("TooManyActiveJobs", {
  provider,
  limit: Schema.optional(Schema.Number)
}) {}

/** @since 0.1.0 @category Errors */
export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>()("ProviderUnavailable", {
  provider,
  endpoint: Schema.String,
  status: Schema.optional(Schema.Number),
  message: Schema.String,
  /**
   * Nothing answered at all (connection refused, host unknown): a wrong base URL or a provider that is down,
   * retried only briefly, unlike a 5xx or a dropped connection.
   */
  unreachable: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {}

/** @since 0.1.0 @category Errors */
export class JobFailed extends Schema.TaggedError<JobFailed>()("JobFailed", {
  provider,
  jobId: Schema.String,
  message: Schema.String
}) {}

/** @since 0.1.0 @category Errors */
export class JobCanceled extends Schema.TaggedError<JobCanceled>()("JobCanceled", {
  provider,
  jobId: Schema.String
}) {}

/** @since 0.1.0 @category Errors */
export class JobTimedOut extends Schema.TaggedError<JobTimedOut>()("JobTimedOut", {
  provider,
  jobId: Schema.String,
  waitedMillis: Schema.Number
}) {}

/**
 * A response that does not match the provider's contract (schema drift). The message names the provider, the
 * endpoint (`POST /api/enrichments`), the HTTP status when there was one, and the offending value's path
 * (`["operationId"]`), e.g. `thehog POST /api/enrichments (202): ["operationId"] is missing`.
 */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>()("MalformedResponse", {
  provider,
  endpoint: Schema.String,
  status: Schema.optional(Schema.Number),
  /** where in the body, as `formatPath` writes it */
  path: Schema.String,
  /** what is wrong there */
  detail: Schema.String
}) {
  override get message() {
    const status = this.status === undefined ? "" : ` (${this.status})`
    return `${this.provider} ${this.endpoint}${status}: ${this.path} ${this.detail}`
  }
}

/**
 * A Schema issue path as `["result"]["items"][0]`, the way `MalformedResponse` shows it; the whole body is
 * `(body)`.
 *
 * @since 0.1.0 @category Formatting
 */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0
    ? "(body)"
    : path.map((segment) => typeof segment === "number" ? `[${segment}]` : `[${JSON.stringify(String(segment))}]`)
      .join("")

/**
 * A job the provider no longer knows (its status answers 404, e.g. after the provider lost its state): whatever it
 * held is gone, and waiting for it would wait forever.
 */
export class JobLost extends Schema.TaggedError<JobLost>()("JobLost", {
  provider,
  jobId: Schema.String,
  message: Schema.String
}) {}

/** A result file or page that is no longer downloadable (expired pre-signed link, retention over). */
export class ResultExpired extends Schema.TaggedError<ResultExpired>()("ResultExpired", {
  provider,
  jobId: Schema.String,
  message: Schema.String
}) {}

/** @since 0.1.0 @category Errors */
export const EnrichmentError = Schema.Union(
  InvalidRequest,
  Unauthorized,
  InsufficientCredits,
  RateLimited,
  TooManyActiveJobs,
  ProviderUnavailable,
  JobFailed,
  JobCanceled,
  JobTimedOut,
  MalformedResponse,
  ResultExpired,
  JobLost
)

/** @since 0.1.0 @category Errors */
export type EnrichmentError = typeof EnrichmentError.Type

const tags = new Set<string>([
  "InvalidRequest",
  "Unauthorized",
  "InsufficientCredits",
  "RateLimited",
  "TooManyActiveJobs",
  "ProviderUnavailable",
  "JobFailed",
  "JobCanceled",
  "JobTimedOut",
  "MalformedResponse",
  "ResultExpired",
  "JobLost"
])

/** @since 0.1.0 @category Guards */
export const isEnrichmentError = (u: unknown): u is EnrichmentError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && tags.has(u._tag)

/**
 * Worth another attempt later with the same request: throttling and provider outages.
 * Everything else (bad input, auth, credits, failed jobs, schema drift) needs a human or a different provider.
 *
 * @since 0.1.0 @category Guards
 */
export const isTransient = (error: EnrichmentError): boolean =>
  error._tag === "RateLimited" || error._tag === "ProviderUnavailable" || error._tag === "TooManyActiveJobs"
