/**
 * Crustdata adapted to `ContactProvider`, over `CrustdataClient`: LinkedIn profile URLs in, batch jobs whose
 * results come after the job ends (a gzipped JSONL file, read in pages), the sync endpoint for small lists, and the
 * job list to find a job again after a crash.
 *
 * Crustdata bills per value delivered and reports no charge, on its jobs or its records: every cost here is our
 * figure from its price list, marked `estimated`.
 *
 * The account's active-job cap is the client's (`CrustdataClient.submitJob`): every adapter over one client shares
 * it.
 *
 * @since 0.1.0
 */
import type * as Array from "effect/Array"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Field } from "./Contact.js"
import * as ContactProvider from "./ContactProvider.js"
import { type Capabilities, type EnrichRequest, type Job, JobStatus, type Submission } from "./ContactProvider.js"
import * as CrustdataApi from "./CrustdataApi.js"
import { CrustdataClient } from "./CrustdataClient.js"
import { InvalidRequest } from "./EnrichmentError.js"
import * as Outcomes from "./internal/crustdata/outcomes.js"

const provider = "crustdata"

/** @since 0.1.0 @category Models */
export const capabilities: Capabilities = {
  provider,
  identifierKinds: ["linkedin"],
  fields: ["work_email", "personal_email", "phone"],
  maxBatch: CrustdataApi.maxBatchUrls,
  /** the documented cap; an adapter reports its client's `maxActiveJobs` */
  maxActiveJobs: CrustdataApi.maxActiveJobs,
  sync: { maxBatch: CrustdataApi.maxSyncIdentifiers },
  cost: { billing: "per-value-delivered", maxPerPerson: (fields) => maxPerPerson(fields) },
  resubmitSafety: "job-list"
}

/** Legacy meta (before the Schema): the URLs joined by newlines. Decoded only; encoded as a list. */
const NewlineJoined = Schema.transform(Schema.String, Schema.Array(Schema.String), {
  strict: true,
  decode: (text) => text.split("\n").filter((url) => url !== ""),
  encode: (urls) => urls.join("\n")
})

/**
 * What a job needs after a restart, kept in `JobRef.meta`: the canonical URLs it was submitted with (results
 * report everyone of them once), and Crustdata's status path.
 *
 * @since 0.1.0 @category Models
 */
export const JobMeta = Schema.Struct({
  urls: Schema.Union(Schema.Array(Schema.String), NewlineJoined),
  statusUrl: Schema.optional(Schema.String)
})
/** @since 0.1.0 @category Models */
export type JobMeta = typeof JobMeta.Type

/**
 * `JobMeta` in its stored form, for programs that build a `JobRef` themselves.
 *
 * @since 0.1.0 @category Models
 */
export const encodeMeta: (meta: JobMeta) => typeof JobMeta.Encoded = Schema.encodeSync(JobMeta)

/** Our fields as batch `fields`: personal email and phone together are the `personal_contact_info` group. */
export const batchFieldsOf = (fields: ReadonlyArray<Field>): Array<CrustdataApi.BatchField> => {
  const out: Array<CrustdataApi.BatchField> = []
  if (fields.includes("work_email")) out.push("business_email")
  if (fields.includes("personal_email") && fields.includes("phone")) out.push("personal_contact_info")
  else if (fields.includes("personal_email")) out.push("personal_contact_info.personal_emails")
  else if (fields.includes("phone")) out.push("personal_contact_info.phone_numbers")
  return out
}

/** Our fields as sync `fields`. */
export const syncFieldsOf = (fields: ReadonlyArray<Field>): Array<CrustdataApi.SyncField> => [
  ...(fields.includes("work_email") ? ["contact.business_emails" as const] : []),
  ...(fields.includes("personal_email") ? ["contact.personal_emails" as const] : []),
  ...(fields.includes("phone") ? ["contact.phone_numbers" as const] : [])
]

/** The most one person can cost for these fields (no base fee; capped per profile). */
export const maxPerPerson = (fields: ReadonlyArray<Field>): number =>
  CrustdataApi.priceOf({
    businessEmails: fields.includes("work_email") ? 1 : 0,
    personalEmails: fields.includes("personal_email") ? 1 : 0,
    phones: fields.includes("phone") ? 1 : 0
  })

/** How many pages of 100 jobs `findSubmitted` looks through: a crash is recent, and older jobs are not ours. */
const findPages = 10

/** @since 0.1.0 @category Mapping */
export const toJobStatus = (status: CrustdataApi.BatchStatusResponse): JobStatus =>
  new JobStatus({
    state: status.status === "pending"
      ? "queued"
      : status.status === "completed"
      ? "completed"
      : status.status === "failed"
      ? "failed"
      : "running",
    total: status.identifier_count,
    ...(status.result_count === undefined ? {} : { finished: status.result_count }),
    // billed per value delivered; the status reports no credits: the outcomes' estimated costs are the figure
    charged: 0,
    refunded: 0,
    estimated: true,
    ...(status.error_message === undefined ? {} : { message: status.error_message })
  })

const submission = (
  id: string,
  urls: ReadonlyArray<string>,
  statusUrl: string,
  submittedAt?: DateTime.Utc
): Submission<JobMeta> => ({
  id,
  people: urls.length,
  // billed per value delivered, nothing at submit; no figure from Crustdata either way
  charged: 0,
  estimated: true,
  meta: { urls, statusUrl },
  mode: "batch",
  submittedAt
})

/** @since 0.1.0 @category Constructors */
export const make: Effect.Effect<ContactProvider.ContactProviderService, never, CrustdataClient> = Effect.map(
  CrustdataClient,
  (client) => {
    const submit = (request: EnrichRequest, urls: Array.NonEmptyReadonlyArray<string>) =>
      Effect.map(
        client.submitJob({ professional_network_profile_urls: urls, fields: batchFieldsOf(request.fields) }),
        (response) => submission(response.batch_id, urls, response.status_url)
      )

    const results = (
      job: Job<JobMeta>,
      terminal: CrustdataApi.BatchStatusResponse,
      cursor: string | undefined
    ) =>
      Stream.unwrap(Effect.gen(function*() {
        const skip = cursor === undefined ? 0 : Number(cursor)
        if (!Number.isInteger(skip) || skip < 0) {
          return yield* new InvalidRequest({ provider, message: `not a Crustdata result cursor: ${cursor}` })
        }
        return Outcomes.pages(client.records(job.ref.id, terminal), {
          jobId: job.ref.id,
          urls: job.meta.urls,
          skip,
          pageSize: client.pageSize,
          observedAt: yield* DateTime.now
        })
      }))

    /**
     * The job this exact request already started, from `GET /batch`: recent jobs (most recent first, at most
     * `findPages` pages) of the same size are candidates; each is waited for until terminal, per `Polling`, and
     * its file's `original_identifier`s compared with the URLs `submit` would send (Crustdata echoes them
     * verbatim). A failed candidate cannot be compared (it has no file) and billed nothing, so it is passed over.
     */
    const findSubmitted = (_: EnrichRequest, urls: Array.NonEmptyReadonlyArray<string>) =>
      Effect.gen(function*() {
        const wanted = [...urls].sort()
        const sameUrls = (batchId: string, status: CrustdataApi.BatchStatusResponse) =>
          client.records(batchId, status).pipe(
            Stream.map((record) => record.original_identifier),
            Stream.runCollect,
            Effect.map((chunk) => {
              const got = [...chunk].sort()
              return got.length === wanted.length && got.every((url, i) => url === wanted[i])
            })
          )
        let cursor: string | undefined = undefined
        for (let page = 0; page < findPages; page++) {
          const listed: CrustdataApi.BatchListResponse = yield* client.listBatches({
            limit: 100,
            ...(cursor === undefined ? {} : { cursor })
          })
          for (const summary of listed.batches) {
            if (summary.identifier_count !== urls.length || summary.status === "failed") continue
            const status = yield* client.awaitCompletion(summary.batch_id)
            if (status.status !== "completed" || !(yield* sameUrls(summary.batch_id, status))) continue
            const created = Option.flatMap(Option.fromNullable(summary.created_at), DateTime.make)
            return Option.some(
              submission(summary.batch_id, urls, `/batch/${summary.batch_id}`, Option.getOrUndefined(created))
            )
          }
          if (listed.next_cursor === null) break
          cursor = listed.next_cursor
        }
        return Option.none<Submission<JobMeta>>()
      })

    const enrichSync = (request: EnrichRequest, urls: Array.NonEmptyReadonlyArray<string>) =>
      Effect.gen(function*() {
        const entries = yield* client.enrichContacts({
          professional_network_profile_urls: urls,
          fields: syncFieldsOf(request.fields)
        })
        return Outcomes.syncOutcomes(request.people, entries, yield* DateTime.now)
      })

    return ContactProvider.make({
      capabilities: { ...capabilities, maxActiveJobs: client.maxActiveJobs },
      target: (person) => person.identifier._tag === "LinkedInProfile" ? person.identifier.url : undefined,
      meta: JobMeta,
      submit,
      status: (job) => client.batchStatus(job.ref.id),
      toJobStatus,
      results: { _tag: "afterTerminal", wake: (job) => client.wakeup(job.ref.id), stream: results },
      // Crustdata documents no way to cancel a batch job: `cancel` reports where it stands.
      enrichSync,
      findSubmitted
    })
  }
)

/** @since 0.1.0 @category Layers */
export const layer: Layer.Layer<ContactProvider.ContactProvider, never, CrustdataClient> = Layer.effect(
  ContactProvider.ContactProvider,
  make
)
