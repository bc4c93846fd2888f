/**
 * The batch endpoints: start (1..2000 URLs matching the published pattern, duplicates skipped and counted, the
 * unique people charged per the `ChargeShapes`, 402 when the balance is short), poll (the task's stats and a page
 * of finished rows) and cancel (people not finished are never processed and are refunded; cancelling a finished
 * task changes nothing).
 */
import { FiberAiApi } from "@enrich/core/wire"
import { cancelChargeInfo, pollChargeInfo, refundCanceled, settle, startChargeInfo } from "./charges.js"
import { faultsOf } from "./faults.js"
import { decodeCursor, pageOf } from "./pages.js"
import { profileOfUrl, type ProfileRef } from "./profiles.js"
import { type Call, error, ok, type Reply } from "./replies.js"
import type { Simulation } from "./state.js"
import { rowsOf, taskOf, viewOf } from "./tasks.js"

export const startBatch = (sim: Simulation, call: Call<FiberAiApi.StartBatchRequest>): Reply => {
  const { env, settings, tasks, credits } = sim
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
  if (credits.balanceOf(apiKey) < cost) return credits.outOfCredits(apiKey, cost)
  const id = tasks.nextId("bt")
  const f = faultsOf(env)
  const rows = rowsOf(sim, id, now, [...unique.values()], fields, f.slowJobFactor ?? 1)
  const failing = env.chance(f.failJobRate)
  const middle = rows[Math.floor(rows.length / 2)]!
  tasks.batches.set(id, {
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
  if (!settings.onCompletion) credits.charge(apiKey, cost)
  return ok(FiberAiApi.StartBatchResponse, {
    output: {
      taskId: id,
      numPeopleEnqueued: unique.size,
      numDuplicatesSkipped: body.personDetails.length - unique.size
    },
    chargeInfo: startChargeInfo(sim, apiKey, cost),
    advice: []
  }, call.warnings)
}

export const pollBatch = (sim: Simulation, call: Call<FiberAiApi.PollBatchRequest>): Reply => {
  const { apiKey, body, now } = call
  const task = taskOf(sim.tasks.batches, apiKey, body.taskId)
  if (task === undefined) return error(404, `Task ${body.taskId} not found`)
  const cursor = body.cursor ?? null
  const offset = cursor === null ? 0 : decodeCursor(task.id, cursor)
  if (offset === undefined) return error(400, "Invalid cursor")
  const view = viewOf(task, now)
  const chargeInfo = pollChargeInfo(sim, task, settle(sim, task, view))
  const page = pageOf(task, view.finished, cursor, offset, body.take ?? FiberAiApi.maxTake)
  return ok(FiberAiApi.PollBatchResponse, {
    output: {
      overallStats: view.stats,
      done: view.done,
      failed: view.failed,
      canceled: view.canceled,
      pageResults: page.rows.map((row) => ({
        inputs: { linkedinUrl: { value: row.input } },
        ...(row.outputs === undefined ? {} : { outputs: row.outputs })
      })),
      nextCursor: page.nextCursor
    },
    chargeInfo,
    advice: []
  }, call.warnings)
}

export const cancelBatch = (sim: Simulation, call: Call<FiberAiApi.CancelBatchRequest>): Reply => {
  const { apiKey, body, now } = call
  const task = taskOf(sim.tasks.batches, apiKey, body.taskId)
  if (task === undefined) return error(404, `Task ${body.taskId} not found`)
  const before = viewOf(task, now)
  // reported once: what this cancel pays is its own refund; refunds due before it come with the next poll
  if (!sim.settings.reportOnce) settle(sim, task, before)
  if (before.done) {
    return ok(FiberAiApi.CancelBatchResponse, {
      output: {
        cancelledCount: 0,
        creditsRefunded: 0,
        message: "The task has already finished; nothing to cancel"
      },
      chargeInfo: { method: "free", message: "Nothing was cancelled", ...sim.credits.alert(apiKey) },
      advice: []
    }, call.warnings)
  }
  task.canceledAt = now
  const unclaimed = task.rows.slice(before.finished)
  const refunded = refundCanceled(sim, task, unclaimed, now)
  return ok(FiberAiApi.CancelBatchResponse, {
    output: {
      cancelledCount: unclaimed.length,
      creditsRefunded: refunded,
      message: `Cancelled ${unclaimed.length} unclaimed profiles; processed profiles are charged`
    },
    chargeInfo: cancelChargeInfo(sim, apiKey, refunded),
    advice: []
  }, call.warnings)
}
