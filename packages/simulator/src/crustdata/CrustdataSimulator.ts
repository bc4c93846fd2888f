/**
 * A Crustdata simulator (API version 2025-11-01): batch contact enrich with jobs that move
 * pending → processing → completed | failed in provider time, gzipped JSONL results behind expiring
 * S3-style pre-signed links, webhooks, the 5-active-jobs cap, the synchronous contact enrich endpoint,
 * sliding-window rate limits with `x-ratelimit-*` headers, and per-value credit charges.
 * Bodies are built with `CrustdataApi`'s schemas so client and simulator share one contract.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Effect from "effect/Effect"
import { credentials } from "../Credentials.js"
import type { Env } from "../Env.js"
import { list, status, submit } from "./batch.js"
import { contactEnrich } from "./contactEnrich.js"
import { download, Links } from "./downloads.js"
import { Jobs } from "./jobs.js"
import { type Base, Credits, settingsOf, type Sim } from "./sim.js"

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

/** The simulator's routes, over fresh state: no jobs, no links issued, the full credit balance. */
export const make = (env: Env, options: Options = {}): Effect.Effect<
  HttpRouter.HttpRouter<never, never>,
  never,
  HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const httpClient = yield* HttpClient.HttpClient
    const base: Base = {
      env,
      faults: env.faults.crustdata ?? {},
      settings: settingsOf(options, credentials.crustdata.apiKey),
      credits: new Credits(env, options.credits)
    }
    const sim: Sim = { ...base, jobs: new Jobs(base), links: new Links(base), httpClient }
    return HttpRouter.empty.pipe(
      HttpRouter.post("/batch/person/contact/enrich", submit(sim)),
      HttpRouter.get("/batch", list(sim)),
      HttpRouter.get("/batch/:id", status(sim)),
      HttpRouter.post("/person/contact/enrich", contactEnrich(sim)),
      HttpRouter.get("/downloads/:id/:file", download(sim))
    )
  })
