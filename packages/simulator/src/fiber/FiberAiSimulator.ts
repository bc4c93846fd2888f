/**
 * A simulator of Fiber AI's contact-details API, from `shared/providers/fiber.md` and the seeds. Bodies are
 * built with the `FiberAiApi` schemas of `@enrich/core`, so the simulator and the client cannot drift apart.
 *
 * - Auth: `apiKey` in the JSON body; missing or unknown → 401 `{message}`. Rate limits per endpoint and key in
 *   provider time (start 30/min, poll 240/min, cancel 60/min, exhaustive start 60/min, exhaustive poll 240/min,
 *   single 200/min) → 429 `{message}`, no rate-limit headers (Fiber documents none).
 * - Every 200 is `{output, chargeInfo, advice: []}`, plus `warnings` naming request keys the endpoint does not
 *   know (they are ignored, not refused).
 * - Batch start: 1..2000 people whose URLs match the published pattern, else 400; duplicates (same profile
 *   slug, case-insensitive for `/in/`) are skipped, counted (`numDuplicatesSkipped`, poll `numDuplicates`) and
 *   not charged; the unique people are charged upfront (`charged-now`); 402 with `outOfCreditsAlert` when the
 *   key's balance (`credits`) is short.
 * - Rows finish with provider time (computed from the submit time on each request; no background fibers):
 *   unhealable URLs (slug starting with `unresolvable-`, or a `rejectShare` of the rest) after `healMillis`
 *   with `outputs` absent (`numRejected`); then each person after `firstResultMillis + i × perPersonMillis`
 *   (plus a little deterministic jitter): `outputs` with the requested values Fiber knows (`numCompleted`), or
 *   `outputs: null` when Fiber knows nothing asked of them or nobody has that profile (`numFailed`).
 * - Paging (INFERRED, documented in `FiberAiApi`): the cursor is base64 `<taskId>:<offset>` into the finished
 *   rows in finish order; a page returning rows returns the position after them, an empty page echoes the
 *   position (or `null`).
 * - Refunds (INFERRED): per person as rows finish — the full price for a rejected or failed row, the price of
 *   the undelivered fields for a partial reveal — and the full price of people a cancel or a task failure left
 *   unprocessed. Polls report the task's cumulative refund (`credits-refunded`, or `free` while it is 0).
 * - `charges` answers in the other documented `chargeInfo` shapes instead (Fiber does not say which it sends):
 *   billing on completion (start `charging-later`, the poll that first sees the task done
 *   `charged-for-async-process` with the price of the data delivered), and refunds reported once each, by the
 *   poll that pays them out (later polls `free`).
 * - Cancel: people not finished are never processed (they stay in `numRemaining`), refunded; polls then say
 *   `done, canceled`. Cancelling a finished task answers `cancelledCount: 0` and changes nothing.
 * - Exhaustive: `started → live-enriching → grabbing-contact-info → completed | failed` over `exhaustiveMillis`;
 *   risky and invalid emails go to `lowQualityEmails`; billed when done (`charged-for-async-process`) for the
 *   fields delivered in `emails`/`phoneNumbers` only (INFERRED: low-quality emails are not billed).
 * - `/single`: synchronous, accepts a URL or a bare slug, bills the delivered fields (`charged-now`);
 *   `validateEmails: false` returns emails without `status`.
 *
 * The parts, one concept each: `routes` (the request pipeline and the router), `faults` (injected 5xx/429 and
 * spoiled bodies), `guards` (body, key, rate limits, schema, warnings), `batch` / `exhaustive` / `single` (the
 * handlers), `tasks` (task state and progression in provider time), `pages` (cursor paging), `charges` (balances,
 * charges, refunds, `chargeInfo`), `knowledge` (what Fiber knows of a person), `profiles` (URL and slug parsing),
 * `replies` (the `Call`/`Reply` of a handler), `state` (settings and what the parts share).
 */
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type { FiberAiApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import type { Env } from "../Env.js"
import { makeCredits } from "./charges.js"
import { router } from "./routes.js"
import { settingsOf } from "./state.js"
import { makeTasks } from "./tasks.js"

type Endpoint = FiberAiApi.Endpoint

/** @since 0.1.0 @category Models */
export interface Options {
  /** accepted API keys, each its own organisation (default: the key in `Credentials.ts`) */
  readonly apiKeys?: ReadonlyArray<string>
  /** starting credit balance of every key (default 1 000 000 000) */
  readonly credits?: number
  /** `lowCreditAlert` is attached to `chargeInfo` while a balance is below this (default 100) */
  readonly lowCreditThreshold?: number
  /** provider ms until an unhealable URL's row appears (default 1 000) */
  readonly healMillis?: number
  /** provider ms until the first person finishes (default 5 000) */
  readonly firstResultMillis?: number
  /** provider ms between people finishing (default 250) */
  readonly perPersonMillis?: number
  /** share of URLs that fail healing, besides slugs starting with `unresolvable-` (default 0) */
  readonly rejectShare?: number
  /** provider ms an exhaustive reveal takes (default 60 000) */
  readonly exhaustiveMillis?: number
  /** share of the fields Fiber's batch data lacks that an exhaustive reveal still finds (default 0.5) */
  readonly exhaustiveExtraShare?: number
  /** requests per minute per endpoint, overriding the documented ones */
  readonly limits?: Partial<Record<Endpoint, number>>
  /** which documented `chargeInfo` shapes batch tasks answer with (default: upfront, each amount reported once) */
  readonly charges?: ChargeShapes
}

/**
 * The documented `chargeInfo` shapes a batch task can answer with; which Fiber sends is not documented.
 *
 * @since 0.1.0 @category Models
 */
export interface ChargeShapes {
  /**
   * `upfront` (default): the start charges every unique person (`charged-now`) and undelivered data is refunded
   * as rows finish. `on-completion`: the start says `charging-later` and charges nothing; the poll that first sees
   * the task done charges the price of the data delivered (`charged-for-async-process`); nothing is refunded.
   */
  readonly billing?: "upfront" | "on-completion"
  /**
   * `once` (default, as the docs read: every answer's `chargeInfo` is that operation's own): each amount is reported
   * by the answer that pays it out; later polls say `free`. `running-total`: every poll repeats the task's figure so
   * far (its refunds, or once done its completion charge) — a reading of the docs the client does not follow, kept
   * to show the difference in the simulator's own tests.
   */
  readonly reports?: "running-total" | "once"
}

/** @since 0.1.0 @category Constructors */
export const make = (env: Env, options: Options = {}): Effect.Effect<HttpRouter.HttpRouter<never, never>> =>
  Effect.sync(() => {
    const settings = settingsOf(options)
    return router({ env, settings, credits: makeCredits(env, settings), tasks: makeTasks(env.universe.seed) })
  })
