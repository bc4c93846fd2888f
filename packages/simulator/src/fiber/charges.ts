/**
 * Credits: each key's balance, the `lowCreditAlert` attached while it is low, and what a batch task charges,
 * refunds and reports in `chargeInfo` under the chosen `ChargeShapes`.
 *
 * - Upfront (default): the start charges every unique person (`charged-now`); refunds are paid per person as rows
 *   finish (the full price for a rejected or failed row, the price of the undelivered fields for a partial
 *   reveal) and for the people a cancel or a task failure left unprocessed.
 * - On completion: the start says `charging-later`; the first request that sees the task done charges the price
 *   of the data delivered (`charged-for-async-process`); nothing is refunded.
 * - Reports: polls repeat the task's running figure, or (`once`) each amount is reported by the answer paying it
 *   out and later polls say `free`.
 */
import type { FiberAiApi } from "@enrich/core/wire"
import type { Env } from "../Env.js"
import { outOfCredits, type Reply } from "./replies.js"
import type { Settings, Simulation } from "./state.js"
import { type BatchTask, type Row, type View, viewOf } from "./tasks.js"

type Alert = { readonly lowCreditAlert?: FiberAiApi.CreditAlert }

/** The credit balances of one simulator, by key. */
export interface Credits {
  readonly balanceOf: (apiKey: string) => number
  /** `lowCreditAlert` while the balance is below the threshold, to spread into a `chargeInfo` */
  readonly alert: (apiKey: string) => Alert
  readonly charge: (apiKey: string, credits: number) => void
  readonly refund: (apiKey: string, credits: number) => void
  /** the 402 for a request needing `needed` credits */
  readonly outOfCredits: (apiKey: string, needed: number) => Reply
}

export const makeCredits = (env: Env, settings: Settings): Credits => {
  const balances = new Map<string, number>()
  const balanceOf = (apiKey: string) => balances.get(apiKey) ?? settings.startingCredits
  return {
    balanceOf,
    alert: (apiKey) => {
      const available = balanceOf(apiKey)
      return available >= settings.lowCreditThreshold
        ? {}
        : {
          lowCreditAlert: {
            getMoreCreditsUrl: "https://fiber.ai/app/billing",
            message: `You have ${available} credits left in this billing period.`,
            availableCredits: available
          }
        }
    },
    charge: (apiKey, credits) => {
      if (credits <= 0) return
      balances.set(apiKey, balanceOf(apiKey) - credits)
      env.counters.charge("fiber", credits)
    },
    refund: (apiKey, credits) => {
      if (credits <= 0) return
      balances.set(apiKey, balanceOf(apiKey) + credits)
      env.counters.refund("fiber", credits)
    },
    outOfCredits: (apiKey, needed) => outOfCredits(balanceOf(apiKey), needed)
  }
}

// ---- batch tasks ---------------------------------------------------------------------------------------------

/** A batch start's `chargeInfo`, once the start has charged (upfront) or not (billed on completion). */
export const startChargeInfo = (sim: Simulation, apiKey: string, cost: number): FiberAiApi.ChargeInfo =>
  sim.settings.onCompletion
    ? { method: "charging-later", message: "Credits are charged when the task completes", ...sim.credits.alert(apiKey) }
    : { method: "charged-now", creditsCharged: cost, ...sim.credits.alert(apiKey) }

/** What a request paid out for a task: `charged` is undefined when no charge was made, 0 for nothing delivered. */
export interface Paid {
  readonly refunded: number
  readonly charged: number | undefined
}

/**
 * Pays out refunds that have become due since the last request touching this task (billed upfront), or the
 * completion charge (billed on completion); returns what it paid out and charged now.
 */
export const settle = (sim: Simulation, task: BatchTask, view: View): Paid => {
  if (sim.settings.onCompletion) {
    if (!view.done || task.chargedOnCompletion !== undefined) return { refunded: 0, charged: undefined }
    task.chargedOnCompletion = view.deliveredCost
    sim.credits.charge(task.apiKey, view.deliveredCost)
    return { refunded: 0, charged: view.deliveredCost }
  }
  if (view.refundDue <= task.refunded) return { refunded: 0, charged: undefined }
  const paid = view.refundDue - task.refunded
  sim.credits.refund(task.apiKey, paid)
  task.refunded = view.refundDue
  return { refunded: paid, charged: undefined }
}

/** A poll's `chargeInfo`: the task's running figures, or what this poll paid out (`reports: "once"`). */
export const pollChargeInfo = (sim: Simulation, task: BatchTask, paid: Paid): FiberAiApi.ChargeInfo => {
  const reportOnce = sim.settings.reportOnce
  const alerted = sim.credits.alert(task.apiKey)
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

/**
 * Refunds the people a cancel (at `now`, already recorded on the task) left `unclaimed`: their full price, or
 * nothing when billed on completion (they were never charged). Reported once, the cancel pays out only that;
 * as running totals, it settles everything due. Returns the cancel's own refund.
 */
export const refundCanceled = (
  sim: Simulation,
  task: BatchTask,
  unclaimed: ReadonlyArray<Row>,
  now: number
): number => {
  const refunded = sim.settings.onCompletion ? 0 : unclaimed.reduce((n, row) => n + row.price, 0)
  if (sim.settings.reportOnce) {
    sim.credits.refund(task.apiKey, refunded)
    task.refunded += refunded
  } else {
    settle(sim, task, viewOf(task, now))
  }
  return refunded
}

/** A cancel's `chargeInfo`, once it has refunded `refunded`. */
export const cancelChargeInfo = (sim: Simulation, apiKey: string, refunded: number): FiberAiApi.ChargeInfo =>
  refunded > 0
    ? {
      method: "credits-refunded",
      creditsRefunded: refunded,
      message: "Credits refunded for cancelled profiles",
      ...sim.credits.alert(apiKey)
    }
    : { method: "free", message: "Nothing to refund", ...sim.credits.alert(apiKey) }
