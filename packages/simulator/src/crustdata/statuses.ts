/**
 * A job's status as Crustdata shows it: the summary `GET /batch` lists (no links issued), and the full status of
 * `GET /batch/:id` and webhooks, which adds fresh download links once the job has completed.
 */
import type { CrustdataApi } from "@enrich/core/wire"
import type { Job } from "./jobs.js"
import type { Sim } from "./sim.js"

/** The status fields without download links: what `GET /batch` lists (and no link is issued for it). */
export const summaryBody = ({ jobs }: Sim, job: Job, now: number): CrustdataApi.BatchSummary => {
  const state = jobs.stateOf(job, now)
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

export const statusBody = (sim: Sim, job: Job, now: number): CrustdataApi.BatchStatusResponse => {
  const summary = summaryBody(sim, job, now)
  const settled = job.settled
  if (settled === undefined || settled.status === "failed") return summary
  return {
    ...summary,
    download_url: sim.links.link(job.origin, job.id, "results.jsonl.gz", now),
    download_urls: (settled.parts ?? []).map((_, i) => sim.links.link(job.origin, job.id, `part-${i}.jsonl.gz`, now))
  }
}
