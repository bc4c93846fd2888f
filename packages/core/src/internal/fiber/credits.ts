/**
 * What Fiber reported charging and refunding for one batch task over its life, from the `chargeInfo` of every
 * answer about it.
 *
 * Fiber documents the `chargeInfo` variants but not whether a poll's `credits-refunded` (or a done poll's
 * `charged-for-async-process`) is the task's running total, repeated on every poll, or what that one poll paid
 * out, reported once (later polls say `free`). Both shapes are in use by stand-ins written from the docs, so the
 * tally keeps both readings of the same reports: `max` (running totals) and `sum` (one-off amounts). It takes the
 * running-total reading until the answers rule it out (a `free` or another method after a positive figure, or a
 * figure lower than the one before), then the one-off reading, for all reports so far. Only the two readings
 * differ when every poll after the first refund repeats or raises the figure: then the running total is booked
 * (the higher charge, the safe side for a budget).
 *
 * A cancel's refund comes with the cancel's answer (`output.creditsRefunded`, which its `chargeInfo` repeats:
 * counted once), kept apart: running totals after it include it, one-off polls do not.
 *
 * The tally rides in the results cursor (see `Cursor`), so a stream resumed after a crash starts from what the
 * earlier polls reported instead of only the later ones.
 */
import * as Schema from "effect/Schema"
import type { JobRef } from "../../ContactProvider.js"
import * as FiberAiApi from "../../FiberAiApi.js"

/** The reports of one kind (charges, or refunds): how many, added up, the largest, and the latest. */
export const Reports = Schema.Struct({
  count: Schema.NonNegativeInt,
  sum: Schema.Number,
  max: Schema.Number,
  last: Schema.Number
})
export type Reports = typeof Reports.Type

/** @since 0.1.0 @category Models */
export const Tally = Schema.Struct({
  /** `charged-for-async-process` (and any charge reported on a poll) */
  charged: Reports,
  /** `credits-refunded` on polls */
  refunded: Reports,
  /** Fiber has shown it reports what each answer paid, not running totals */
  perCall: Schema.Boolean,
  /** a cancel's refund, and the refund figure just before it */
  cancel: Schema.optionalWith(Schema.Struct({ refunded: Schema.Number, before: Schema.Number }), { exact: true })
})
export type Tally = typeof Tally.Type

const none: Reports = { count: 0, sum: 0, max: 0, last: 0 }

export const empty: Tally = { charged: none, refunded: none, perCall: false }

/** Nothing reported yet: the tally says nothing the JobRef does not. */
export const isEmpty = (tally: Tally): boolean =>
  tally.charged.count === 0 && tally.refunded.count === 0 && tally.cancel === undefined

const add = (reports: Reports, amount: number): Reports => ({
  count: reports.count + 1,
  sum: reports.sum + amount,
  max: Math.max(reports.max, amount),
  last: amount
})

/** One answer's `chargeInfo` about the task, folded in. An unknown method says nothing. */
export const fold = (tally: Tally, info: FiberAiApi.ChargeInfo): Tally => {
  if (info.method === "other") return tally
  const kind = info.method === "credits-refunded"
    ? "refunded" as const
    : info.method === "charged-now" || info.method === "charged-for-async-process"
    ? "charged" as const
    : undefined
  const amount = kind === "refunded" ? FiberAiApi.refundedBy(info) : FiberAiApi.chargedBy(info)
  // a running total is repeated or raised on every answer; anything else after a positive one rules it out
  const breaks = (reports: Reports, own: typeof kind) => reports.max > 0 && (kind !== own || amount < reports.last)
  const perCall = tally.perCall || breaks(tally.charged, "charged") || breaks(tally.refunded, "refunded")
  // a charge of 0 is still Fiber's figure (a task billed on completion that delivered nothing)
  if (kind === undefined || (kind === "refunded" && amount <= 0)) return { ...tally, perCall }
  return { ...tally, perCall, [kind]: add(tally[kind], amount) }
}

const figure = (tally: Tally, reports: Reports): number => tally.perCall ? reports.sum : reports.max

/** A cancel's answer: its refund, counted once. */
export const foldCancel = (tally: Tally, refunded: number): Tally =>
  refunded <= 0 ? tally : {
    ...tally,
    cancel: {
      refunded: (tally.cancel?.refunded ?? 0) + refunded,
      before: tally.cancel?.before ?? figure(tally, tally.refunded)
    }
  }

/**
 * The task's credits as Fiber reported them: charged at start (`ref.charged`) plus charges reported since, and
 * refunds. A start that charged later (`ref.estimated`) is booked at its price-list estimate until Fiber reports
 * the charge, and marked `estimated`.
 */
export const creditsOf = (
  ref: JobRef,
  tally: Tally
): { readonly charged: number; readonly refunded: number; readonly estimated: boolean } => {
  const reportedCharge = figure(tally, tally.charged)
  const estimated = ref.estimated && tally.charged.count === 0
  const charged = (ref.estimated ? (estimated ? ref.charged : 0) : ref.charged) + reportedCharge
  const polls = figure(tally, tally.refunded)
  const cancel = tally.cancel
  const refunded = cancel === undefined
    ? polls
    : tally.perCall
    ? polls + cancel.refunded
    : Math.max(polls, cancel.before + cancel.refunded)
  return { charged, refunded, estimated }
}

// ---------------------------------------------------------------------------------------------------------------
// Cursor
// ---------------------------------------------------------------------------------------------------------------

/**
 * What `results` hands out as a page's cursor: Fiber's own cursor (`at`) and the tally so far. While nothing was
 * reported (most tasks until their first refund) it is Fiber's cursor unchanged, which is also how a cursor
 * stored before the tally existed reads.
 */
export const Cursor = Schema.Struct({
  at: Schema.NullOr(Schema.String),
  tally: Tally
})
export type Cursor = typeof Cursor.Type

const CursorJson = Schema.parseJson(Cursor)
const decodeCursorJson = Schema.decodeUnknownOption(CursorJson)
const encodeCursorJson = Schema.encodeSync(CursorJson)

/** A stored cursor: ours, or Fiber's own. */
export const readCursor = (cursor: string | undefined): Cursor | undefined => {
  if (cursor === undefined) return undefined
  const ours = decodeCursorJson(cursor)
  return ours._tag === "Some" ? ours.value : { at: cursor, tally: empty }
}

/** The cursor to hand out (`undefined` when there is neither a position nor a tally to keep). */
export const writeCursor = (at: string | undefined, tally: Tally): string | undefined =>
  isEmpty(tally) ? at : encodeCursorJson({ at: at ?? null, tally })
