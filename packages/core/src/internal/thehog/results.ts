/**
 * TheHog's answers as our outcomes, statuses and pages: items and sync answers → `ProviderOutcome`, an operation
 * → `JobStatus` (with what it cost, as reported or estimated), outcomes → pages with an index cursor.
 */
import type * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import { Email, type Field, fieldOfEmail, makePhone, type Mode, type Phone, Provenance } from "../../Contact.js"
import { type JobRef, JobStatus, type ResultPage } from "../../ContactProvider.js"
import { InvalidRequest } from "../../EnrichmentError.js"
import type * as Identifier from "../../Identifier.js"
import { Failed, Found, NotFound, type ProviderOutcome, Rejected } from "../../PersonResult.js"
import * as TheHogApi from "../../TheHogApi.js"
import { fromWire } from "./wire.js"

const provider = "thehog"
const endpoint = "/api/enrichments"

/** What one person's outcome is read with. */
export interface OutcomeContext {
  readonly fields: ReadonlyArray<Field>
  readonly mode: Mode
  readonly observedAt: DateTime.Utc
  /** credits this person cost */
  readonly cost: number
  /** `cost` is our price-list figure: TheHog reported none */
  readonly estimated: boolean
}

/**
 * TheHog returns verified values only, so every email is `valid`; it does not say work or personal, so the kind
 * is read from the domain (`fieldOfEmail`: free-mail → personal, else work). Only the fields asked for are kept.
 */
export const emailsOf = (raw: ReadonlyArray<string>, fields: ReadonlyArray<Field>): ReadonlyArray<Email> => {
  const seen = new Set<string>()
  const out: Array<Email> = []
  for (const value of raw) {
    const address = value.trim().toLowerCase()
    if (address === "" || !address.includes("@") || seen.has(address)) continue
    seen.add(address)
    const field = fieldOfEmail(new Email({ address, kind: "unknown", verdict: "valid" }))
    if (field === undefined || !fields.includes(field)) continue
    out.push(new Email({ address, kind: field === "personal_email" ? "personal" : "work", verdict: "valid" }))
  }
  return out
}

const phonesOf = (raw: ReadonlyArray<string>, fields: ReadonlyArray<Field>): ReadonlyArray<Phone> => {
  if (!fields.includes("phone")) return []
  const seen = new Set<string>()
  const out: Array<Phone> = []
  for (const value of raw) {
    if (value.trim() === "") continue
    const phone = makePhone(value)
    if (seen.has(phone.number)) continue
    seen.add(phone.number)
    out.push(phone)
  }
  return out
}

/** `data` of a sync answer or a successful item: Found, or NotFound when nothing asked for came back. */
export const outcomeOfData = (
  key: Identifier.PersonKey,
  data: TheHogApi.EnrichmentData | null | undefined,
  context: OutcomeContext
): Found | NotFound => {
  const provenance = new Provenance({
    provider,
    endpoint,
    mode: context.mode,
    observedAt: context.observedAt,
    cost: context.cost,
    estimated: context.estimated
  })
  const emails = emailsOf(data?.contact?.email ?? [], context.fields)
  const phones = phonesOf(data?.contact?.phone ?? [], context.fields)
  return emails.length === 0 && phones.length === 0
    ? new NotFound({ key, provenance })
    : new Found({ key, emails, phones, provenance })
}

/** A sync answer about `identifier` as its outcome (Rejected when the identifier cannot be read back). */
export const outcomeOfAnswer = (
  identifier: TheHogApi.PersonIdentifier,
  answer: TheHogApi.SyncResponse,
  context: OutcomeContext
): ProviderOutcome => {
  const parsed = fromWire(identifier)
  return Either.isLeft(parsed)
    ? new Rejected({ input: TheHogApi.identifierEntry(identifier)[1], reason: parsed.left.reason, provider })
    : outcomeOfData(parsed.right.key, answer.data, context)
}

/**
 * One batch item as an outcome: `success` → Found (or NotFound when nothing asked for came back); `failed` whose
 * message means "no data" → NotFound, "unsupported identifier" → Rejected by the provider, anything else → Failed.
 */
export const outcomeOfItem = (item: TheHogApi.ResultItem, context: OutcomeContext): ProviderOutcome => {
  const [, value] = TheHogApi.identifierEntry(item.identifier)
  const parsed = fromWire(item.identifier)
  if (Either.isLeft(parsed)) {
    return new Rejected({
      input: value,
      reason: `TheHog echoed an identifier we cannot read: ${parsed.left.reason}`,
      provider
    })
  }
  const key = parsed.right.key
  const hasData = item.data !== undefined && item.data !== null
  if (item.status === "success" || (item.status === "unknown" && hasData)) {
    return outcomeOfData(key, item.data, context)
  }
  const message = item.error?.message ?? (item.status === "unknown" ? "unknown item status" : "failed without a reason")
  if (TheHogApi.noDataPattern.test(message)) return outcomeOfData(key, undefined, context)
  if (TheHogApi.unsupportedPattern.test(message)) return new Rejected({ key, input: value, reason: message, provider })
  return new Failed({ key, provider, reason: message })
}

/** What a job cost, and whether TheHog said so (`estimated: false`) or the price list did. */
export interface Charge {
  readonly charged: number
  readonly estimated: boolean
}

/**
 * What an operation cost: `meta.cost.actual` when the operation reports it (unless the job is an Idempotency-Key
 * replay, which an earlier submit paid for), else what the submit booked. A `failed` operation is charged nothing
 * unless TheHog reported a charge for it (on the operation or at submission).
 */
export const chargeOf = (operation: TheHogApi.Operation, ref: JobRef, replayed: boolean): Charge => {
  const reported = operation.meta?.cost?.actual
  if (!replayed && reported !== undefined) return { charged: reported, estimated: false }
  if (operation.status === "failed" && ref.estimated) return { charged: 0, estimated: true }
  return { charged: ref.charged, estimated: ref.estimated }
}

/**
 * What one person of a finished job cost: an even share of a charge TheHog reported, else the price list.
 * (`perPerson` is the price list's figure for the job's fields.)
 */
export const personCostOf = (charge: Charge, ref: JobRef, replayed: boolean, perPerson: number) =>
  !charge.estimated && !replayed && ref.people > 0
    ? { cost: charge.charged / ref.people, estimated: false }
    : { cost: perPerson, estimated: true }

/** How a TheHog operation reads as our job status. */
export const jobStatusOf = (operation: TheHogApi.Operation, ref: JobRef, replayed: boolean): JobStatus => {
  const items = operation.result?.items.length
  const base = { total: ref.people, ...chargeOf(operation, ref, replayed), refunded: 0 }
  switch (operation.status) {
    case "queued":
      return new JobStatus({ ...base, state: "queued", finished: 0 })
    case "processing":
      return new JobStatus({
        ...base,
        state: "running",
        finished: Math.floor(((operation.progress ?? 0) / 100) * ref.people)
      })
    case "succeeded":
    case "partial_success":
      return new JobStatus({ ...base, state: "completed", finished: items ?? ref.people })
    case "failed":
      return new JobStatus({ ...base, state: "failed", message: operation.error?.message ?? "failed" })
    case "cancelled":
      return new JobStatus({ ...base, state: "canceled" })
    case "unknown":
      // a status we do not know yet: finished if it carries a result, otherwise still going
      return items !== undefined
        ? new JobStatus({ ...base, state: "completed", finished: items })
        : new JobStatus({ ...base, state: "running" })
  }
}

/** Outcomes go out in pages of this many items; the cursor is the index of the next item in `result.items`. */
export const pageSize = 25

/** The index a cursor names (0 without one), or InvalidRequest. */
export const parseCursor = (cursor: string | undefined, total: number): Either.Either<number, InvalidRequest> => {
  if (cursor === undefined) return Either.right(0)
  const n = Number(cursor)
  return Number.isInteger(n) && n >= 0 && n <= total && /^\d+$/.test(cursor)
    ? Either.right(n)
    : Either.left(new InvalidRequest({ provider, message: `not a TheHog result cursor: ${cursor}` }))
}

/** The outcomes from `start` on, in pages of `pageSize` (one empty page when there are none). */
export const pagesOf = (outcomes: ReadonlyArray<ProviderOutcome>, start: number): ReadonlyArray<ResultPage> => {
  const pages: Array<ResultPage> = []
  for (let from = start; from < outcomes.length; from += pageSize) {
    const to = Math.min(outcomes.length, from + pageSize)
    pages.push({ results: outcomes.slice(from, to), cursor: to < outcomes.length ? String(to) : undefined })
  }
  return pages.length === 0 ? [{ results: [], cursor: undefined }] : pages
}
