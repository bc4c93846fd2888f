/**
 * Where a TheHog job is polled: the `pollUrl` of its 202 when there is one, else `GET /api/enrichments/:id` (the
 * poll the "Enrich contacts" guide documents for a job reference).
 */
import type * as TheHogApi from "../../TheHogApi.js"

/** What polling a job needs: its id, and the `pollUrl` TheHog gave for it, if any. */
export interface OperationRef {
  readonly id: string
  readonly pollUrl?: string | undefined
}

const pathOf = (url: string): string | undefined => {
  try {
    const parsed = new URL(url, "http://relative.invalid")
    return parsed.pathname + parsed.search
  } catch {
    return undefined
  }
}

/**
 * The `/api/...` path a `pollUrl` names, relative to our base URL (`undefined` when it names none). A pollUrl may
 * be relative (`/api/operations/op_1`) or absolute (`https://developer.thehog.ai/api/operations/op_1`); of an
 * absolute one only the path is used, so the keys are never sent to another host than the configured one. A base
 * URL with a path (a proxy, the simulator under `/thehog`) is stripped from the front when the pollUrl repeats it.
 */
export const apiPathOf = (baseUrl: string, pollUrl: string | undefined): string | undefined => {
  const trimmed = pollUrl?.trim()
  if (trimmed === undefined || trimmed === "") return undefined
  let path = pathOf(trimmed)
  if (path === undefined) return undefined
  const basePath = pathOf(baseUrl)?.split("?")[0]!.replace(/\/+$/, "") ?? ""
  if (basePath !== "" && path.startsWith(basePath + "/")) path = path.slice(basePath.length)
  const api = path.indexOf("/api/")
  if (api > 0) path = path.slice(api)
  return path.startsWith("/api/") ? path : undefined
}

/** The path to poll: the job's `pollUrl` when it names one, else `GET /api/enrichments/:id`. */
export const pollPath = (baseUrl: string, job: OperationRef): string =>
  apiPathOf(baseUrl, job.pollUrl) ?? `/api/enrichments/${encodeURIComponent(job.id)}`

/** The job a pollUrl names: its last path segment (`/api/operations/op_1` → `op_1`). */
const idOfPollUrl = (pollUrl: string | undefined): string | undefined => {
  const path = apiPathOf("", pollUrl)?.split("?")[0]
  const last = path?.split("/").filter((segment) => segment !== "").pop()
  if (last === undefined || last === "api") return undefined
  try {
    return decodeURIComponent(last)
  } catch {
    return last
  }
}

/**
 * The job a 202 refers to, from whatever it carries: `id`, else `operationId`, else the last segment of its
 * `pollUrl`. `undefined`: nothing to poll.
 */
export const operationOf = (accepted: TheHogApi.Accepted): OperationRef | undefined => {
  const nonEmpty = (s: string | undefined) => s === undefined || s.trim() === "" ? undefined : s.trim()
  const pollUrl = nonEmpty(accepted.pollUrl)
  const id = nonEmpty(accepted.id) ?? nonEmpty(accepted.operationId) ?? idOfPollUrl(pollUrl)
  if (id === undefined) return undefined
  return pollUrl === undefined ? { id } : { id, pollUrl }
}
