/**
 * Fiber's answers as outcomes and statuses: a finished batch row, a `/single` answer, a poll's stats.
 */
import type * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import { type Field, Provenance } from "../../Contact.js"
import { type JobRef, JobStatus, type Person } from "../../ContactProvider.js"
import * as FiberAiApi from "../../FiberAiApi.js"
import * as Identifier from "../../Identifier.js"
import { Failed, Found, NotFound, type ProviderOutcome, Rejected } from "../../PersonResult.js"
import { creditsOf, type Tally } from "./credits.js"
import { deliveredFields, emailOf, lowQualityEmailOf, phoneOf } from "./values.js"

const provider = "fiber"

const rejectedReason = "Fiber could not resolve this LinkedIn URL (healing failed)"

/** The identity of a row: its parsed key, or the raw echo when it does not parse. */
export const rowIdentity = (row: FiberAiApi.PageResult): string => {
  const parsed = Identifier.parseLinkedIn(row.inputs.linkedinUrl.value, { bareSlugs: true })
  return Either.isRight(parsed) ? parsed.right.key : `raw:${row.inputs.linkedinUrl.value}`
}

/** One finished batch row as an outcome, keyed by re-parsing Fiber's echo of the URL we sent. */
export const outcomeOfRow = (
  row: FiberAiApi.PageResult,
  fields: ReadonlyArray<Field>,
  observedAt: DateTime.Utc
): ProviderOutcome => {
  const input = row.inputs.linkedinUrl.value
  const parsed = Identifier.parseLinkedIn(input, { bareSlugs: true })
  if (Either.isLeft(parsed)) {
    return new Rejected({ input, reason: `Fiber echoed an unreadable LinkedIn URL: ${parsed.left.reason}`, provider })
  }
  const key = parsed.right.key
  // Validation off: the row was decoded by its Schema and every field here is typed (validating a Found also
  // recompiles its parser on each call, since its fields hold classes).
  const provenance = (cost: number) =>
    new Provenance({ provider, endpoint: FiberAiApi.paths["batch/poll"], mode: "batch", observedAt, cost }, true)
  if (row.outputs === undefined) return new Rejected({ key, input, reason: rejectedReason, provider }, true)
  if (row.outputs === null) return new NotFound({ key, provenance: provenance(0) }, true)
  const emails = row.outputs.emails.map(emailOf)
  const phones = row.outputs.phoneNumbers.map(phoneOf)
  if (emails.length === 0 && phones.length === 0) return new NotFound({ key, provenance: provenance(0) }, true)
  const cost = FiberAiApi.price(deliveredFields(emails, phones, fields), "batch")
  return new Found({ key, emails, phones, provenance: provenance(cost) }, true)
}

/** People of a task Fiber is done with, whatever the outcome: each has (or will have) a row in the pages. */
export const finishedOf = (stats: FiberAiApi.OverallStats): number =>
  stats.numCompleted + stats.numFailed + stats.numRejected

/** A poll's view of the task, with the credits Fiber reported for it so far (`tally`, this poll included). */
export const statusOf = (ref: JobRef, output: FiberAiApi.PollBatchOutput, tally: Tally): JobStatus => {
  const { done, failed, canceled, overallStats: stats } = output
  const finished = finishedOf(stats)
  const state = done
    ? failed ? "failed" as const : canceled ? "canceled" as const : "completed" as const
    : finished > 0
    ? "running" as const
    : "queued" as const
  return new JobStatus({
    state,
    total: stats.totalPeopleToFetch,
    finished,
    ...creditsOf(ref, tally),
    ...(state === "failed" ? { message: "Fiber reports the task failed and will not retry it" } : {}),
    ...(state === "canceled" ? { message: `canceled; ${stats.numRemaining} people were not processed` } : {})
  })
}

/** Outcome of one `/single` answer. */
export const outcomeOfSingle = (
  person: Person,
  response: FiberAiApi.SingleResponse,
  fields: ReadonlyArray<Field>,
  observedAt: DateTime.Utc
): ProviderOutcome => {
  const { done, profile } = response.output
  if (profile.status === "failed" || (!done && profile.status !== "completed")) {
    return new Failed({
      key: person.key,
      provider,
      reason: profile.error ?? `Fiber's reveal ended ${profile.status}`
    })
  }
  const emails = [...profile.emails.map(emailOf), ...(profile.lowQualityEmails ?? []).map(lowQualityEmailOf)]
  const phones = profile.phoneNumbers.map(phoneOf)
  const reported = response.output.done && response.chargeInfo.method === "charged-now"
  const provenance = new Provenance({
    provider,
    endpoint: FiberAiApi.paths.single,
    mode: "sync",
    observedAt,
    cost: reported
      ? FiberAiApi.chargedBy(response.chargeInfo)
      : FiberAiApi.price(deliveredFields(emails, phones, fields), "sync"),
    estimated: !reported
  })
  return emails.length === 0 && phones.length === 0
    ? new NotFound({ key: person.key, provenance })
    : new Found({ key: person.key, emails, phones, provenance })
}
