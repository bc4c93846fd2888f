/**
 * Jobs as operations in provider time: `queued`, then `processing` with a progress, then `failed`, or
 * `succeeded` | `partial_success` (some item failed); and the poll endpoints that show them.
 */
import { TheHogApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Call } from "./guards.js"
import { errorReply, type Reply } from "./replies.js"
import type { Sim } from "./sim.js"

export interface Job {
  readonly id: string
  readonly org: string
  readonly submittedAt: number
  readonly queuedMillis: number
  readonly processingMillis: number
  readonly fails: boolean
  readonly items: ReadonlyArray<TheHogApi.ResultItem>
}

const operationAt = (job: Job, now: number): TheHogApi.Operation => {
  const started = job.submittedAt + job.queuedMillis
  const doneAt = started + job.processingMillis
  if (now < started) {
    return { id: job.id, status: "queued", progress: 0, result: null, error: null }
  }
  if (now < doneAt) {
    const progress = Math.min(99, Math.floor(((now - started) / job.processingMillis) * 100))
    return { id: job.id, status: "processing", progress, result: null, error: null }
  }
  if (job.fails) {
    return {
      id: job.id,
      status: "failed",
      progress: 100,
      result: null,
      error: { message: "Enrichment failed: upstream providers unavailable", code: "ENRICHMENT_FAILED" }
    }
  }
  const partial = job.items.some((item) => item.status === "failed")
  return {
    id: job.id,
    status: partial ? "partial_success" : "succeeded",
    progress: 100,
    result: { items: job.items },
    error: null
  }
}

// Unknown enum values cannot be written through the schema (it only knows the documented ones).
const encodeOperation = (operation: TheHogApi.Operation, unknownEnum: boolean): unknown => {
  const body = Schema.encodeSync(TheHogApi.Operation)(operation) as Record<string, unknown>
  if (!unknownEnum) return body
  const status = operation.result === null || operation.result === undefined ? "waiting_on_upstream" : "done"
  const result = body.result as { items: Array<Record<string, unknown>> } | null
  const items = result?.items.map((item) => item.status === "success" ? { ...item, status: "verified" } : item)
  return { ...body, status, result: result === null ? null : { items } }
}

/** `GET /api/enrichments/:id` and `GET /api/operations/:id`: the organisation's job, within the poll bucket. */
export const poll = (sim: Sim) => (call: Call): Effect.Effect<Reply> =>
  Effect.sync(() => {
    const { env, faults, jobs, settings } = sim
    const { now, org, params, path, requestId } = call
    if (!env.window(`thehog:poll:${org}`, settings.pollLimit, 60_000).admit(now).allowed) {
      return errorReply(429, TheHogApi.messages.rateLimited, path, requestId, now)
    }
    const id = params.id ?? ""
    const job = jobs.get(id)
    if (job === undefined || job.org !== org) {
      return errorReply(404, `Operation ${id} not found`, path, requestId, now)
    }
    const operation = operationAt(job, now)
    // a failed job keeps its documented status: an unknown one would read as "still running" forever
    const unknownEnum = operation.status !== "failed" && env.chance(faults().unknownEnumRate)
    return { status: 200, body: encodeOperation(operation, unknownEnum) }
  })
