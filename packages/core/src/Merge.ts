/**
 * Turning many providers' outcomes for one person into one answer per field: every value is kept with its
 * provenance, and the best is chosen by verdict, then by the user's provider order.
 *
 * @since 0.1.0
 */
import type { Field, Provenance, Verdict } from "./Contact.js"
import { fieldOfEmail, verdictRank } from "./Contact.js"
import type { PersonKey } from "./Identifier.js"
import type { ProviderOutcome } from "./PersonResult.js"

/** One value for one field, from one provider. */
export interface Candidate {
  readonly field: Field
  readonly value: string
  /** emails: the provider's verdict on our scale; phones: valid when E.164, else unknown */
  readonly verdict: Verdict
  readonly phoneKind?: "mobile" | "other" | "unknown"
  readonly provenance: Provenance
}

/** When a field counts as filled, so that later providers are not asked for it. */
export interface StopPolicy {
  /** the worst verdict that stops the waterfall for this field (default "valid": risky is kept and we go on) */
  readonly acceptAtLeast: Readonly<Record<Field, Exclude<Verdict, "invalid">>>
}

/** @since 0.1.0 @category Constructors */
export const defaultStopPolicy: StopPolicy = {
  acceptAtLeast: { work_email: "valid", personal_email: "valid", phone: "valid" }
}

/** @since 0.1.0 @category Models */
export interface Merged {
  readonly key: PersonKey
  /** the chosen value per field; never an `invalid` one */
  readonly best: Partial<Record<Field, Candidate>>
  readonly candidates: ReadonlyArray<Candidate>
}

/** All values an outcome offers, as candidates. */
export const candidatesOf = (outcome: ProviderOutcome): ReadonlyArray<Candidate> => {
  if (outcome._tag !== "Found") return []
  const { provenance } = outcome
  const out: Array<Candidate> = []
  for (const email of outcome.emails) {
    const field = fieldOfEmail(email)
    if (field !== undefined) out.push({ field, value: email.address, verdict: email.verdict, provenance })
  }
  for (const phone of outcome.phones) {
    out.push({
      field: "phone",
      value: phone.number,
      verdict: phone.e164 ? "valid" : "unknown",
      phoneKind: phone.kind,
      provenance
    })
  }
  return out
}

/**
 * Chooses per field: never `invalid`; better verdict first; then the earlier provider in `order`;
 * then mobile phones before others.
 */
export const merge = (
  key: PersonKey,
  outcomes: ReadonlyArray<ProviderOutcome>,
  order: ReadonlyArray<string>
): Merged => {
  const candidates = outcomes.flatMap(candidatesOf)
  const rankOf = (provider: string) => {
    const i = order.indexOf(provider)
    return i === -1 ? order.length : i
  }
  const better = (a: Candidate, b: Candidate): boolean => {
    const byVerdict = verdictRank[a.verdict] - verdictRank[b.verdict]
    if (byVerdict !== 0) return byVerdict < 0
    const byProvider = rankOf(a.provenance.provider) - rankOf(b.provenance.provider)
    if (byProvider !== 0) return byProvider < 0
    return a.phoneKind === "mobile" && b.phoneKind !== "mobile"
  }
  const best: Partial<Record<Field, Candidate>> = {}
  for (const candidate of candidates) {
    if (candidate.verdict === "invalid") continue
    const current = best[candidate.field]
    if (current === undefined || better(candidate, current)) best[candidate.field] = candidate
  }
  return { key, best, candidates }
}

/** The fields still worth asking a next provider for, under `policy`. */
export const missingFields = (
  merged: Merged | undefined,
  wanted: ReadonlyArray<Field>,
  policy: StopPolicy = defaultStopPolicy
): ReadonlyArray<Field> =>
  wanted.filter((field) => {
    const best = merged?.best[field]
    return best === undefined || verdictRank[best.verdict] > verdictRank[policy.acceptAtLeast[field]]
  })
