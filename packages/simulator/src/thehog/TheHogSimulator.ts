/**
 * A simulator of TheHog's enrichment API (docs generation B), from `shared/providers/thehog.md`:
 *
 * - `POST /api/enrichments` with `X-Access-Key` + `X-Secret-Key`: a single LinkedIn `identifier` asking contact
 *   fields only is answered 200 `{data, meta}`; anything else 202 `{id, operationId, status: "queued", pollUrl,
 *   meta}` (or only some of it: `acceptedFields`). `Idempotency-Key` (per organisation) replays the stored answer
 *   — same status, same body — without a new job or a new charge.
 * - `GET /api/enrichments/:id` and `GET /api/operations/:id`: `{id, status, progress, result, error}`, moving
 *   `queued → processing → succeeded | partial_success | failed` with provider time. `partial_success` (INFERRED)
 *   means the job finished and some items failed (a "no data" miss is a failed item too).
 * - NestJS-style error bodies `{statusCode, error, message, path, requestId, timestamp, errors?}`; `X-Request-Id`
 *   on every answer, mirrored as `meta.requestId` (a replay keeps the stored body, so its `meta.requestId` is the
 *   first request's; the header is always the new request's, and `Idempotent-Replayed: true` is added).
 * - Rate limits per organisation: polls share 30/minute; everything shares a global limit (INFERRED 300/minute,
 *   the real value is not published). No `Retry-After` (none documented).
 * - Credits (INFERRED): per identifier at submission, `contact.email` 1 and `contact.phone` 2, charged per attempt
 *   whether or not anything is found; polls are free; replays charge nothing. Answers report the charge in
 *   `meta.cost` unless `reportCost: false`.
 * - Emails and phones are arrays of strings; only emails the universe calls `valid` are returned ("verified").
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { TheHogApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import { credentials } from "../Credentials.js"
import type { Env } from "../Env.js"
import { submit } from "./enrichments.js"
import { serve } from "./guards.js"
import { poll } from "./operations.js"
import { Sequences, settingsOf, type Sim } from "./sim.js"

/** A key pair and the organisation it belongs to (rate limits and idempotency keys are per organisation). */
export interface Key {
  readonly accessKey: string
  readonly secretKey: string
  readonly org: string
}

export interface Options {
  /** accepted key pairs; default: the pair in `Credentials.ts`, organisation `org_sim` */
  readonly keys?: ReadonlyArray<Key>
  /** provider ms a job stays `queued` (default 1 500) */
  readonly queuedMillis?: number
  /** provider ms a job is `processing`: base plus per identifier (defaults 4 000 and 200) */
  readonly processingMillis?: number
  readonly perItemMillis?: number
  /** poll bucket per organisation and minute (documented 30) */
  readonly pollLimit?: number
  /** global limit per organisation and minute over every authenticated endpoint (INFERRED default 300) */
  readonly globalLimit?: number
  /** `pollUrl` as `http://host/<mount>/api/...` instead of the relative `/api/...` (both are documented) */
  readonly absolutePollUrl?: boolean
  /** which poll path `pollUrl` names (default `operations`, as documented) */
  readonly pollPath?: "operations" | "enrichments"
  /**
   * What the 202 job reference carries. Default: all of it, as Shapes-B shows (`{id, operationId, status, pollUrl,
   * meta}`); the guide calls it only "a job reference" polled at `GET /api/enrichments/:id`, so e.g. `["id"]` or
   * `["id", "operationId", "status"]` (no `pollUrl`, no `meta`) are readings a client must take too.
   */
  readonly acceptedFields?: ReadonlyArray<AcceptedField>
  /**
   * Whether answers report their charge in `meta.cost` (default true; INFERRED from gen A). Without it a client
   * can only estimate what it was charged; the counters still charge as usual.
   */
  readonly reportCost?: boolean
  /** credits per identifier per requested field (defaults: contact.email 1, contact.phone 2, others 0) */
  readonly prices?: Partial<Record<TheHogApi.RequestField, number>>
  /** share of items that fail with a transient upstream error (not a "no data" miss) */
  readonly itemFailureRate?: number
  /**
   * The first `count` submits are answered only after `millis` real ms — after the job is recorded and charged,
   * as when a response is lost on the way back — to prove that a client retry does not pay twice.
   */
  readonly slowSubmit?: { readonly count: number; readonly millis: number }
}

/** The parts of a 202 job reference (see `Options.acceptedFields`). */
export type AcceptedField = "id" | "operationId" | "status" | "pollUrl" | "meta"

/** @since 0.1.0 @category Constructors */
export const make = (env: Env, options: Options = {}): Effect.Effect<HttpRouter.HttpRouter<never, never>> =>
  Effect.sync(() => {
    const sim: Sim = {
      env,
      settings: settingsOf(options, { ...credentials.thehog, org: "org_sim" }),
      faults: () => env.faults.thehog ?? {},
      jobs: new Map(),
      idempotent: new Map(),
      sequences: new Sequences()
    }
    return HttpRouter.empty.pipe(
      HttpRouter.get("/health", HttpServerResponse.json({ status: "ok" }).pipe(Effect.orDie)),
      HttpRouter.post("/api/enrichments", serve(sim, "enrichments", submit(sim))),
      HttpRouter.get("/api/enrichments/:id", serve(sim, "enrichments/:id", poll(sim))),
      HttpRouter.get("/api/operations/:id", serve(sim, "operations/:id", poll(sim)))
    )
  })
