/**
 * The batch endpoints: `POST /batch/person/contact/enrich` (validation, credits, the active-jobs cap, a new job
 * and its webhook), `GET /batch/:id` (a job's status), and `GET /batch` (the key's jobs, cursor-paged).
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { CrustdataApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Buffer } from "node:buffer"
import { canonical } from "./contacts.js"
import { api } from "./guards.js"
import { jsonBody, stringList } from "./input.js"
import { badRequest, errorResponse, insufficientCredits, okJson } from "./replies.js"
import { provider, type Sim } from "./sim.js"
import { statusBody, summaryBody } from "./statuses.js"
import { sendWebhook } from "./webhooks.js"

/** Opaque list cursors: the submission number of the last job on the page, so new jobs do not shift pages. */
const cursorOf = (seq: number) => Buffer.from(`seq:${seq}`).toString("base64url")
const cursorSeq = (cursor: string): number | undefined => {
  const m = /^seq:(\d+)$/.exec(Buffer.from(cursor, "base64url").toString("utf8"))
  return m === null ? undefined : Number(m[1])
}

const originOf = (request: HttpServerRequest.HttpServerRequest) => {
  const proto = request.headers["x-forwarded-proto"] ?? "http"
  return `${proto}://${request.headers.host ?? "127.0.0.1"}`
}

interface Submitted {
  readonly urls: ReadonlyArray<string>
  readonly fields: ReadonlyArray<string>
  readonly webhookUrl: string | undefined
}

/** A submit body's URLs, fields and webhook, or the 400 that refuses it. */
const validateSubmit = (
  body: Record<string, unknown> | undefined
): Submitted | HttpServerResponse.HttpServerResponse => {
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
  return { urls, fields, webhookUrl: body.webhook_url as string | undefined }
}

export const submit = (sim: Sim) =>
  api(sim, "batch/submit", sim.settings.limits.batchSubmit, ({ key, now, request }) =>
    Effect.gen(function*() {
      const { credits, env, jobs, settings } = sim
      const submitted = validateSubmit(yield* jsonBody(request))
      if (HttpServerResponse.isServerResponse(submitted)) return submitted
      const { urls } = submitted
      if (credits.exhausted) return insufficientCredits()
      const active = jobs.active(key, now)
      if (active >= settings.maxActive) {
        env.counters.limited(`${provider}:batch/submit`)
        return errorResponse(
          429,
          CrustdataApi.ErrorType.rateLimit,
          `Too many active batch jobs: ${active} active, at most ${settings.maxActive} per user`,
          { metadata: { active_jobs: active, limit: settings.maxActive } }
        )
      }
      for (const url of urls) env.counters.submitted(provider, canonical(url))
      const job = jobs.submit({ ...submitted, key, origin: originOf(request), now })
      if (job.webhookUrl !== undefined) yield* Effect.forkDaemon(sendWebhook(sim, job))
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

export const status = (sim: Sim) =>
  api(sim, "batch/status", sim.settings.limits.batchStatus, ({ key, now }) =>
    Effect.gen(function*() {
      const { env, faults, jobs } = sim
      const { id } = yield* HttpRouter.params
      const job = id === undefined ? undefined : jobs.get(id)
      if (job === undefined || job.key !== key) {
        return errorResponse(404, CrustdataApi.ErrorType.invalidRequest, `Batch job ${id} not found`)
      }
      const body = statusBody(sim, job, now)
      const encoded = Schema.encodeSync(CrustdataApi.BatchStatusResponse)(body)
      const shown = body.status === "pending" || body.status === "processing"
        ? { ...encoded, status: env.chance(faults.unknownEnumRate) ? "queued" : encoded.status }
        : encoded
      return okJson(sim, shown, () => ({ ...encoded, identifier_count: "many" }))
    }))

/**
 * `GET /batch`: the key's jobs, most recent first, `limit` per page (default 20, at most 100), an opaque
 * `cursor` from `next_cursor`, optional `status` filter (parameter and body names INFERRED).
 */
export const list = (sim: Sim) =>
  api(sim, "batch/list", sim.settings.limits.batchList, ({ key, now, request }) =>
    Effect.sync(() => {
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
      const mine = sim.jobs.listed(key, before, wanted, now)
      const page = mine.slice(0, limit)
      const last = page[page.length - 1]
      const body = Schema.encodeSync(CrustdataApi.BatchListResponse)({
        batches: page.map((job) => summaryBody(sim, job, now)),
        next_cursor: mine.length > limit && last !== undefined ? cursorOf(last.seq) : null
      })
      return okJson(sim, body, () => ({ ...body, batches: "none" }))
    }))
