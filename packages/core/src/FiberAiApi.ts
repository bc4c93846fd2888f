/**
 * Fiber AI's contact-details wire contract as Schemas, written from the seeds (`pollBatchContactDetails`,
 * `pollExhaustiveContactEnrichmentResult`, `startBatchContactDetails`) and `shared/providers/fiber.md`.
 * The client decodes with these (unknown fields ignored) and the simulator encodes its bodies with them, so
 * the two cannot drift apart.
 *
 * - Every 200 is the envelope `{output, chargeInfo, warnings?, advice}` (CONFIRMED); errors are
 *   `{message, outOfCreditsAlert?}` (CONFIRMED).
 * - The API key travels in the JSON body as `apiKey` (CONFIRMED); it is a `Redacted` here so it stays
 *   hidden until the body is encoded.
 * - Tolerance: enum values Fiber may extend decode to a fallback instead of failing a whole page: email `type`
 *   → `unknown`, email `status` → `unknown`, phone `type` → `unknown`, profile `status` → `unrecognized`
 *   (then `done` decides), a `chargeInfo.method` we do not know → `{method}` only. `advice` may be missing.
 *
 * INFERRED (our reading, not Fiber's word): the cursor format and paging rules, the meaning of an absent vs
 * `null` `outputs`, cumulative refunds on polls, prices of mixed field selections. See each item.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { Field, Mode } from "./Contact.js"

/** @since 0.1.0 @category Constants */
export const defaultBaseUrl = "https://api.fiber.ai"

/** Request paths (CONFIRMED), by our endpoint names (used for rate-limit gates, counters and errors). */
export const paths = {
  "batch/start": "/v1/contact-details/batch/start",
  "batch/poll": "/v1/contact-details/batch/poll",
  "batch/cancel": "/v1/contact-details/batch/cancel",
  "exhaustive/start": "/v1/contact-details/exhaustive/start",
  "exhaustive/poll": "/v1/contact-details/exhaustive/poll",
  single: "/v1/contact-details/single"
} as const

/** @since 0.1.0 @category Models */
export type Endpoint = keyof typeof paths

/** Documented requests per minute per endpoint (CONFIRMED: seeds and the SDK). No rate-limit headers exist. */
export const requestsPerMinute: Record<Endpoint, number> = {
  "batch/start": 30,
  "batch/poll": 240,
  "batch/cancel": 60,
  "exhaustive/start": 60,
  "exhaustive/poll": 240,
  single: 200
}

/** People per batch start (CONFIRMED `maxItems: 2000`). */
export const maxBatchPeople = 2000

/** Rows per poll page: `take` is 1..100, default 100 (CONFIRMED). */
export const maxTake = 100

/**
 * The LinkedIn URL pattern of the batch endpoints, exactly as published (CONFIRMED): case-sensitive and only
 * start-anchored. The named group `slug` is the profile key.
 */
export const linkedInUrlPattern =
  /^(?:https?:\/\/)?(?:[a-z]+\.)?linkedin\.[a-z]{2,}\/(?:in|sales\/lead|talent\/profile)\/(?<slug>[^/\\?,#]+)\/?(?:[?,#].*)?/

// ---------------------------------------------------------------------------------------------------------------
// Prices (CONFIRMED single selections; INFERRED mixes)
// ---------------------------------------------------------------------------------------------------------------

/**
 * Credits per person. Batch/single (CONFIRMED): work 2, personal 2, phone 3, everything 5. Exhaustive
 * (CONFIRMED): work 5, personal 5, phone 4, both emails 9, everything 12. Other mixes are INFERRED as the sum
 * capped at the "everything" price (batch work+phone = 5, work+personal = 4; exhaustive work+phone = 9).
 */
export const prices = {
  batch: { work_email: 2, personal_email: 2, phone: 3, cap: 5, bothEmails: undefined },
  exhaustive: { work_email: 5, personal_email: 5, phone: 4, cap: 12, bothEmails: 9 }
} as const

/** The price of one person for `fields` (deduplicated); `sync` is priced like batch (the `/single` table). */
export const price = (fields: ReadonlyArray<Field>, mode: Mode = "batch"): number => {
  const table = mode === "exhaustive" ? prices.exhaustive : prices.batch
  const set = new Set(fields)
  let sum = 0
  for (const field of set) sum += table[field]
  if (set.size === 2 && set.has("work_email") && set.has("personal_email") && table.bothEmails !== undefined) {
    return table.bothEmails
  }
  return Math.min(sum, table.cap)
}

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------------------------

/** Our secret, encoded as the plain string Fiber expects in the body. */
export const ApiKey = Schema.Redacted(Schema.String)

/** `enrichmentTypes` (batch) / `enrichmentType` (single, exhaustive): each flag defaults to `true` (CONFIRMED). */
export const EnrichmentTypes = Schema.Struct({
  getWorkEmails: Schema.optional(Schema.Boolean),
  getPersonalEmails: Schema.optional(Schema.Boolean),
  getPhoneNumbers: Schema.optional(Schema.Boolean)
})
/** @since 0.1.0 @category Models */
export type EnrichmentTypes = typeof EnrichmentTypes.Type

/** The flags for `fields`, every flag spelt out (an absent flag would mean `true`). */
export const enrichmentTypesOf = (fields: ReadonlyArray<Field>): EnrichmentTypes => ({
  getWorkEmails: fields.includes("work_email"),
  getPersonalEmails: fields.includes("personal_email"),
  getPhoneNumbers: fields.includes("phone")
})

/** The fields `types` asks for, applying the documented `true` defaults. */
export const fieldsOf = (types: EnrichmentTypes | undefined): ReadonlyArray<Field> => [
  ...(types?.getWorkEmails === false ? [] : ["work_email" as const]),
  ...(types?.getPersonalEmails === false ? [] : ["personal_email" as const]),
  ...(types?.getPhoneNumbers === false ? [] : ["phone" as const])
]

/** Documented email `type` values. */
export const EmailType = Schema.Literal("work", "personal", "other", "unknown", "generic")
/** @since 0.1.0 @category Models */
export type EmailType = typeof EmailType.Type

/** Documented email `status` values. */
export const EmailStatus = Schema.Literal("valid", "risky", "unknown", "invalid")
/** @since 0.1.0 @category Models */
export type EmailStatus = typeof EmailStatus.Type

/** Documented phone `type` values. */
export const PhoneType = Schema.Literal("mobile", "other", "unknown")
/** @since 0.1.0 @category Models */
export type PhoneType = typeof PhoneType.Type

/** Documented exhaustive/single profile `status` values, in lifecycle order. */
export const ProfileStatus = Schema.Literal("started", "live-enriching", "grabbing-contact-info", "completed", "failed")
/** @since 0.1.0 @category Models */
export type ProfileStatus = typeof ProfileStatus.Type

/** A string that decodes to one of `literals` or to `fallback` (a value Fiber added later must not fail a page). */
const lenient = <A extends string>(literals: Schema.Schema<A>, fallback: A) => {
  const known = Schema.is(literals)
  return Schema.transform(Schema.String, Schema.typeSchema(literals), {
    strict: true,
    decode: (value) => (known(value) ? value : fallback),
    encode: (value) => value
  })
}

/** Email `type`; unknown values decode as `unknown` (then the address's domain decides work vs personal). */
export const LenientEmailType = lenient(EmailType, "unknown")
/** Email `status`; unknown values decode as `unknown`. An absent status is also "unknown" (mapped by the client). */
export const LenientEmailStatus = lenient(EmailStatus, "unknown")
/** Phone `type`; unknown values decode as `unknown`. */
export const LenientPhoneType = lenient(PhoneType, "unknown")
/** Profile `status`; unknown values decode as `unrecognized`, and the client then trusts `done`. */
export const LenientProfileStatus = lenient(
  Schema.Literal("started", "live-enriching", "grabbing-contact-info", "completed", "failed", "unrecognized"),
  "unrecognized"
)

/** @since 0.1.0 @category Models */
export const EmailItem = Schema.Struct({
  email: Schema.String,
  type: LenientEmailType,
  status: Schema.optionalWith(LenientEmailStatus, { exact: true })
})
/** @since 0.1.0 @category Models */
export type EmailItem = typeof EmailItem.Type

/** @since 0.1.0 @category Models */
export const PhoneItem = Schema.Struct({
  number: Schema.String,
  type: LenientPhoneType
})
/** @since 0.1.0 @category Models */
export type PhoneItem = typeof PhoneItem.Type

/** `null` or `{getMoreCreditsUrl, message, availableCredits}` (CONFIRMED). */
export const CreditAlert = Schema.Struct({
  getMoreCreditsUrl: Schema.String,
  message: Schema.String,
  availableCredits: Schema.Number
})
/** @since 0.1.0 @category Models */
export type CreditAlert = typeof CreditAlert.Type

const lowCreditAlert = Schema.optionalWith(Schema.NullOr(CreditAlert), { exact: true })

/** @since 0.1.0 @category Models */
export const ChargedNow = Schema.Struct({
  method: Schema.Literal("charged-now"),
  creditsCharged: Schema.Number,
  lowCreditAlert
})
/** @since 0.1.0 @category Models */
export const ChargingLater = Schema.Struct({
  method: Schema.Literal("charging-later"),
  message: Schema.String,
  lowCreditAlert
})
/** @since 0.1.0 @category Models */
export const ChargedForAsyncProcess = Schema.Struct({
  method: Schema.Literal("charged-for-async-process"),
  creditsCharged: Schema.Number,
  message: Schema.String,
  lowCreditAlert
})
/** @since 0.1.0 @category Models */
export const Free = Schema.Struct({
  method: Schema.Literal("free"),
  message: Schema.String,
  lowCreditAlert
})
/** @since 0.1.0 @category Models */
export const CreditsRefunded = Schema.Struct({
  method: Schema.Literal("credits-refunded"),
  creditsRefunded: Schema.Number,
  message: Schema.String,
  lowCreditAlert
})
/**
 * Tolerance: any other (or incomplete) `chargeInfo` decodes as `{method: "other", reported}` instead of failing
 * the response (a distinct literal, so the known variants still narrow by `method`).
 */
export const OtherCharge = Schema.transform(
  Schema.Struct({ method: Schema.String }),
  Schema.Struct({ method: Schema.Literal("other"), reported: Schema.String }),
  {
    strict: true,
    decode: ({ method }) => ({ method: "other" as const, reported: method }),
    encode: ({ reported }) => ({ method: reported })
  }
)

/** The `chargeInfo` `oneOf` (CONFIRMED), plus the tolerant fallback last. */
export const ChargeInfo = Schema.Union(
  ChargedNow,
  ChargingLater,
  ChargedForAsyncProcess,
  Free,
  CreditsRefunded,
  OtherCharge
)
/** @since 0.1.0 @category Models */
export type ChargeInfo = typeof ChargeInfo.Type

/** Credits charged according to `chargeInfo` (0 when it charged nothing or says nothing). */
export const chargedBy = (info: ChargeInfo): number =>
  info.method === "charged-now" || info.method === "charged-for-async-process" ? info.creditsCharged : 0

/** Credits refunded according to `chargeInfo`. */
export const refundedBy = (info: ChargeInfo): number => info.method === "credits-refunded" ? info.creditsRefunded : 0

/** `warnings`: extraneous request fields (CONFIRMED). */
export const Warning = Schema.Struct({ field: Schema.String, message: Schema.String })
/** @since 0.1.0 @category Models */
export type Warning = typeof Warning.Type

/** The 200 envelope around an endpoint's `output` (CONFIRMED). */
export const envelope = <A, I>(output: Schema.Schema<A, I>) =>
  Schema.Struct({
    output,
    chargeInfo: ChargeInfo,
    warnings: Schema.optionalWith(Schema.NullOr(Schema.Array(Warning)), { exact: true }),
    advice: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
  })

/** Every error status: `{message}` (CONFIRMED); 402 adds `outOfCreditsAlert` (CONFIRMED). */
export const ErrorBody = Schema.Struct({
  message: Schema.String,
  outOfCreditsAlert: Schema.optionalWith(Schema.NullOr(CreditAlert), { exact: true })
})
/** @since 0.1.0 @category Models */
export type ErrorBody = typeof ErrorBody.Type

// ---------------------------------------------------------------------------------------------------------------
// POST /v1/contact-details/batch/start
// ---------------------------------------------------------------------------------------------------------------

/** `{value}`: a LinkedIn URL matching the published pattern (CONFIRMED). */
export const LinkedInUrlInput = Schema.Struct({
  value: Schema.String.pipe(Schema.pattern(linkedInUrlPattern, {
    message: () => "must be a LinkedIn profile URL like https://www.linkedin.com/in/jake"
  }))
})

/** @since 0.1.0 @category Models */
export const PersonDetails = Schema.Struct({ linkedinUrl: LinkedInUrlInput })

/** @since 0.1.0 @category Models */
export const StartBatchRequest = Schema.Struct({
  apiKey: ApiKey,
  personDetails: Schema.Array(PersonDetails).pipe(Schema.minItems(1), Schema.maxItems(maxBatchPeople)),
  enrichmentTypes: Schema.optionalWith(EnrichmentTypes, { exact: true })
})
/** @since 0.1.0 @category Models */
export type StartBatchRequest = typeof StartBatchRequest.Type

/** @since 0.1.0 @category Models */
export const StartBatchOutput = Schema.Struct({
  taskId: Schema.NonEmptyString,
  numPeopleEnqueued: Schema.Int,
  /** duplicates (by profile slug) are skipped and not charged (CONFIRMED) */
  numDuplicatesSkipped: Schema.optionalWith(Schema.NullOr(Schema.Int), { exact: true })
})
/** @since 0.1.0 @category Models */
export type StartBatchOutput = typeof StartBatchOutput.Type

/**
 * Start answers `chargeInfo: {method: "charged-now", creditsCharged: unique × price}` (INFERRED from the SDK), or
 * `charging-later` (a documented method: the charge then comes on a poll as `charged-for-async-process`).
 */
export const StartBatchResponse = envelope(StartBatchOutput)
/** @since 0.1.0 @category Models */
export type StartBatchResponse = typeof StartBatchResponse.Type

// ---------------------------------------------------------------------------------------------------------------
// POST /v1/contact-details/batch/poll
// ---------------------------------------------------------------------------------------------------------------

/** What every call about one task sends. */
const taskRequest = { apiKey: ApiKey, taskId: Schema.NonEmptyString }

/**
 * INFERRED paging (the simulator and the client agree on it): `cursor` is an opaque position in the task's list
 * of finished rows (the simulator uses base64 of `<taskId>:<offset>`). Every poll that returns rows returns
 * `nextCursor` = the position right after them; a poll that returns none echoes the position it was given
 * (`null` when it was given none). Re-polling from a cursor yields exactly the rows after it, so a stored
 * cursor resumes a task after a restart. The client also tolerates a `null`/absent `nextCursor`.
 */
export const PollBatchRequest = Schema.Struct({
  ...taskRequest,
  cursor: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  take: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, maxTake)), { exact: true })
})
/** @since 0.1.0 @category Models */
export type PollBatchRequest = typeof PollBatchRequest.Type

/**
 * INFERRED invariant: `totalPeopleToFetch = numCompleted + numFailed + numRemaining + numRejected`;
 * `numDuplicates` is outside the total. Once `done`, `numRemaining` counts the people that were never processed
 * (task canceled or failed); they have no row.
 */
export const OverallStats = Schema.Struct({
  totalPeopleToFetch: Schema.NonNegativeInt,
  numCompleted: Schema.NonNegativeInt,
  numFailed: Schema.NonNegativeInt,
  numRemaining: Schema.NonNegativeInt,
  numRejected: Schema.NonNegativeInt,
  numDuplicates: Schema.NonNegativeInt
})
/** @since 0.1.0 @category Models */
export type OverallStats = typeof OverallStats.Type

/** The contact values every reveal answers with (batch rows' `outputs` and the single-person `profile`). */
const contactValues = {
  emails: Schema.Array(EmailItem),
  phoneNumbers: Schema.Array(PhoneItem),
  exhaustive: Schema.optionalWith(Schema.NullOr(Schema.Boolean), { exact: true })
}

/** @since 0.1.0 @category Models */
export const Outputs = Schema.Struct(contactValues)
/** @since 0.1.0 @category Models */
export type Outputs = typeof Outputs.Type

/**
 * One finished person. The echoed URL is not pattern-checked on the way in (Fiber may echo a healed form).
 * `outputs` is optional and nullable in the published schema; INFERRED meaning, as the simulator sends it:
 * an object → reveal completed (`numCompleted`); `null` → looked up and nothing found or an error
 * (`numFailed`, refunded); absent → rejected before queueing because healing failed (`numRejected`, refunded).
 */
export const PageResult = Schema.Struct({
  inputs: Schema.Struct({ linkedinUrl: Schema.Struct({ value: Schema.String }) }),
  outputs: Schema.optionalWith(Schema.NullOr(Outputs), { exact: true })
})
/** @since 0.1.0 @category Models */
export type PageResult = typeof PageResult.Type

/** @since 0.1.0 @category Models */
export const PollBatchOutput = Schema.Struct({
  overallStats: OverallStats,
  done: Schema.Boolean,
  failed: Schema.Boolean,
  canceled: Schema.Boolean,
  pageResults: Schema.Array(PageResult),
  nextCursor: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true })
})
/** @since 0.1.0 @category Models */
export type PollBatchOutput = typeof PollBatchOutput.Type

/**
 * INFERRED charging: undelivered data is refunded per person as rows finish — the whole price for a `null` or
 * absent `outputs` (and for people a cancel or a task failure leaves unprocessed), the price of the fields not
 * delivered for a partial reveal. Fiber does not say whether a poll's `{method: "credits-refunded",
 * creditsRefunded}` is the task's running total (repeated on every poll) or what that poll paid out (later polls
 * `free`), nor whether a task started `charging-later` reports its `charged-for-async-process` once or on every
 * poll once done: the client reads both (see `internal/fiber/credits.ts`), the simulator answers in either.
 */
export const PollBatchResponse = envelope(PollBatchOutput)
/** @since 0.1.0 @category Models */
export type PollBatchResponse = typeof PollBatchResponse.Type

// ---------------------------------------------------------------------------------------------------------------
// POST /v1/contact-details/batch/cancel
// ---------------------------------------------------------------------------------------------------------------

/** @since 0.1.0 @category Models */
export const CancelBatchRequest = Schema.Struct(taskRequest)
/** @since 0.1.0 @category Models */
export type CancelBatchRequest = typeof CancelBatchRequest.Type

/** CONFIRMED (SDK). INFERRED: cancelling a finished task answers 200 with `cancelledCount: 0`. */
export const CancelBatchOutput = Schema.Struct({
  cancelledCount: Schema.Int,
  creditsRefunded: Schema.Number,
  message: Schema.String
})
/** @since 0.1.0 @category Models */
export type CancelBatchOutput = typeof CancelBatchOutput.Type

/** @since 0.1.0 @category Models */
export const CancelBatchResponse = envelope(CancelBatchOutput)
/** @since 0.1.0 @category Models */
export type CancelBatchResponse = typeof CancelBatchResponse.Type

// ---------------------------------------------------------------------------------------------------------------
// Single person: /exhaustive/start, /exhaustive/poll, /single
// ---------------------------------------------------------------------------------------------------------------

/** A full profile URL, a bare slug, a Sales Navigator URN or a numeric id (CONFIRMED, SDK). */
export const SinglePersonUrl = Schema.NonEmptyString

/** @since 0.1.0 @category Models */
export const ExhaustiveStartRequest = Schema.Struct({
  apiKey: ApiKey,
  linkedinUrl: SinglePersonUrl,
  enrichmentType: Schema.optionalWith(EnrichmentTypes, { exact: true })
})
/** @since 0.1.0 @category Models */
export type ExhaustiveStartRequest = typeof ExhaustiveStartRequest.Type

/** @since 0.1.0 @category Models */
export const ExhaustiveStartOutput = Schema.Struct({ taskId: Schema.NonEmptyString })

/** Start answers `charging-later` (INFERRED from the predecessor spec). */
export const ExhaustiveStartResponse = envelope(ExhaustiveStartOutput)
/** @since 0.1.0 @category Models */
export type ExhaustiveStartResponse = typeof ExhaustiveStartResponse.Type

/** @since 0.1.0 @category Models */
export const ExhaustivePollRequest = Schema.Struct(taskRequest)
/** @since 0.1.0 @category Models */
export type ExhaustivePollRequest = typeof ExhaustivePollRequest.Type

/**
 * CONFIRMED (S-exh-poll). `lowQualityEmails` failed Fiber's validation (risky or undeliverable) and are kept
 * apart from `emails`; the client never treats them as valid.
 */
export const Profile = Schema.Struct({
  ...contactValues,
  status: LenientProfileStatus,
  error: Schema.optionalWith(Schema.String, { exact: true }),
  lowQualityEmails: Schema.optionalWith(Schema.NullOr(Schema.Array(EmailItem)), { exact: true })
})
/** @since 0.1.0 @category Models */
export type Profile = typeof Profile.Type

/** @since 0.1.0 @category Models */
export const ProfileOutput = Schema.Struct({ profile: Profile, done: Schema.Boolean })
/** @since 0.1.0 @category Models */
export type ProfileOutput = typeof ProfileOutput.Type

/**
 * INFERRED: `done` iff `status ∈ {completed, failed}`; `charging-later` until then, and
 * `{method: "charged-for-async-process", creditsCharged}` for the delivered data once done.
 */
export const ExhaustivePollResponse = envelope(ProfileOutput)
/** @since 0.1.0 @category Models */
export type ExhaustivePollResponse = typeof ExhaustivePollResponse.Type

/** `/single` (CONFIRMED in SDK v1.40.0): `validateEmails` defaults to `true`. */
export const SingleRequest = Schema.Struct({
  apiKey: ApiKey,
  linkedinUrl: SinglePersonUrl,
  enrichmentType: Schema.optionalWith(EnrichmentTypes, { exact: true }),
  validateEmails: Schema.optionalWith(Schema.Boolean, { exact: true })
})
/** @since 0.1.0 @category Models */
export type SingleRequest = typeof SingleRequest.Type

/** Same `output` as the exhaustive poll; `charged-now` for the delivered data only (CONFIRMED). */
export const SingleResponse = envelope(ProfileOutput)
/** @since 0.1.0 @category Models */
export type SingleResponse = typeof SingleResponse.Type
