/**
 * Crustdata's wire contract (API version 2025-11-01) as Schemas: the batch contact enrich flow
 * (`POST /batch/person/contact/enrich` → `GET /batch/{batch_id}` → gzipped JSONL download, optional webhook)
 * and the synchronous `POST /person/contact/enrich`. Written from `shared/providers/crustdata.md` and the
 * "Batch Contact Enrich" guide. The client decodes with these (unknown fields ignored) and the simulator
 * encodes its bodies with them, so the two cannot drift apart.
 *
 * Tolerance: enum-like values Crustdata may extend (email `status`, job `status`, `match_type`) decode
 * leniently instead of failing a whole job; empty values may arrive as `[]`, `null` or be absent.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/** @since 0.1.0 @category Constants */
export const apiVersion = "2025-11-01"

/** @since 0.1.0 @category Constants */
export const defaultBaseUrl = "https://api.crustdata.com"

/** Documented batch cap: larger submissions are rejected with 400 (R-submit). */
export const maxBatchUrls = 300

/** Documented sync cap (R-contact). */
export const maxSyncIdentifiers = 25

/** Documented: at most 5 `pending`/`processing` batch jobs per account; a sixth submit gets 429. */
export const maxActiveJobs = 5

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------------------------

/** Email statuses seen in the docs (`deliverable`, `unknown`) plus the INFERRED `risky` and `undeliverable`. */
export const EmailStatus = Schema.Literal("deliverable", "risky", "unknown", "undeliverable")
/** @since 0.1.0 @category Models */
export type EmailStatus = typeof EmailStatus.Type

const isEmailStatus = Schema.is(EmailStatus)

/**
 * The documented list was cut short in the docs, so any other string (a new status such as `catch_all`)
 * decodes as `unknown`: the address is kept with an unknown verdict instead of failing the whole job.
 */
export const LenientEmailStatus = Schema.transform(Schema.String, EmailStatus, {
  strict: true,
  decode: (status) => (isEmailStatus(status) ? status : "unknown"),
  encode: (status) => status
})

/** `{email, status}` (CONFIRMED shape). */
export const EmailEntry = Schema.Struct({
  email: Schema.String,
  status: LenientEmailStatus
})
/** @since 0.1.0 @category Models */
export type EmailEntry = typeof EmailEntry.Type

/** `[]`, `null` and absent all mean "nothing found" (which one Crustdata sends is INFERRED). */
const emptyArray = <A, I>(item: Schema.Schema<A, I>) =>
  Schema.optionalWith(Schema.Array(item), { nullable: true, default: () => [] })

/** Error body — INFERRED shape `{error: {type, message, metadata}}` (R-submit names `metadata.available_fields`). */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    type: Schema.String,
    message: Schema.String,
    metadata: Schema.optional(Schema.Struct({
      available_fields: Schema.optional(Schema.Array(Schema.String)),
      /** INFERRED: how many jobs are active, on the active-jobs 429 */
      active_jobs: Schema.optional(Schema.Number),
      limit: Schema.optional(Schema.Number)
    }))
  })
})
/** @since 0.1.0 @category Models */
export type ErrorBody = typeof ErrorBody.Type

/** INFERRED names for `error.type`. */
export const ErrorType = {
  invalidRequest: "invalid_request_error",
  authentication: "authentication_error",
  permission: "permission_error",
  rateLimit: "rate_limit_error",
  api: "api_error"
} as const

// ---------------------------------------------------------------------------------------------------------------
// Batch: submit
// ---------------------------------------------------------------------------------------------------------------

/** The four batch `fields` values (CONFIRMED). */
export const BatchField = Schema.Literal(
  "business_email",
  "personal_contact_info",
  "personal_contact_info.personal_emails",
  "personal_contact_info.phone_numbers"
)
/** @since 0.1.0 @category Models */
export type BatchField = typeof BatchField.Type
/** @since 0.1.0 @category Constants */
export const batchFields: ReadonlyArray<BatchField> = BatchField.literals

/**
 * Submit body. Both lists are also accepted as one comma-separated string (CONFIRMED), so the wire type is
 * loose; the client always sends arrays of the literals above.
 */
export const BatchSubmitRequest = Schema.Struct({
  professional_network_profile_urls: Schema.Union(Schema.Array(Schema.String), Schema.String),
  fields: Schema.Union(Schema.Array(Schema.String), Schema.String),
  webhook_url: Schema.optional(Schema.String)
})
/** @since 0.1.0 @category Models */
export type BatchSubmitRequest = typeof BatchSubmitRequest.Type

/** Job states (CONFIRMED). */
export const BatchStatus = Schema.Literal("pending", "processing", "completed", "failed")
/** @since 0.1.0 @category Models */
export type BatchStatus = typeof BatchStatus.Type

const isBatchStatus = Schema.is(BatchStatus)

/**
 * A job state we do not know (e.g. a future `queued` or `canceled`) decodes as `unknown`, which the client
 * treats as "not finished yet" and keeps polling until the deadline.
 */
export const LenientBatchStatus = Schema.transform(
  Schema.String,
  Schema.Literal("pending", "processing", "completed", "failed", "unknown"),
  { strict: true, decode: (status) => (isBatchStatus(status) ? status : "unknown"), encode: (status) => status }
)

/** Submit response (CONFIRMED field set; HTTP status INFERRED 200). */
export const BatchSubmitResponse = Schema.Struct({
  /** a UUID; decoded as a plain string so that another id format does not break us */
  batch_id: Schema.String,
  status: LenientBatchStatus,
  entity: Schema.String,
  action: Schema.String,
  identifier_count: Schema.Number,
  entities_requested: Schema.Number,
  /** relative path, e.g. `/batch/<id>` */
  status_url: Schema.String
})
/** @since 0.1.0 @category Models */
export type BatchSubmitResponse = typeof BatchSubmitResponse.Type

// ---------------------------------------------------------------------------------------------------------------
// Batch: status (also the webhook payload, INFERRED)
// ---------------------------------------------------------------------------------------------------------------

const optionalNullable = <A, I>(schema: Schema.Schema<A, I>) =>
  Schema.optionalWith(schema, { nullable: true, exact: true })

const summaryFields = {
  batch_id: Schema.String,
  status: LenientBatchStatus,
  entity: Schema.String,
  action: Schema.String,
  identifier_count: Schema.Number,
  entities_requested: optionalNullable(Schema.Number),
  result_count: optionalNullable(Schema.Number),
  entities_fulfilled: optionalNullable(Schema.Number),
  created_at: optionalNullable(Schema.String),
  completed_at: optionalNullable(Schema.String),
  error_message: optionalNullable(Schema.String)
}

/** A job as `GET /batch` lists it: the status fields minus the download links (CONFIRMED, R-list). */
export const BatchSummary = Schema.Struct(summaryFields)
/** @since 0.1.0 @category Models */
export type BatchSummary = typeof BatchSummary.Type

/**
 * `GET /batch/{batch_id}` (CONFIRMED fields). While the job runs the completion fields are absent or null
 * (INFERRED); on `completed` `download_url` (merged file) and `download_urls` (parts, element type INFERRED
 * string); on `failed` `error_message`.
 */
export const BatchStatusResponse = Schema.Struct({
  ...summaryFields,
  download_url: optionalNullable(Schema.String),
  download_urls: optionalNullable(Schema.Array(Schema.String))
})
/** @since 0.1.0 @category Models */
export type BatchStatusResponse = typeof BatchStatusResponse.Type

/**
 * `GET /batch` (CONFIRMED: most recent first, cursor pagination, optional status filter). The query names
 * `cursor`, `limit`, `status` and the body names `batches`, `next_cursor` are INFERRED; a missing list reads
 * as empty and a missing cursor as the last page.
 */
export const BatchListResponse = Schema.Struct({
  batches: Schema.optionalWith(Schema.Array(BatchSummary), { nullable: true, default: () => [] }),
  next_cursor: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null })
})
/** @since 0.1.0 @category Models */
export type BatchListResponse = typeof BatchListResponse.Type

/** Query of `GET /batch` (names INFERRED). */
export interface BatchListQuery {
  readonly cursor?: string | undefined
  /** 1..100 */
  readonly limit?: number | undefined
  readonly status?: BatchStatus | undefined
}

/** The webhook body: INFERRED to be the terminal status body. Clients should re-fetch the status anyway. */
export const WebhookPayload = BatchStatusResponse

// ---------------------------------------------------------------------------------------------------------------
// Batch: one line of the gzipped JSONL results file
// ---------------------------------------------------------------------------------------------------------------

/**
 * `business_email` is an array in what was observed (INFERRED, TP-code); a single object is accepted too and
 * read as a one-element array.
 */
const BusinessEmails = Schema.optionalWith(
  Schema.Union(
    Schema.Array(EmailEntry),
    Schema.transform(EmailEntry, Schema.Array(Schema.typeSchema(EmailEntry)), {
      strict: true,
      decode: (entry) => [entry],
      encode: (entries) => entries[0]!
    })
  ),
  { nullable: true, default: () => [] }
)

/** `personal_contact_info`: same shape as the sync contact block (INFERRED field names from TP-code). */
export const PersonalContactInfo = Schema.Struct({
  personal_emails: emptyArray(EmailEntry),
  /** bare strings (CONFIRMED for the sync endpoint) */
  phone_numbers: emptyArray(Schema.String)
})
/** @since 0.1.0 @category Models */
export type PersonalContactInfo = typeof PersonalContactInfo.Type

/** `data` of a record (INFERRED inner shape). Nothing found: empty arrays. */
export const BatchRecordData = Schema.Struct({
  professional_network_url: optionalNullable(Schema.String),
  person_id: optionalNullable(Schema.Number),
  business_email: BusinessEmails,
  personal_contact_info: Schema.optionalWith(PersonalContactInfo, {
    nullable: true,
    default: () => ({ personal_emails: [], phone_numbers: [] })
  })
})
/** @since 0.1.0 @category Models */
export type BatchRecordData = typeof BatchRecordData.Type

/**
 * One record per submitted URL (CONFIRMED): `original_identifier` echoes the submitted string verbatim;
 * `internal_id` is Crustdata's person id, `null` when the profile is unknown (INFERRED).
 */
export const BatchRecord = Schema.Struct({
  original_identifier: Schema.String,
  internal_id: Schema.optionalWith(Schema.NullOr(Schema.Number), { default: () => null }),
  data: Schema.optionalWith(BatchRecordData, {
    nullable: true,
    default: () => ({
      business_email: [],
      personal_contact_info: { personal_emails: [], phone_numbers: [] }
    })
  })
})
/** @since 0.1.0 @category Models */
export type BatchRecord = typeof BatchRecord.Type

/**
 * One line of a results file to a `BatchRecord` (fields Crustdata adds later are ignored). Compiled once and run
 * synchronously: the client decodes a chunk of lines at a time, where an effect per line would cost more than
 * the decoding itself.
 *
 * @since 0.1.0 @category Decoding
 */
export const decodeBatchLine = Schema.decodeUnknownEither(Schema.parseJson(BatchRecord), {
  onExcessProperty: "ignore"
})

// ---------------------------------------------------------------------------------------------------------------
// Sync: POST /person/contact/enrich
// ---------------------------------------------------------------------------------------------------------------

/** Sync `fields` values (CONFIRMED); `contact` is the group name for all three. */
export const SyncField = Schema.Literal(
  "contact.business_emails",
  "contact.personal_emails",
  "contact.phone_numbers",
  "contact"
)
/** @since 0.1.0 @category Models */
export type SyncField = typeof SyncField.Type
/** @since 0.1.0 @category Constants */
export const syncFields: ReadonlyArray<SyncField> = SyncField.literals

/** Exactly one identifier list per request (CONFIRMED); `fields` optional, all three when omitted. */
export const ContactEnrichRequest = Schema.Struct({
  professional_network_profile_urls: Schema.optional(Schema.Array(Schema.String)),
  business_emails: Schema.optional(Schema.Array(Schema.String)),
  fields: Schema.optional(Schema.Array(Schema.String))
})
/** @since 0.1.0 @category Models */
export type ContactEnrichRequest = typeof ContactEnrichRequest.Type

/** The `contact` block of a match (CONFIRMED shape). */
export const ContactBlock = Schema.Struct({
  business_emails: emptyArray(EmailEntry),
  personal_emails: emptyArray(EmailEntry),
  phone_numbers: emptyArray(Schema.String)
})
/** @since 0.1.0 @category Models */
export type ContactBlock = typeof ContactBlock.Type

/** @since 0.1.0 @category Models */
export const ContactMatch = Schema.Struct({
  /** 0–1 */
  confidence_score: Schema.Number,
  person_data: Schema.Struct({
    crustdata_person_id: optionalNullable(Schema.Number),
    contact: Schema.optionalWith(ContactBlock, {
      nullable: true,
      default: () => ({ business_emails: [], personal_emails: [], phone_numbers: [] })
    })
  })
})
/** @since 0.1.0 @category Models */
export type ContactMatch = typeof ContactMatch.Type

/** One entry per submitted identifier, in input order; `matches: []` for a miss (CONFIRMED). */
export const ContactEnrichEntry = Schema.Struct({
  matched_on: Schema.String,
  /** `professional_network_profile_url` | `business_email` (D-enrich); kept as a string for tolerance */
  match_type: Schema.String,
  matches: emptyArray(ContactMatch)
})
/** @since 0.1.0 @category Models */
export type ContactEnrichEntry = typeof ContactEnrichEntry.Type

/** The sync response is a top-level array (CONFIRMED). */
export const ContactEnrichResponse = Schema.Array(ContactEnrichEntry)
/** @since 0.1.0 @category Models */
export type ContactEnrichResponse = typeof ContactEnrichResponse.Type

// ---------------------------------------------------------------------------------------------------------------
// Pricing
// ---------------------------------------------------------------------------------------------------------------

/**
 * Credits per contact value delivered, no base fee (GH-skills; the docs' own table is not confirmed for
 * batch): business email 1, personal email 2, phone 2, at most 5 per profile. Charged per kind of value
 * present (two business emails cost 1): with one value per kind, which is what we observe, "per value" and
 * "per kind" agree, and the cap of 5 is exactly the three kinds together.
 */
export const prices = { businessEmail: 1, personalEmail: 2, phone: 2, maxPerProfile: 5 } as const

/** @since 0.1.0 @category Pricing */
export const priceOf = (delivered: {
  readonly businessEmails: number
  readonly personalEmails: number
  readonly phones: number
}): number =>
  Math.min(
    prices.maxPerProfile,
    (delivered.businessEmails > 0 ? prices.businessEmail : 0) +
      (delivered.personalEmails > 0 ? prices.personalEmail : 0) +
      (delivered.phones > 0 ? prices.phone : 0)
  )
