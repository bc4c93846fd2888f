/**
 * What Fiber reported charging and refunding for one batch task over its life, from the `chargeInfo` of every
 * answer about it.
 *
 * Every Fiber answer carries the `chargeInfo` of that operation: what this call charged (`charged-now`,
 * `charged-for-async-process`), refunded (`credits-refunded`) or that it was `free`. So the task's figures are the
 * sum of what each answer reported — a refund reported on one poll stays booked when later pages say `free`, and
 * a completion charge replaces the start's estimate (the start of a task billed later says `charging-later`).
 * An earlier reading that took a poll's figure as the task's running total (repeated on every poll) could not
 * tell the two apart when one-off refunds kept rising, and booked too little.
 *
 * A cancel's refund is in its `output.creditsRefunded`, which its `chargeInfo` repeats: counted once.
 *
 * The tally rides in the results cursor (see `Cursor`), so a stream resumed after a crash starts from what the
 * earlier polls reported instead of only the later ones.
 */
import * as Schema from "effect/Schema"
import type { JobRef } from "../../ContactProvider.js"
import * as FiberAiApi from "../../FiberAiApi.js"

/** @since 0.1.0 @category Models */
export const Tally = Schema.Struct({
  /** charges reported after the start (`charged-for-async-process`), added up */
  charged: Schema.Number,
  /** how many answers reported a charge (none yet: a task billed later still stands at its estimate) */
  charges: Schema.NonNegativeInt,
  /** refunds reported by polls and cancels, added up */
  refunded: Schema.Number
})
export type Tally = typeof Tally.Type

export const empty: Tally = { charged: 0, charges: 0, refunded: 0 }

/** Nothing reported yet: the tally says nothing the JobRef does not. */
export const isEmpty = (tally: Tally): boolean => tally.charges === 0 && tally.refunded === 0

/** One answer's `chargeInfo` about the task, folded in. `free` and unknown methods add nothing. */
export const fold = (tally: Tally, info: FiberAiApi.ChargeInfo): Tally => {
  switch (info.method) {
    case "credits-refunded": {
      const refunded = FiberAiApi.refundedBy(info)
      return refunded > 0 ? { ...tally, refunded: tally.refunded + refunded } : tally
    }
    case "charged-now":
    case "charged-for-async-process":
      // a charge of 0 is still Fiber's figure (a task billed on completion that delivered nothing)
      return { ...tally, charged: tally.charged + FiberAiApi.chargedBy(info), charges: tally.charges + 1 }
    default:
      return tally
  }
}

/** A cancel's answer: its refund (`output.creditsRefunded`), counted once. */
export const foldCancel = (tally: Tally, refunded: number): Tally =>
  refunded <= 0 ? tally : { ...tally, refunded: tally.refunded + refunded }

/**
 * The task's credits as Fiber reported them: charged at start (`ref.charged`) plus charges reported since, and
 * refunds. A start that charged later (`ref.estimated`) is booked at its price-list estimate until Fiber reports
 * the charge, and marked `estimated`.
 */
export const creditsOf = (
  ref: JobRef,
  tally: Tally
): { readonly charged: number; readonly refunded: number; readonly estimated: boolean } => {
  const estimated = ref.estimated && tally.charges === 0
  const atStart = ref.estimated ? (estimated ? ref.charged : 0) : ref.charged
  return { charged: atStart + tally.charged, refunded: tally.refunded, estimated }
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
