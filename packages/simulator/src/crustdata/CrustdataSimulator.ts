/**
 * A Crustdata simulator (API version 2025-11-01): batch contact enrich with jobs that move
 * pending → processing → completed | failed in provider time, gzipped JSONL results behind expiring
 * S3-style pre-signed links, webhooks, the 5-active-jobs cap, the synchronous contact enrich endpoint,
 * sliding-window rate limits with `x-ratelimit-*` headers, and per-value credit charges.
 * Bodies are built with `CrustdataApi`'s schemas so client and simulator share one contract.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { CrustdataApi, Identifier } from "@enrich/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { Buffer } from "node:buffer"
import { gzipSync } from "node:zlib"
import { credentials } from "../Credentials.js"
import type { Env, Faults } from "../Env.js"
import { hash32 } from "../Random.js"
import type { KnownEmail, TruePerson } from "../Universe.js"

export interface Options {
  /** keys accepted as `Authorization: Bearer <key>` (or the legacy `Token <key>`) */
  readonly apiKeys?: ReadonlyArray<string>
  /** keys of self-serve plans: `403` on the sync contact endpoint (CONFIRMED behaviour) */
  readonly syncDeniedKeys?: ReadonlyArray<string>
  /** where the router is mounted, used to build absolute download URLs (default "/crustdata") */
  readonly basePath?: string
  /** provider ms a job stays `pending` (default 20 s) */
  readonly pendingMillis?: number
  /** provider ms a job is `processing`, plus `perUrlMillis` per URL (defaults 120 s and 100 ms: "2–3 minutes") */
  readonly processingMillis?: number
  readonly perUrlMillis?: number
  /** validity of a download link in provider seconds (default 432000 = 5 days, `X-Amz-Expires`) */
  readonly downloadTtlSeconds?: number
  /** the first N download links issued are already expired (tests the client's refresh) */
  readonly expiredLinks?: number
  /** records per part in `download_urls` (default 100) */
  readonly partSize?: number
  /** active (pending/processing) jobs per key (default 5) */
  readonly maxActiveJobs?: number
  /** requests per minute per key and endpoint, sliding window (sync 15 CONFIRMED; batch INFERRED 30, 120, list 30) */
  readonly limits?: {
    readonly contactEnrich?: number
    readonly batchSubmit?: number
    readonly batchStatus?: number
    readonly batchList?: number
  }
  /** credit balance per simulator; submits and sync calls get `403` insufficient credits once it is spent */
  readonly credits?: number
}

const provider = "crustdata"

interface Settled {
  readonly status: "completed" | "failed"
  readonly completedAt: number
  readonly errorMessage?: string
  readonly file?: Uint8Array
  readonly parts?: ReadonlyArray<Uint8Array>
  readonly resultCount: number
  readonly fulfilled: number
}

interface Job {
  readonly id: string
  /** submission order (1-based), for the list's most-recent-first cursor */
  readonly seq: number
  readonly key: string
  readonly urls: ReadonlyArray<string>
  readonly fields: ReadonlySet<CrustdataApi.BatchField>
  readonly webhookUrl: string | undefined
  /** scheme://host the job was submitted through, for links in webhook bodies */
  readonly origin: string
  readonly submittedAt: number
  readonly processingAt: number
  readonly completesAt: number
  readonly fails: boolean
  settled: Settled | undefined
}

type Json = Record<string, unknown>

const errorBody = (type: string, message: string, metadata?: CrustdataApi.ErrorBody["error"]["metadata"]) =>
  Schema.encodeSync(CrustdataApi.ErrorBody)({
    error: { type, message, ...(metadata === undefined ? {} : { metadata }) }
  })

const errorResponse = (
  status: number,
  type: string,
  message: string,
  options: { metadata?: CrustdataApi.ErrorBody["error"]["metadata"]; headers?: Record<string, string> } = {}
) =>
  HttpServerResponse.unsafeJson(errorBody(type, message, options.metadata), { status, headers: options.headers ?? {} })

/** S3-style XML error, as the pre-signed download host answers. */
const s3Error = (status: number, code: string, message: string) =>
  HttpServerResponse.text(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
    { status, contentType: "application/xml" }
  )

const isoBasic = (millis: number) => new Date(millis).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "")
const fromIsoBasic = (text: string): number | undefined => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  return m === null ? undefined : Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)
}

/** Opaque list cursors: the submission number of the last job on the page, so new jobs do not shift pages. */
const cursorOf = (seq: number) => Buffer.from(`seq:${seq}`).toString("base64url")
const cursorSeq = (cursor: string): number | undefined => {
  const m = /^seq:(\d+)$/.exec(Buffer.from(cursor, "base64url").toString("utf8"))
  return m === null ? undefined : Number(m[1])
}

const emailStatus: Record<KnownEmail["verdict"], CrustdataApi.EmailStatus> = {
  valid: "deliverable",
  risky: "risky",
  unknown: "unknown",
  invalid: "undeliverable"
}

/** Splits the comma-separated string form, or checks an array of strings. */
const stringList = (value: unknown): ReadonlyArray<string> | undefined => {
  if (typeof value === "string") return value.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
  if (Array.isArray(value) && value.every(Predicate.isString)) return value.map((s) => s.trim())
  return undefined
}

export const make = (env: Env, options: Options = {}): Effect.Effect<
  HttpRouter.HttpRouter<never, never>,
  never,
  HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const httpClient = yield* HttpClient.HttpClient
    const faults: Faults = env.faults.crustdata ?? {}
    const apiKeys = new Set(options.apiKeys ?? [credentials.crustdata.apiKey])
    const syncDenied = new Set(options.syncDeniedKeys ?? [])
    const basePath = options.basePath ?? "/crustdata"
    const pendingMillis = options.pendingMillis ?? 20_000
    const processingMillis = options.processingMillis ?? 120_000
    const perUrlMillis = options.perUrlMillis ?? 100
    const ttlSeconds = options.downloadTtlSeconds ?? 432_000
    const partSize = Math.max(1, options.partSize ?? 100)
    const maxActive = options.maxActiveJobs ?? CrustdataApi.maxActiveJobs
    const limits = {
      contactEnrich: options.limits?.contactEnrich ?? 15,
      batchSubmit: options.limits?.batchSubmit ?? 30,
      batchStatus: options.limits?.batchStatus ?? 120,
      batchList: options.limits?.batchList ?? 30
    }
    let credits = options.credits ?? Number.POSITIVE_INFINITY
    let linksIssued = 0
    let jobCount = 0
    const jobs = new Map<string, Job>()

    const charge = (amount: number) => {
      if (amount <= 0) return
      credits -= amount
      env.counters.charge(provider, amount)
    }

    /** A UUID fixed by the seed and the job's number. */
    const uuid = (n: number) => {
      const h = [0, 1, 2, 3].map((i) =>
        hash32(`${env.universe.seed}|crustdata|${n}|${i}`).toString(16).padStart(8, "0")
      )
        .join("")
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
    }

    const personOf = (url: string): TruePerson | undefined =>
      Either.match(Identifier.parseLinkedIn(url), {
        onLeft: () => undefined,
        onRight: (profile) => (profile.path === "in" ? env.universe.bySlugOf(profile.slug) : undefined)
      })

    const canonical = (url: string): string =>
      Either.match(Identifier.parseLinkedIn(url), { onLeft: () => url.trim(), onRight: (profile) => profile.url })

    const entry = (email: KnownEmail): CrustdataApi.EmailEntry => ({
      email: email.address,
      status: emailStatus[email.verdict]
    })
    /** Unknown enum values are written after encoding, since the schema only encodes known ones. */
    const withUnknownStatuses = (json: string) =>
      faults.unknownEnumRate === undefined
        ? json
        : json.replace(
          /("email":"[^"]*","status":")(\w+)"/g,
          (all, head: string) => (env.chance(faults.unknownEnumRate) ? `${head}catch_all"` : all)
        )

    /** What Crustdata knows of one person, restricted to the requested fields. */
    const contactOf = (person: TruePerson | undefined, want: {
      readonly business: boolean
      readonly personal: boolean
      readonly phone: boolean
    }) => {
      const known = person === undefined ? undefined : env.universe.knowledge(provider, person)
      const business = want.business && known?.workEmail !== undefined ? [entry(known.workEmail)] : []
      const personal = want.personal && known?.personalEmail !== undefined ? [entry(known.personalEmail)] : []
      const phones = want.phone && known?.phone !== undefined ? [known.phone] : []
      return { business, personal, phones }
    }

    const batchWants = (fields: ReadonlySet<CrustdataApi.BatchField>) => ({
      business: fields.has("business_email"),
      personal: fields.has("personal_contact_info") || fields.has("personal_contact_info.personal_emails"),
      phone: fields.has("personal_contact_info") || fields.has("personal_contact_info.phone_numbers")
    })

    const gzipLines = (records: ReadonlyArray<CrustdataApi.BatchRecord>) =>
      new Uint8Array(gzipSync(
        records.map((r) => withUnknownStatuses(JSON.stringify(Schema.encodeSync(CrustdataApi.BatchRecord)(r))) + "\n")
          .join("")
      ))

    /** Completes (or fails) a job once provider time has passed its end: builds the file and charges. */
    const settle = (job: Job, now: number): Settled | undefined => {
      if (job.settled !== undefined || now < job.completesAt) return job.settled
      if (job.fails) {
        job.settled = {
          status: "failed",
          completedAt: job.completesAt,
          errorMessage: "Batch processing failed: upstream enrichment error. No contact values were billed.",
          resultCount: 0,
          fulfilled: 0
        }
        return job.settled
      }
      const want = batchWants(job.fields)
      let fulfilled = 0
      const records = job.urls.map((url): CrustdataApi.BatchRecord => {
        const person = personOf(url)
        const { business, personal, phones } = contactOf(person, want)
        const values = business.length + personal.length + phones.length
        if (values > 0) fulfilled++
        charge(CrustdataApi.priceOf({
          businessEmails: business.length,
          personalEmails: personal.length,
          phones: phones.length
        }))
        const id = person === undefined ? null : 1_000_000 + person.index
        return {
          original_identifier: url,
          internal_id: id,
          data: {
            ...(person === undefined ? {} : { professional_network_url: person.linkedinUrl }),
            ...(id === null ? {} : { person_id: id }),
            business_email: business,
            personal_contact_info: { personal_emails: personal, phone_numbers: phones }
          }
        }
      })
      const parts: Array<Uint8Array> = []
      for (let i = 0; i < records.length; i += partSize) parts.push(gzipLines(records.slice(i, i + partSize)))
      job.settled = {
        status: "completed",
        completedAt: job.completesAt,
        file: gzipLines(records),
        parts,
        resultCount: records.length,
        fulfilled
      }
      return job.settled
    }

    const stateOf = (job: Job, now: number): CrustdataApi.BatchStatus => {
      const settled = settle(job, now)
      if (settled !== undefined) return settled.status
      return now < job.processingAt ? "pending" : "processing"
    }

    const activeJobs = (key: string, now: number) =>
      [...jobs.values()].filter((job) => {
        if (job.key !== key) return false
        const state = stateOf(job, now)
        return state === "pending" || state === "processing"
      }).length

    const signature = (id: string, file: string, date: string, expires: number) =>
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
        hash32(`${env.universe.seed}|${id}|${file}|${date}|${expires}|${i}`).toString(16).padStart(8, "0")
      ).join("")

    /** A fresh pre-signed link, valid `ttlSeconds` from now (or already expired for the first `expiredLinks`). */
    const link = (origin: string, id: string, file: string, now: number) => {
      linksIssued++
      const issued = linksIssued <= (options.expiredLinks ?? 0) ? now - (ttlSeconds + 1) * 1000 : now
      const date = isoBasic(issued)
      const query = new URLSearchParams({
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Date": date,
        "X-Amz-Expires": String(ttlSeconds),
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": signature(id, file, date, ttlSeconds)
      })
      return `${origin}${basePath}/downloads/${id}/${file}?${query.toString()}`
    }

    /** The status fields without download links: what `GET /batch` lists (and no link is issued for it). */
    const summaryBody = (job: Job, now: number): CrustdataApi.BatchSummary => {
      const state = stateOf(job, now)
      const settled = job.settled
      const base = {
        batch_id: job.id,
        status: state,
        entity: "person",
        action: "contact_enrich",
        identifier_count: job.urls.length,
        entities_requested: job.urls.length,
        created_at: new Date(job.submittedAt).toISOString()
      }
      if (settled === undefined) return base
      if (settled.status === "failed") {
        return {
          ...base,
          completed_at: new Date(settled.completedAt).toISOString(),
          ...(settled.errorMessage === undefined ? {} : { error_message: settled.errorMessage })
        }
      }
      return {
        ...base,
        result_count: settled.resultCount,
        entities_fulfilled: settled.fulfilled,
        completed_at: new Date(settled.completedAt).toISOString()
      }
    }

    const statusBody = (job: Job, now: number): CrustdataApi.BatchStatusResponse => {
      const summary = summaryBody(job, now)
      const settled = job.settled
      if (settled === undefined || settled.status === "failed") return summary
      return {
        ...summary,
        download_url: link(job.origin, job.id, "results.jsonl.gz", now),
        download_urls: (settled.parts ?? []).map((_, i) => link(job.origin, job.id, `part-${i}.jsonl.gz`, now))
      }
    }

    /** A 200 JSON body, or per the fault knobs one that breaks the contract or is cut short. */
    const okJson = (body: unknown, malformed: () => unknown) => {
      if (env.chance(faults.malformedRate)) return HttpServerResponse.unsafeJson(malformed())
      const text = withUnknownStatuses(JSON.stringify(body))
      if (env.chance(faults.truncatedRate)) {
        return HttpServerResponse.text(text.slice(0, Math.floor(text.length / 2)), { contentType: "application/json" })
      }
      return HttpServerResponse.text(text, { contentType: "application/json" })
    }

    const inWindow = (n: number, range: { readonly from: number; readonly length: number } | undefined) =>
      range !== undefined && n >= range.from && n < range.from + range.length

    const rateHeaders = (limit: number, remaining: number, resetMillis: number) => ({
      "x-ratelimit-limit": String(limit),
      "x-ratelimit-remaining": String(remaining),
      // seconds until the oldest counted request leaves the window, in real seconds so a time-scaled simulator
      // does not make clients oversleep
      "x-ratelimit-reset": String(Math.round(env.realMillis(resetMillis)) / 1000)
    })

    const originOf = (request: HttpServerRequest.HttpServerRequest) => {
      const proto = request.headers["x-forwarded-proto"] ?? "http"
      return `${proto}://${request.headers.host ?? "127.0.0.1"}`
    }

    interface Context {
      readonly key: string
      readonly now: number
      readonly request: HttpServerRequest.HttpServerRequest
    }

    /** Everything an API request goes through: counting, faults, auth, version header, rate window. */
    const api = <R>(
      endpoint: string,
      perMinute: number,
      handle: (context: Context) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
    ) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const name = `${provider}:${endpoint}`
        env.counters.request(name)
        const now = yield* env.now
        const n = env.nextRequestNumber(provider)
        if (inWindow(n, faults.serverErrorBurst) || env.chance(faults.serverErrorRate)) {
          return errorResponse(500, CrustdataApi.ErrorType.api, "Internal server error")
        }
        if (inWindow(n, faults.rateLimitStorm) || env.chance(faults.rateLimitRate)) {
          env.counters.limited(name)
          return errorResponse(429, CrustdataApi.ErrorType.rateLimit, "Rate limit exceeded", {
            headers: rateHeaders(perMinute, 0, 2_000)
          })
        }
        const auth = /^(?:Bearer|Token)\s+(.+)$/i.exec(request.headers.authorization ?? "")
        const key = auth?.[1]?.trim()
        if (key === undefined || !apiKeys.has(key)) {
          return errorResponse(401, CrustdataApi.ErrorType.authentication, "Invalid or missing API key")
        }
        if (request.method === "POST" && request.headers["x-api-version"] !== CrustdataApi.apiVersion) {
          return errorResponse(
            400,
            CrustdataApi.ErrorType.invalidRequest,
            `The x-api-version header is required and must be ${CrustdataApi.apiVersion}`
          )
        }
        const admission = env.window(`${name}:${key}`, perMinute, 60_000).admit(now)
        const headers = rateHeaders(admission.limit, admission.remaining, admission.resetMillis)
        if (!admission.allowed) {
          env.counters.limited(name)
          return errorResponse(429, CrustdataApi.ErrorType.rateLimit, `Rate limit of ${perMinute}/min exceeded`, {
            headers
          })
        }
        const response = yield* handle({ key, now, request })
        return HttpServerResponse.setHeaders(response, headers)
      })

    const jsonBody = (request: HttpServerRequest.HttpServerRequest) =>
      request.json.pipe(
        Effect.map((body): Json | undefined => (Predicate.isRecord(body) ? body : undefined)),
        Effect.orElseSucceed(() => undefined)
      )

    const badRequest = (message: string, metadata?: CrustdataApi.ErrorBody["error"]["metadata"]) =>
      errorResponse(400, CrustdataApi.ErrorType.invalidRequest, message, metadata === undefined ? {} : { metadata })

    const insufficientCredits = () =>
      errorResponse(403, CrustdataApi.ErrorType.permission, "Insufficient credits to run this request")

    const sendWebhook = (job: Job) =>
      Effect.gen(function*() {
        // timers may fire a little early: sleep until provider time has really passed the job's end
        let now = yield* env.now
        while (now < job.completesAt) {
          yield* Effect.sleep(Math.max(1, env.realMillis(job.completesAt - now)))
          now = yield* env.now
        }
        const body = statusBody(job, now)
        env.counters.request(`${provider}:webhook`)
        yield* httpClient.execute(
          HttpClientRequest.post(job.webhookUrl!).pipe(
            HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(CrustdataApi.WebhookPayload)(body))
          )
        ).pipe(Effect.timeout("10 seconds"))
      }).pipe(Effect.ignore)

    const submit = api("batch/submit", limits.batchSubmit, ({ key, now, request }) =>
      Effect.gen(function*() {
        const body = yield* jsonBody(request)
        if (body === undefined) return badRequest("Request body must be a JSON object")
        const urls = stringList(body.professional_network_profile_urls)
        if (body.professional_network_profile_urls === undefined) {
          return badRequest("professional_network_profile_urls is required")
        }
        if (urls === undefined) return badRequest("professional_network_profile_urls must be a list of URLs")
        if (urls.length === 0) return badRequest("No profile URLs provided")
        if (urls.length > CrustdataApi.maxBatchUrls) {
          return badRequest(`At most ${CrustdataApi.maxBatchUrls} profile URLs per batch job, got ${urls.length}`)
        }
        const available = { available_fields: CrustdataApi.batchFields }
        const fields = stringList(body.fields)
        if (fields === undefined || fields.length === 0) return badRequest("fields must not be empty", available)
        const invalid = fields.filter((f) => !(CrustdataApi.batchFields as ReadonlyArray<string>).includes(f))
        if (invalid.length > 0) return badRequest(`Invalid fields: ${invalid.join(", ")}`, available)
        if (body.webhook_url !== undefined && typeof body.webhook_url !== "string") {
          return badRequest("webhook_url must be a string")
        }
        if (credits <= 0) return insufficientCredits()
        const active = activeJobs(key, now)
        if (active >= maxActive) {
          env.counters.limited(`${provider}:batch/submit`)
          return errorResponse(
            429,
            CrustdataApi.ErrorType.rateLimit,
            `Too many active batch jobs: ${active} active, at most ${maxActive} per user`,
            { metadata: { active_jobs: active, limit: maxActive } }
          )
        }
        for (const url of urls) env.counters.submitted(provider, canonical(url))
        const factor = faults.slowJobFactor ?? 1
        const seq = ++jobCount
        const job: Job = {
          id: uuid(seq),
          seq,
          key,
          urls,
          fields: new Set(fields as ReadonlyArray<CrustdataApi.BatchField>),
          webhookUrl: body.webhook_url as string | undefined,
          origin: originOf(request),
          submittedAt: now,
          processingAt: now + pendingMillis * factor,
          completesAt: now + (pendingMillis + processingMillis + perUrlMillis * urls.length) * factor,
          fails: env.chance(faults.failJobRate),
          settled: undefined
        }
        jobs.set(job.id, job)
        if (job.webhookUrl !== undefined) yield* Effect.forkDaemon(sendWebhook(job))
        return HttpServerResponse.unsafeJson(
          Schema.encodeSync(CrustdataApi.BatchSubmitResponse)({
            batch_id: job.id,
            status: "pending",
            entity: "person",
            action: "contact_enrich",
            identifier_count: urls.length,
            entities_requested: urls.length,
            status_url: `/batch/${job.id}`
          })
        )
      }))

    const status = api("batch/status", limits.batchStatus, ({ key, now }) =>
      Effect.gen(function*() {
        const { id } = yield* HttpRouter.params
        const job = id === undefined ? undefined : jobs.get(id)
        if (job === undefined || job.key !== key) {
          return errorResponse(404, CrustdataApi.ErrorType.invalidRequest, `Batch job ${id} not found`)
        }
        const body = statusBody(job, now)
        const encoded = Schema.encodeSync(CrustdataApi.BatchStatusResponse)(body)
        const shown = body.status === "pending" || body.status === "processing"
          ? { ...encoded, status: env.chance(faults.unknownEnumRate) ? "queued" : encoded.status }
          : encoded
        return okJson(shown, () => ({ ...encoded, identifier_count: "many" }))
      }))

    /**
     * `GET /batch`: the key's jobs, most recent first, `limit` per page (default 20, at most 100), an opaque
     * `cursor` from `next_cursor`, optional `status` filter (parameter and body names INFERRED).
     */
    const list = api("batch/list", limits.batchList, ({ key, now, request }) =>
      Effect.gen(function*() {
        const query = new URL(request.url, "http://crustdata.local").searchParams
        const limitText = query.get("limit")
        const limit = limitText === null ? 20 : Number(limitText)
        if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
          return badRequest(`limit must be an integer from 1 to 100, got ${limitText}`)
        }
        const cursorText = query.get("cursor")
        const before = cursorText === null ? Number.POSITIVE_INFINITY : cursorSeq(cursorText)
        if (before === undefined) return badRequest(`Invalid cursor: ${cursorText}`)
        const wanted = query.get("status")
        if (wanted !== null && !(CrustdataApi.BatchStatus.literals as ReadonlyArray<string>).includes(wanted)) {
          return badRequest(`status must be one of ${CrustdataApi.BatchStatus.literals.join(", ")}`)
        }
        const mine = [...jobs.values()]
          .filter((job) => job.key === key && job.seq < before)
          .sort((a, b) => b.seq - a.seq)
          .filter((job) => wanted === null || stateOf(job, now) === wanted)
        const page = mine.slice(0, limit)
        const last = page[page.length - 1]
        const body = Schema.encodeSync(CrustdataApi.BatchListResponse)({
          batches: page.map((job) => summaryBody(job, now)),
          next_cursor: mine.length > limit && last !== undefined ? cursorOf(last.seq) : null
        })
        return okJson(body, () => ({ ...body, batches: "none" }))
      }))

    const download = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const { file, id } = yield* HttpRouter.params
      env.counters.request(`${provider}:download`)
      if (request.headers.authorization !== undefined) {
        // S3 refuses a second auth mechanism on a pre-signed URL
        return s3Error(
          403,
          "InvalidArgument",
          "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string " +
            "parameter or the Authorization header should be specified"
        )
      }
      const query = new URL(request.url, "http://s3.local").searchParams
      const date = query.get("X-Amz-Date") ?? ""
      const expires = Number(query.get("X-Amz-Expires"))
      const issued = fromIsoBasic(date)
      if (
        id === undefined || file === undefined || issued === undefined || !Number.isFinite(expires) ||
        query.get("X-Amz-Signature") !== signature(id, file, date, expires)
      ) {
        return s3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match")
      }
      const now = yield* env.now
      if (now >= issued + expires * 1000) return s3Error(403, "AccessDenied", "Request has expired")
      const settled = jobs.get(id)?.settled
      const part = /^part-(\d+)\.jsonl\.gz$/.exec(file)
      const bytes = file === "results.jsonl.gz"
        ? settled?.file
        : part === null
        ? undefined
        : settled?.parts?.[+part[1]!]
      if (bytes === undefined) return s3Error(404, "NoSuchKey", "The specified key does not exist.")
      const served = env.chance(faults.truncatedRate) ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes
      // gzip bytes served as an opaque object: no Content-Encoding, so clients must gunzip themselves
      return HttpServerResponse.uint8Array(served, { contentType: "application/octet-stream" })
    })

    const contactEnrich = api("person/contact/enrich", limits.contactEnrich, ({ key, request }) =>
      Effect.gen(function*() {
        if (syncDenied.has(key)) {
          return errorResponse(
            403,
            CrustdataApi.ErrorType.permission,
            "Contact enrichment is not enabled for this plan"
          )
        }
        const body = yield* jsonBody(request)
        if (body === undefined) return badRequest("Request body must be a JSON object")
        const byUrl = body.professional_network_profile_urls
        const byEmail = body.business_emails
        if ((byUrl === undefined) === (byEmail === undefined)) {
          return badRequest(
            "Exactly one identifier type must be provided: professional_network_profile_urls or business_emails"
          )
        }
        const ids = stringList(byUrl ?? byEmail)
        if (ids === undefined || ids.length === 0) return badRequest("No identifiers provided")
        if (ids.length > CrustdataApi.maxSyncIdentifiers) {
          return badRequest(`At most ${CrustdataApi.maxSyncIdentifiers} identifiers per request, got ${ids.length}`)
        }
        const available = { available_fields: CrustdataApi.syncFields }
        const fields = body.fields === undefined ? ["contact"] : stringList(body.fields)
        if (fields === undefined || fields.length === 0) return badRequest("fields must not be empty", available)
        const invalid = fields.filter((f) => !(CrustdataApi.syncFields as ReadonlyArray<string>).includes(f))
        if (invalid.length > 0) {
          return badRequest(`Only contact fields can be enriched: ${invalid.join(", ")}`, available)
        }
        if (credits <= 0) {
          return insufficientCredits()
        }
        const all = fields.includes("contact")
        const want = {
          business: all || fields.includes("contact.business_emails"),
          personal: all || fields.includes("contact.personal_emails"),
          phone: all || fields.includes("contact.phone_numbers")
        }
        const entries = ids.map((id): CrustdataApi.ContactEnrichEntry => {
          env.counters.submitted(provider, byUrl !== undefined ? canonical(id) : id.toLowerCase())
          const person = byUrl !== undefined ? personOf(id) : env.universe.byEmailOf(id)
          const { business, personal, phones } = contactOf(person, want)
          charge(CrustdataApi.priceOf({
            businessEmails: business.length,
            personalEmails: personal.length,
            phones: phones.length
          }))
          const found = person !== undefined && business.length + personal.length + phones.length > 0
          return {
            matched_on: id,
            match_type: byUrl !== undefined ? "professional_network_profile_url" : "business_email",
            matches: found
              ? [{
                confidence_score: 1,
                person_data: {
                  crustdata_person_id: 1_000_000 + person.index,
                  contact: { business_emails: business, personal_emails: personal, phone_numbers: phones }
                }
              }]
              : []
          }
        })
        const encoded = Schema.encodeSync(CrustdataApi.ContactEnrichResponse)(entries)
        return okJson(encoded, () => encoded.map((e) => ({ ...e, matches: "none" })))
      }))

    return HttpRouter.empty.pipe(
      HttpRouter.post("/batch/person/contact/enrich", submit),
      HttpRouter.get("/batch", list),
      HttpRouter.get("/batch/:id", status),
      HttpRouter.post("/person/contact/enrich", contactEnrich),
      HttpRouter.get("/downloads/:id/:file", download)
    )
  })
