/**
 * Fiber's asynchronous tasks and how they progress in provider time, computed from the submit time on each
 * request (no background fibers): a batch task's rows finish one by one (unhealable URLs after `healMillis`, then
 * each person after `firstResultMillis + i × perPersonMillis` plus a little deterministic jitter), until done,
 * failed or canceled; an exhaustive reveal goes `started → live-enriching → grabbing-contact-info → completed |
 * failed` over its duration.
 */
import { type Contact } from "@enrich/core"
import { FiberAiApi } from "@enrich/core/wire"
import { unit } from "../Random.js"
import { type ExhaustiveReveal, personOf, reveal, unhealable, unresolvable } from "./knowledge.js"
import type { ProfileRef } from "./profiles.js"
import type { Simulation } from "./state.js"

export interface Row {
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

export interface BatchTask {
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

export interface ExhaustiveTask {
  readonly id: string
  readonly apiKey: string
  readonly submittedAt: number
  readonly durationMillis: number
  /** the finished profile, or an error message */
  readonly result: ExhaustiveReveal | { readonly error: string }
  charged: boolean
}

/** The tasks of one simulator, by id, and the ids it hands out. */
export interface Tasks {
  readonly batches: Map<string, BatchTask>
  readonly exhaustives: Map<string, ExhaustiveTask>
  /** a new task id: `<prefix>_` then a counter and a seeded tag */
  readonly nextId: (prefix: string) => string
}

export const makeTasks = (seed: number): Tasks => {
  let taskCounter = 0
  return {
    batches: new Map(),
    exhaustives: new Map(),
    nextId: (prefix) => {
      taskCounter += 1
      const tag = Math.floor(unit(seed, "fiber-task", taskCounter) * 0xffffff).toString(16).padStart(6, "0")
      return `${prefix}_${taskCounter.toString(36).padStart(6, "0")}${tag}`
    }
  }
}

/** A task of this key, or undefined (another key's task is not found either). */
export const taskOf = <T extends { readonly apiKey: string }>(
  tasks: Map<string, T>,
  apiKey: string,
  taskId: string
): T | undefined => {
  const task = tasks.get(taskId)
  return task === undefined || task.apiKey !== apiKey ? undefined : task
}

// ---- batch tasks ---------------------------------------------------------------------------------------------

/**
 * The rows of a batch submitted at `now`, in finish order: each unique person is counted as submitted, and
 * revealed (or rejected by healing) upfront; `slow` is the fault knob stretching the task's times.
 */
export const rowsOf = (
  sim: Simulation,
  id: string,
  now: number,
  people: ReadonlyArray<{ readonly input: string; readonly profile: ProfileRef }>,
  fields: ReadonlyArray<Contact.Field>,
  slow: number
): Array<Row> => {
  const { env, settings } = sim
  const perPerson = FiberAiApi.price(fields, "batch")
  const rows: Array<Row> = people.map(({ input, profile }, index) => {
    env.counters.submitted("fiber", profile.key)
    if (unhealable(env, settings.rejectShare, profile)) {
      return {
        input,
        key: profile.key,
        index,
        finishAt: now + settings.healMillis * slow,
        outputs: undefined,
        price: perPerson,
        refund: perPerson
      }
    }
    const { delivered, outputs } = reveal(env, personOf(env, profile), fields, true)
    const jitter = unit(env.universe.seed, id, index) * settings.perPersonMillis * 3
    return {
      input,
      key: profile.key,
      index,
      finishAt: now + (settings.firstResultMillis + index * settings.perPersonMillis + jitter) * slow,
      outputs,
      price: perPerson,
      refund: perPerson - (outputs === null ? 0 : FiberAiApi.price(delivered, "batch"))
    }
  })
  rows.sort((a, b) => a.finishAt - b.finishAt || a.index - b.index)
  return rows
}

/** A batch task at some instant. */
export interface View {
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

export const viewOf = (task: BatchTask, now: number): View => {
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

// ---- exhaustive tasks ----------------------------------------------------------------------------------------

/** An exhaustive reveal at some instant. */
export type Stage =
  | { readonly _tag: "Pending"; readonly status: FiberAiApi.ProfileStatus }
  | { readonly _tag: "Failed"; readonly error: string }
  | { readonly _tag: "Completed"; readonly result: ExhaustiveReveal }

const pending = (status: FiberAiApi.ProfileStatus): Stage => ({ _tag: "Pending", status })

export const stageOf = (task: ExhaustiveTask, now: number): Stage => {
  const progress = (now - task.submittedAt) / task.durationMillis
  const result = task.result
  if ("error" in result) {
    // an unresolvable profile fails early, a vendor failure at the end
    const failsAt = result.error === unresolvable ? 0.15 : 1
    if (progress < failsAt) return pending(progress < 0.15 ? "started" : "live-enriching")
    return { _tag: "Failed", error: result.error }
  }
  if (progress < 0.15) return pending("started")
  if (progress < 0.6) return pending("live-enriching")
  if (progress < 1) return pending("grabbing-contact-info")
  return { _tag: "Completed", result }
}
