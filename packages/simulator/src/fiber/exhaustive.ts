/**
 * The exhaustive endpoints: start (a URL or a bare slug; 402 unless the balance covers the worst case; billed
 * later) and poll (the reveal's stage; once completed, billed once for the fields delivered in
 * `emails`/`phoneNumbers`, INFERRED: low-quality emails are not billed; a failed reveal is free).
 */
import { FiberAiApi } from "@enrich/core/wire"
import { faultsOf } from "./faults.js"
import { exhaustiveReveal, personOf, unhealable, unresolvable } from "./knowledge.js"
import { profileOfSingle } from "./profiles.js"
import { type Call, error, ok, type Reply } from "./replies.js"
import type { Simulation } from "./state.js"
import { stageOf, taskOf } from "./tasks.js"

export const startExhaustive = (sim: Simulation, call: Call<FiberAiApi.ExhaustiveStartRequest>): Reply => {
  const { credits, env, settings, tasks } = sim
  const { apiKey, body, now } = call
  const fields = FiberAiApi.fieldsOf(body.enrichmentType)
  if (fields.length === 0) return error(400, "Select at least one enrichment type in enrichmentType")
  const profile = profileOfSingle(body.linkedinUrl)
  if (profile === undefined) return error(400, `Invalid linkedinUrl: ${body.linkedinUrl}`)
  const worst = FiberAiApi.price(fields, "exhaustive")
  if (credits.balanceOf(apiKey) < worst) return credits.outOfCredits(apiKey, worst)
  env.counters.submitted("fiber", profile.key)
  const f = faultsOf(env)
  const id = tasks.nextId("ex")
  const result = unhealable(env, settings.rejectShare, profile)
    ? { error: unresolvable }
    : env.chance(f.failJobRate)
    ? { error: "Every contact vendor failed for this profile; no credits were charged" }
    : exhaustiveReveal(env, settings.extraShare, personOf(env, profile), fields)
  tasks.exhaustives.set(id, {
    id,
    apiKey,
    submittedAt: now,
    durationMillis: settings.exhaustiveMillis * (f.slowJobFactor ?? 1),
    result,
    charged: false
  })
  return ok(FiberAiApi.ExhaustiveStartResponse, {
    output: { taskId: id },
    chargeInfo: {
      method: "charging-later",
      message: "Credits are charged when the reveal completes, for the data delivered",
      ...credits.alert(apiKey)
    },
    advice: []
  }, call.warnings)
}

export const pollExhaustive = (sim: Simulation, call: Call<FiberAiApi.ExhaustivePollRequest>): Reply => {
  const { credits } = sim
  const { apiKey, body, now } = call
  const task = taskOf(sim.tasks.exhaustives, apiKey, body.taskId)
  if (task === undefined) return error(404, `Task ${body.taskId} not found`)
  const stage = stageOf(task, now)
  switch (stage._tag) {
    case "Pending":
      return ok(FiberAiApi.ExhaustivePollResponse, {
        output: {
          profile: { emails: [], phoneNumbers: [], status: stage.status, exhaustive: true, lowQualityEmails: null },
          done: false
        },
        chargeInfo: { method: "charging-later", message: "Credits are charged when the reveal completes" },
        advice: []
      }, call.warnings)
    case "Failed":
      return ok(FiberAiApi.ExhaustivePollResponse, {
        output: {
          profile: { emails: [], phoneNumbers: [], status: "failed", error: stage.error, exhaustive: true },
          done: true
        },
        chargeInfo: { method: "free", message: "The reveal failed; nothing was charged", ...credits.alert(apiKey) },
        advice: []
      }, call.warnings)
    case "Completed": {
      const { price, profile } = stage.result
      if (!task.charged) {
        task.charged = true
        credits.charge(apiKey, price)
      }
      return ok(FiberAiApi.ExhaustivePollResponse, {
        output: { profile, done: true },
        chargeInfo: {
          method: "charged-for-async-process",
          creditsCharged: price,
          message: "Charged for the contact data delivered by the exhaustive reveal",
          ...credits.alert(apiKey)
        },
        advice: []
      }, call.warnings)
    }
  }
}
