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
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { type Contact, FiberAiApi } from "@enrich/core"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { credentials } from "../Credentials.js"
import type { Env, Faults } from "../Env.js"
import { unit } from "../Random.js"
import type { TruePerson } from "../Universe.js"
import { decodeCursor, encodeCursor } from "./pages.js"
import { profileOfSingle, profileOfUrl, type ProfileRef } from "./profiles.js"

type Field = Contact.Field
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
  /** which documented `chargeInfo` shapes batch tasks answer with (default: upfront, running totals) */
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
   * `running-total` (default): every poll repeats the task's figure so far (its refunds, or once done its
   * completion charge). `once`: each amount is reported by the answer that pays it out; later polls say `free`.
   */
  readonly reports?: "running-total" | "once"
}

interface Reply {
  readonly status: number
  readonly body: unknown
}

interface Call<A> {
  readonly body: A
  readonly apiKey: string
  readonly now: number
  readonly warnings: ReadonlyArray<FiberAiApi.Warning>
}

interface Row {
  readonly input: string
  readonly key: string
  readonly finishAt: number
  readonly index: number
  /** absent: rejected by healing; null: looked up, nothing found */
  readonly outputs: FiberAiApi.Outputs | null | undefined
  readonly price: number
  /** refunded when the row finishes */
  readonly refund: number
}

interface BatchTask {
  readonly id: string
  readonly apiKey: string
  readonly submittedAt: number
  /** in finish order */
  readonly rows: ReadonlyArray<Row>
  readonly duplicates: number
  readonly failAt: number | undefined
  canceledAt: number | undefined
  /** refunds already paid out (cumulative) */
  refunded: number
  /** billed on completion: what the task was charged once done (undefined before) */
  chargedOnCompletion: number | undefined
}

interface ExhaustiveTask {
  readonly id: string
  readonly apiKey: string
  readonly submittedAt: number
  readonly durationMillis: number
  /** the finished profile, or an error message */
  readonly result: { readonly profile: FiberAiApi.Profile; readonly price: number } | { readonly error: string }
  charged: boolean
}

/** Request keys the endpoint does not know, as Fiber's `warnings` (top level and inside the type flags). */
const extraneous = (
  raw: Record<string, unknown>,
  known: ReadonlyArray<string>,
  nested: string | undefined
): ReadonlyArray<FiberAiApi.Warning> => {
  const warnings: Array<FiberAiApi.Warning> = []
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) warnings.push({ field: key, message: `Unrecognized field '${key}' was ignored` })
  }
  const flags = nested === undefined ? undefined : raw[nested]
  if (Predicate.isRecord(flags)) {
    for (const key of Object.keys(flags)) {
      if (!Object.keys(FiberAiApi.EnrichmentTypes.fields).includes(key)) {
        warnings.push({ field: `${nested}.${key}`, message: `Unrecognized field '${nested}.${key}' was ignored` })
      }
    }
  }
  return warnings
}

const issueOf = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return "Invalid request body"
  const path = issue.path.length === 0 ? "body" : issue.path.join(".")
  return `Invalid request: ${path}: ${issue.message}`.slice(0, 400)
}

/** A 2xx body whose `output`'s first field has the wrong type (what `malformedRate` sends). */
const corrupt = (body: unknown): unknown => {
  if (!Predicate.isRecord(body) || !Predicate.isRecord(body.output)) return { output: 42 }
  const output = body.output
  const [first] = Object.keys(output)
  if (first === undefined) return { ...body, output: 42 }
  return { ...body, output: { ...output, [first]: Predicate.isString(output[first]) ? 12345 : "corrupt" } }
}

/** Enum values the contract does not list (what `unknownEnumRate` sends); a `failed` status is kept. */
const withUnknownEnums = (body: unknown): unknown =>
  JSON.parse(JSON.stringify(body), (key, value: unknown) => {
    if (Predicate.isRecord(value) && Predicate.isString(value.email)) {
      return { ...value, type: "corporate", ...(value.status === undefined ? {} : { status: "catch_all" }) }
    }
    if (Predicate.isRecord(value) && Predicate.isString(value.number)) return { ...value, type: "landline" }
    if (key === "profile" && Predicate.isRecord(value) && value.status !== "failed") {
      return { ...value, status: "vendor-fanout" }
    }
    return value
  })

/** @since 0.1.0 @category Constructors */
export const make = (env: Env, options: Options = {}): Effect.Effect<HttpRouter.HttpRouter<never, never>> =>
  Effect.sync(() => {
    const apiKeys = options.apiKeys ?? [credentials.fiber.apiKey]
    const startingCredits = options.credits ?? 1_000_000_000
    const lowCreditThreshold = options.lowCreditThreshold ?? 100
    const healMillis = options.healMillis ?? 1_000
    const firstResultMillis = options.firstResultMillis ?? 5_000
    const perPersonMillis = options.perPersonMillis ?? 250
    const rejectShare = options.rejectShare ?? 0
    const exhaustiveMillis = options.exhaustiveMillis ?? 60_000
    const extraShare = options.exhaustiveExtraShare ?? 0.5
    const onCompletion = options.charges?.billing === "on-completion"
    const reportOnce = options.charges?.reports === "once"
    const limits = { ...FiberAiApi.requestsPerMinute, ...options.limits }
    const faults = (): Faults => env.faults.fiber ?? {}
    const seed = env.universe.seed

    const balances = new Map<string, number>()
    const batches = new Map<string, BatchTask>()
    const exhaustives = new Map<string, ExhaustiveTask>()
    let taskCounter = 0

    const nextTaskId = (prefix: string) => {
      taskCounter += 1
      const tag = Math.floor(unit(seed, "fiber-task", taskCounter) * 0xffffff).toString(16).padStart(6, "0")
      return `${prefix}_${taskCounter.toString(36).padStart(6, "0")}${tag}`
    }

    const balanceOf = (apiKey: string) => balances.get(apiKey) ?? startingCredits

    const alert = (apiKey: string): { readonly lowCreditAlert?: FiberAiApi.CreditAlert } => {
      const available = balanceOf(apiKey)
      return available >= lowCreditThreshold
        ? {}
        : {
          lowCreditAlert: {
            getMoreCreditsUrl: "https://fiber.ai/app/billing",
            message: `You have ${available} credits left in this billing period.`,
            availableCredits: available
          }
        }
    }

    const charge = (apiKey: string, credits: number) => {
      if (credits <= 0) return
      balances.set(apiKey, balanceOf(apiKey) - credits)
      env.counters.charge("fiber", credits)
    }

    const refund = (apiKey: string, credits: number) => {
      if (credits <= 0) return
      balances.set(apiKey, balanceOf(apiKey) + credits)
      env.counters.refund("fiber", credits)
    }

    const error = (status: number, message: string, extra: Record<string, unknown> = {}): Reply => ({
      status,
      body: Schema.encodeSync(FiberAiApi.ErrorBody)({ message, ...extra })
    })

    const outOfCredits = (apiKey: string, needed: number): Reply => {
      const available = balanceOf(apiKey)
      return error(402, `Not enough credits: this request needs ${needed} credits and ${available} are available.`, {
        outOfCreditsAlert: {
          getMoreCreditsUrl: "https://fiber.ai/app/billing",
          message: "You are out of credits. Top up or restart your billing cycle to continue.",
          availableCredits: available
        }
      })
    }

    const ok = <A, I>(
      schema: Schema.Schema<A, I>,
      value: A,
      warnings: ReadonlyArray<FiberAiApi.Warning>
    ): Reply => ({
      status: 200,
      body: Schema.encodeSync(schema)(
        (warnings.length === 0 ? value : { ...value, warnings }) as A
      )
    })

    // ---- what Fiber knows ----------------------------------------------------------------------------------

    const emailItem = (
      address: string,
      type: "work" | "personal",
      verdict: FiberAiApi.EmailStatus,
      withStatus: boolean
    ): FiberAiApi.EmailItem =>
      // Fiber omits `status` when it has no verdict; the client reads an absent status as "unknown"
      withStatus && verdict !== "unknown" ? { email: address, type, status: verdict } : { email: address, type }

    /** The batch/single reveal of one person: the values Fiber knows among `fields`, and the fields delivered. */
    const reveal = (person: TruePerson | undefined, fields: ReadonlyArray<Field>, withStatus: boolean) => {
      if (person === undefined) return { outputs: null, delivered: [] as ReadonlyArray<Field> }
      const known = env.universe.knowledge("fiber", person)
      const emails: Array<FiberAiApi.EmailItem> = []
      const delivered: Array<Field> = []
      if (fields.includes("work_email") && known.workEmail !== undefined) {
        emails.push(emailItem(known.workEmail.address, "work", known.workEmail.verdict, withStatus))
        delivered.push("work_email")
      }
      if (fields.includes("personal_email") && known.personalEmail !== undefined) {
        emails.push(emailItem(known.personalEmail.address, "personal", known.personalEmail.verdict, withStatus))
        delivered.push("personal_email")
      }
      const phoneNumbers: Array<FiberAiApi.PhoneItem> = []
      if (fields.includes("phone") && known.phone !== undefined) {
        phoneNumbers.push({ number: known.phone, type: person.phoneKind })
        delivered.push("phone")
      }
      if (delivered.length === 0) return { outputs: null, delivered }
      return { outputs: { emails, phoneNumbers, exhaustive: false }, delivered }
    }

    const personOf = (profile: ProfileRef): TruePerson | undefined =>
      profile.path === "in" ? env.universe.bySlugOf(profile.slug) : undefined

    const unhealable = (profile: ProfileRef) =>
      profile.slug.startsWith("unresolvable-") || unit(seed, "fiber-heal", profile.key) < rejectShare

    // ---- batch tasks ---------------------------------------------------------------------------------------

    interface View {
      readonly finished: number
      readonly done: boolean
      readonly failed: boolean
      readonly canceled: boolean
      readonly stats: FiberAiApi.OverallStats
      /** refunds due so far (cumulative) */
      readonly refundDue: number
      /** the price of the data delivered by the rows finished so far */
      readonly deliveredCost: number
    }

    const viewOf = (task: BatchTask, now: number): View => {
      const failed = task.failAt !== undefined && task.failAt <= now && task.canceledAt === undefined
      const stop = Math.min(now, task.canceledAt ?? Infinity, failed ? task.failAt! : Infinity)
      let finished = 0
      let completed = 0
      let rejected = 0
      let refundDue = 0
      let deliveredCost = 0
      while (finished < task.rows.length && task.rows[finished]!.finishAt <= stop) {
        const row = task.rows[finished]!
        if (row.outputs === undefined) rejected++
        else if (row.outputs !== null) completed++
        refundDue += row.refund
        deliveredCost += row.price - row.refund
        finished++
      }
      const canceled = task.canceledAt !== undefined
      const done = failed || canceled || finished === task.rows.length
      if (done) { for (const row of task.rows.slice(finished)) refundDue += row.price }
      return {
        finished,
        done,
        failed,
        canceled,
        refundDue,
        deliveredCost,
        stats: {
          totalPeopleToFetch: task.rows.length,
          numCompleted: completed,
          numFailed: finished - completed - rejected,
          numRemaining: task.rows.length - finished,
          numRejected: rejected,
          numDuplicates: task.duplicates
        }
      }
    }

    /**
     * Pays out refunds that have become due since the last request touching this task (billed upfront), or the
     * completion charge (billed on completion); returns what it paid out and charged now (`charged`: undefined
     * when no charge was made, 0 when the task delivered nothing).
     */
    const settle = (
      task: BatchTask,
      view: View
    ): { readonly refunded: number; readonly charged: number | undefined } => {
      if (onCompletion) {
        if (!view.done || task.chargedOnCompletion !== undefined) return { refunded: 0, charged: undefined }
        task.chargedOnCompletion = view.deliveredCost
        charge(task.apiKey, view.deliveredCost)
        return { refunded: 0, charged: view.deliveredCost }
      }
      if (view.refundDue <= task.refunded) return { refunded: 0, charged: undefined }
      const paid = view.refundDue - task.refunded
      refund(task.apiKey, paid)
      task.refunded = view.refundDue
      return { refunded: paid, charged: undefined }
    }

    /** A poll's `chargeInfo`: the task's running figures, or what this poll paid out (`reports: "once"`). */
    const pollCharge = (
      task: BatchTask,
      paid: { readonly refunded: number; readonly charged: number | undefined }
    ): FiberAiApi.ChargeInfo => {
      const alerted = alert(task.apiKey)
      const charged = reportOnce ? paid.charged : task.chargedOnCompletion
      const refunded = reportOnce ? paid.refunded : task.refunded
      if (charged !== undefined) {
        const message = "Charged for the data delivered by this task"
        return { method: "charged-for-async-process", creditsCharged: charged, message, ...alerted }
      }
      if (refunded > 0) {
        const message = reportOnce
          ? "Credits refunded for undelivered data"
          : "Credits refunded so far for undelivered data in this task"
        return { method: "credits-refunded", creditsRefunded: refunded, message, ...alerted }
      }
      return { method: "free", message: "Polling is free", ...alerted }
    }

    const startBatch = (call: Call<FiberAiApi.StartBatchRequest>): Reply => {
      const { apiKey, body, now } = call
      const fields = FiberAiApi.fieldsOf(body.enrichmentTypes)
      if (fields.length === 0) return error(400, "Select at least one enrichment type in enrichmentTypes")
      const perPerson = FiberAiApi.price(fields, "batch")
      const unique = new Map<string, { readonly input: string; readonly profile: ProfileRef }>()
      for (const item of body.personDetails) {
        const input = item.linkedinUrl.value
        const profile = profileOfUrl(input)
        if (profile === undefined) return error(400, `Invalid LinkedIn URL: ${input}`)
        if (!unique.has(profile.key)) unique.set(profile.key, { input, profile })
      }
      const cost = unique.size * perPerson
      if (balanceOf(apiKey) < cost) return outOfCredits(apiKey, cost)
      const id = nextTaskId("bt")
      const f = faults()
      const slow = f.slowJobFactor ?? 1
      const rows: Array<Row> = [...unique.values()].map(({ input, profile }, index) => {
        env.counters.submitted("fiber", profile.key)
        if (unhealable(profile)) {
          return {
            input,
            key: profile.key,
            index,
            finishAt: now + healMillis * slow,
            outputs: undefined,
            price: perPerson,
            refund: perPerson
          }
        }
        const { delivered, outputs } = reveal(personOf(profile), fields, true)
        const jitter = unit(seed, id, index) * perPersonMillis * 3
        return {
          input,
          key: profile.key,
          index,
          finishAt: now + (firstResultMillis + index * perPersonMillis + jitter) * slow,
          outputs,
          price: perPerson,
          refund: perPerson - (outputs === null ? 0 : FiberAiApi.price(delivered, "batch"))
        }
      })
      rows.sort((a, b) => a.finishAt - b.finishAt || a.index - b.index)
      const failing = env.chance(f.failJobRate)
      const middle = rows[Math.floor(rows.length / 2)]!
      batches.set(id, {
        id,
        apiKey,
        submittedAt: now,
        rows,
        duplicates: body.personDetails.length - unique.size,
        failAt: failing ? middle.finishAt - 1 : undefined,
        canceledAt: undefined,
        refunded: 0,
        chargedOnCompletion: undefined
      })
      if (!onCompletion) charge(apiKey, cost)
      return ok(FiberAiApi.StartBatchResponse, {
        output: {
          taskId: id,
          numPeopleEnqueued: unique.size,
          numDuplicatesSkipped: body.personDetails.length - unique.size
        },
        chargeInfo: onCompletion
          ? { method: "charging-later", message: "Credits are charged when the task completes", ...alert(apiKey) }
          : { method: "charged-now", creditsCharged: cost, ...alert(apiKey) },
        advice: []
      }, call.warnings)
    }

    const taskOf = (apiKey: string, taskId: string): BatchTask | undefined => {
      const task = batches.get(taskId)
      return task === undefined || task.apiKey !== apiKey ? undefined : task
    }

    const pollBatch = (call: Call<FiberAiApi.PollBatchRequest>): Reply => {
      const { apiKey, body, now } = call
      const task = taskOf(apiKey, body.taskId)
      if (task === undefined) return error(404, `Task ${body.taskId} not found`)
      const cursor = body.cursor ?? null
      const offset = cursor === null ? 0 : decodeCursor(task.id, cursor)
      if (offset === undefined) return error(400, "Invalid cursor")
      const view = viewOf(task, now)
      const chargeInfo = pollCharge(task, settle(task, view))
      const take = body.take ?? FiberAiApi.maxTake
      const rows = task.rows.slice(Math.min(offset, view.finished), Math.min(offset + take, view.finished))
      const nextCursor = rows.length > 0 ? encodeCursor(task.id, offset + rows.length) : cursor
      return ok(FiberAiApi.PollBatchResponse, {
        output: {
          overallStats: view.stats,
          done: view.done,
          failed: view.failed,
          canceled: view.canceled,
          pageResults: rows.map((row) => ({
            inputs: { linkedinUrl: { value: row.input } },
            ...(row.outputs === undefined ? {} : { outputs: row.outputs })
          })),
          nextCursor
        },
        chargeInfo,
        advice: []
      }, call.warnings)
    }

    const cancelBatch = (call: Call<FiberAiApi.CancelBatchRequest>): Reply => {
      const { apiKey, body, now } = call
      const task = taskOf(apiKey, body.taskId)
      if (task === undefined) return error(404, `Task ${body.taskId} not found`)
      const before = viewOf(task, now)
      // reported once: what this cancel pays is its own refund; refunds due before it come with the next poll
      if (!reportOnce) settle(task, before)
      if (before.done) {
        return ok(FiberAiApi.CancelBatchResponse, {
          output: {
            cancelledCount: 0,
            creditsRefunded: 0,
            message: "The task has already finished; nothing to cancel"
          },
          chargeInfo: { method: "free", message: "Nothing was cancelled", ...alert(apiKey) },
          advice: []
        }, call.warnings)
      }
      task.canceledAt = now
      const unclaimed = task.rows.slice(before.finished)
      // billed on completion: the unclaimed were never charged
      const refunded = onCompletion ? 0 : unclaimed.reduce((n, row) => n + row.price, 0)
      if (reportOnce) {
        refund(apiKey, refunded)
        task.refunded += refunded
      } else {
        settle(task, viewOf(task, now))
      }
      return ok(FiberAiApi.CancelBatchResponse, {
        output: {
          cancelledCount: unclaimed.length,
          creditsRefunded: refunded,
          message: `Cancelled ${unclaimed.length} unclaimed profiles; processed profiles are charged`
        },
        chargeInfo: refunded > 0
          ? {
            method: "credits-refunded",
            creditsRefunded: refunded,
            message: "Credits refunded for cancelled profiles",
            ...alert(apiKey)
          }
          : { method: "free", message: "Nothing to refund", ...alert(apiKey) },
        advice: []
      }, call.warnings)
    }

    // ---- exhaustive and single -----------------------------------------------------------------------------

    /** Exhaustive: more vendors, so some values the batch data lacks; risky/invalid emails set apart. */
    const exhaustiveProfile = (person: TruePerson | undefined, fields: ReadonlyArray<Field>) => {
      const emails: Array<FiberAiApi.EmailItem> = []
      const lowQualityEmails: Array<FiberAiApi.EmailItem> = []
      const phoneNumbers: Array<FiberAiApi.PhoneItem> = []
      const delivered: Array<Field> = []
      if (person !== undefined) {
        const known = env.universe.knowledge("fiber", person)
        const extra = (field: string) => unit(seed, "fiber-exhaustive", person.index, field) < extraShare
        const extraVerdict = (field: string): FiberAiApi.EmailStatus =>
          unit(seed, "fiber-exhaustive-verdict", person.index, field) < 0.6 ? "valid" : "risky"
        const addEmail = (
          field: "work_email" | "personal_email",
          type: "work" | "personal",
          knownEmail: { readonly address: string; readonly verdict: FiberAiApi.EmailStatus } | undefined,
          address: string
        ) => {
          if (!fields.includes(field)) return
          const found = knownEmail ?? (extra(field) ? { address, verdict: extraVerdict(field) } : undefined)
          if (found === undefined) return
          if (found.verdict === "risky" || found.verdict === "invalid") {
            lowQualityEmails.push({ email: found.address, type, status: found.verdict })
          } else {
            emails.push(emailItem(found.address, type, found.verdict, true))
            delivered.push(field)
          }
        }
        addEmail("work_email", "work", known.workEmail, person.workEmail)
        addEmail("personal_email", "personal", known.personalEmail, person.personalEmail)
        if (fields.includes("phone") && (known.phone !== undefined || extra("phone"))) {
          phoneNumbers.push({ number: person.phone, type: person.phoneKind })
          delivered.push("phone")
        }
      }
      const profile: FiberAiApi.Profile = {
        emails,
        phoneNumbers,
        status: "completed",
        exhaustive: true,
        lowQualityEmails
      }
      return { profile, price: FiberAiApi.price(delivered, "exhaustive") }
    }

    const startExhaustive = (call: Call<FiberAiApi.ExhaustiveStartRequest>): Reply => {
      const { apiKey, body, now } = call
      const fields = FiberAiApi.fieldsOf(body.enrichmentType)
      if (fields.length === 0) return error(400, "Select at least one enrichment type in enrichmentType")
      const profile = profileOfSingle(body.linkedinUrl)
      if (profile === undefined) return error(400, `Invalid linkedinUrl: ${body.linkedinUrl}`)
      const worst = FiberAiApi.price(fields, "exhaustive")
      if (balanceOf(apiKey) < worst) return outOfCredits(apiKey, worst)
      env.counters.submitted("fiber", profile.key)
      const f = faults()
      const id = nextTaskId("ex")
      const result = unhealable(profile)
        ? { error: "Could not resolve the LinkedIn profile" }
        : env.chance(f.failJobRate)
        ? { error: "Every contact vendor failed for this profile; no credits were charged" }
        : exhaustiveProfile(personOf(profile), fields)
      exhaustives.set(id, {
        id,
        apiKey,
        submittedAt: now,
        durationMillis: exhaustiveMillis * (f.slowJobFactor ?? 1),
        result,
        charged: false
      })
      return ok(FiberAiApi.ExhaustiveStartResponse, {
        output: { taskId: id },
        chargeInfo: {
          method: "charging-later",
          message: "Credits are charged when the reveal completes, for the data delivered",
          ...alert(apiKey)
        },
        advice: []
      }, call.warnings)
    }

    const pollExhaustive = (call: Call<FiberAiApi.ExhaustivePollRequest>): Reply => {
      const { apiKey, body, now } = call
      const task = exhaustives.get(body.taskId)
      if (task === undefined || task.apiKey !== apiKey) return error(404, `Task ${body.taskId} not found`)
      const progress = (now - task.submittedAt) / task.durationMillis
      const pending = (status: FiberAiApi.ProfileStatus): Reply =>
        ok(FiberAiApi.ExhaustivePollResponse, {
          output: {
            profile: { emails: [], phoneNumbers: [], status, exhaustive: true, lowQualityEmails: null },
            done: false
          },
          chargeInfo: { method: "charging-later", message: "Credits are charged when the reveal completes" },
          advice: []
        }, call.warnings)
      const result = task.result
      if ("error" in result) {
        // an unresolvable profile fails early, a vendor failure at the end
        const failsAt = result.error.startsWith("Could not resolve") ? 0.15 : 1
        if (progress < failsAt) return pending(progress < 0.15 ? "started" : "live-enriching")
        return ok(FiberAiApi.ExhaustivePollResponse, {
          output: {
            profile: { emails: [], phoneNumbers: [], status: "failed", error: result.error, exhaustive: true },
            done: true
          },
          chargeInfo: { method: "free", message: "The reveal failed; nothing was charged", ...alert(apiKey) },
          advice: []
        }, call.warnings)
      }
      if (progress < 0.15) return pending("started")
      if (progress < 0.6) return pending("live-enriching")
      if (progress < 1) return pending("grabbing-contact-info")
      if (!task.charged) {
        task.charged = true
        charge(apiKey, result.price)
      }
      return ok(FiberAiApi.ExhaustivePollResponse, {
        output: { profile: result.profile, done: true },
        chargeInfo: {
          method: "charged-for-async-process",
          creditsCharged: result.price,
          message: "Charged for the contact data delivered by the exhaustive reveal",
          ...alert(apiKey)
        },
        advice: []
      }, call.warnings)
    }

    const single = (call: Call<FiberAiApi.SingleRequest>): Reply => {
      const { apiKey, body } = call
      const fields = FiberAiApi.fieldsOf(body.enrichmentType)
      if (fields.length === 0) return error(400, "Select at least one enrichment type in enrichmentType")
      const profile = profileOfSingle(body.linkedinUrl)
      if (profile === undefined) return error(400, `Invalid linkedinUrl: ${body.linkedinUrl}`)
      const worst = FiberAiApi.price(fields, "sync")
      if (balanceOf(apiKey) < worst) return outOfCredits(apiKey, worst)
      env.counters.submitted("fiber", profile.key)
      if (unhealable(profile)) {
        return ok(FiberAiApi.SingleResponse, {
          output: {
            profile: {
              emails: [],
              phoneNumbers: [],
              status: "failed",
              error: "Could not resolve the LinkedIn profile",
              exhaustive: false
            },
            done: true
          },
          chargeInfo: { method: "charged-now", creditsCharged: 0, ...alert(apiKey) },
          advice: []
        }, call.warnings)
      }
      const { delivered, outputs } = reveal(personOf(profile), fields, body.validateEmails !== false)
      const price = FiberAiApi.price(delivered, "sync")
      charge(apiKey, price)
      return ok(FiberAiApi.SingleResponse, {
        output: {
          profile: {
            emails: outputs?.emails ?? [],
            phoneNumbers: outputs?.phoneNumbers ?? [],
            status: "completed",
            exhaustive: false
          },
          done: true
        },
        chargeInfo: { method: "charged-now", creditsCharged: price, ...alert(apiKey) },
        advice: []
      }, call.warnings)
    }

    // ---- the request pipeline ------------------------------------------------------------------------------

    const respond = (reply: Reply, f: Faults): HttpServerResponse.HttpServerResponse => {
      const success = reply.status >= 200 && reply.status < 300
      if (success && env.chance(f.truncatedRate)) {
        const text = JSON.stringify(reply.body)
        return HttpServerResponse.text(text.slice(0, Math.floor(text.length / 2)), {
          status: reply.status,
          contentType: "application/json"
        })
      }
      let body = reply.body
      if (success && env.chance(f.malformedRate)) body = corrupt(body)
      else if (success && env.chance(f.unknownEnumRate)) body = withUnknownEnums(body)
      return HttpServerResponse.unsafeJson(body, { status: reply.status })
    }

    const route = <A, I>(
      endpoint: Endpoint,
      schema: Schema.Schema<A, I> & { readonly fields: Schema.Struct.Fields },
      handler: (call: Call<A>) => Reply,
      nested?: string
    ) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const now = yield* env.now
        env.counters.request(`fiber:${endpoint}`)
        const f = faults()
        const n = env.nextRequestNumber("fiber")
        const limited = (message: string): Reply => {
          env.counters.limited(`fiber:${endpoint}`)
          return error(429, message)
        }
        // Faults strike before the request is handled: a 5xx or 429 here never started or charged anything.
        const burst = f.serverErrorBurst
        if (
          (burst !== undefined && n >= burst.from && n < burst.from + burst.length) || env.chance(f.serverErrorRate)
        ) {
          return respond(error(n % 2 === 0 ? 500 : 503, "Internal server error, please retry"), f)
        }
        const storm = f.rateLimitStorm
        if ((storm !== undefined && n >= storm.from && n < storm.from + storm.length) || env.chance(f.rateLimitRate)) {
          return respond(limited("Too many requests, please slow down"), f)
        }
        const raw = yield* Effect.orElseSucceed(request.json, () => undefined)
        if (!Predicate.isRecord(raw) || Array.isArray(raw)) {
          return respond(error(400, "The request body must be a JSON object"), f)
        }
        const apiKey = raw.apiKey
        if (!Predicate.isString(apiKey) || !apiKeys.includes(apiKey)) {
          return respond(error(401, "Missing or invalid API key: pass your Fiber API key as `apiKey` in the body"), f)
        }
        const limit = limits[endpoint]
        if (!env.window(`fiber:${endpoint}:${apiKey}`, limit, 60_000).admit(now).allowed) {
          return respond(limited(`Rate limit exceeded: ${limit} requests per 1 minute on this endpoint`), f)
        }
        const decoded = Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore" })(raw)
        if (decoded._tag === "Left") return respond(error(400, issueOf(decoded.left)), f)
        const warnings = extraneous(raw, Object.keys(schema.fields), nested)
        return respond(handler({ body: decoded.right, apiKey, now, warnings }), f)
      })

    return HttpRouter.empty.pipe(
      HttpRouter.post(
        FiberAiApi.paths["batch/start"],
        route("batch/start", FiberAiApi.StartBatchRequest, startBatch, "enrichmentTypes")
      ),
      HttpRouter.post(FiberAiApi.paths["batch/poll"], route("batch/poll", FiberAiApi.PollBatchRequest, pollBatch)),
      HttpRouter.post(
        FiberAiApi.paths["batch/cancel"],
        route("batch/cancel", FiberAiApi.CancelBatchRequest, cancelBatch)
      ),
      HttpRouter.post(
        FiberAiApi.paths["exhaustive/start"],
        route("exhaustive/start", FiberAiApi.ExhaustiveStartRequest, startExhaustive, "enrichmentType")
      ),
      HttpRouter.post(
        FiberAiApi.paths["exhaustive/poll"],
        route("exhaustive/poll", FiberAiApi.ExhaustivePollRequest, pollExhaustive)
      ),
      HttpRouter.post(FiberAiApi.paths.single, route("single", FiberAiApi.SingleRequest, single, "enrichmentType"))
    )
  })
