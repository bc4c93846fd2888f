/**
 * `/single`: synchronous; a URL or a bare slug; 402 unless the balance covers the worst case; bills the fields
 * delivered (`charged-now`, 0 for a profile that cannot be resolved); `validateEmails: false` returns emails
 * without `status`.
 */
import { FiberAiApi } from "@enrich/core/wire"
import { personOf, reveal, unhealable, unresolvable } from "./knowledge.js"
import { profileOfSingle } from "./profiles.js"
import { type Call, error, ok, type Reply } from "./replies.js"
import type { Simulation } from "./state.js"

export const single = (sim: Simulation, call: Call<FiberAiApi.SingleRequest>): Reply => {
  const { credits, env, settings } = sim
  const { apiKey, body } = call
  const fields = FiberAiApi.fieldsOf(body.enrichmentType)
  if (fields.length === 0) return error(400, "Select at least one enrichment type in enrichmentType")
  const profile = profileOfSingle(body.linkedinUrl)
  if (profile === undefined) return error(400, `Invalid linkedinUrl: ${body.linkedinUrl}`)
  const worst = FiberAiApi.price(fields, "sync")
  if (credits.balanceOf(apiKey) < worst) return credits.outOfCredits(apiKey, worst)
  env.counters.submitted("fiber", profile.key)
  if (unhealable(env, settings.rejectShare, profile)) {
    return ok(FiberAiApi.SingleResponse, {
      output: {
        profile: { emails: [], phoneNumbers: [], status: "failed", error: unresolvable, exhaustive: false },
        done: true
      },
      chargeInfo: { method: "charged-now", creditsCharged: 0, ...credits.alert(apiKey) },
      advice: []
    }, call.warnings)
  }
  const { delivered, outputs } = reveal(env, personOf(env, profile), fields, body.validateEmails !== false)
  const price = FiberAiApi.price(delivered, "sync")
  credits.charge(apiKey, price)
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
    chargeInfo: { method: "charged-now", creditsCharged: price, ...credits.alert(apiKey) },
    advice: []
  }, call.warnings)
}
