/**
 * What Fiber knows about a person, from the universe: the batch and `/single` reveal (the known values among the
 * requested fields), the exhaustive reveal (more vendors: some values the batch data lacks, risky and invalid
 * emails set apart), and which profiles cannot be resolved at all.
 */
import { type Contact } from "@enrich/core"
import { FiberAiApi } from "@enrich/core/wire"
import type { Env } from "../Env.js"
import { unit } from "../Random.js"
import type { TruePerson } from "../Universe.js"
import type { ProfileRef } from "./profiles.js"

type Field = Contact.Field

const emailItem = (
  address: string,
  type: "work" | "personal",
  verdict: FiberAiApi.EmailStatus,
  withStatus: boolean
): FiberAiApi.EmailItem =>
  // Fiber omits `status` when it has no verdict; the client reads an absent status as "unknown"
  withStatus && verdict !== "unknown" ? { email: address, type, status: verdict } : { email: address, type }

export interface Reveal {
  readonly outputs: FiberAiApi.Outputs | null
  readonly delivered: ReadonlyArray<Field>
}

/** The batch/single reveal of one person: the values Fiber knows among `fields`, and the fields delivered. */
export const reveal = (
  env: Env,
  person: TruePerson | undefined,
  fields: ReadonlyArray<Field>,
  withStatus: boolean
): Reveal => {
  if (person === undefined) return { outputs: null, delivered: [] as ReadonlyArray<Field> }
  const known = env.universe.knowledge("fiber", person)
  const emails: Array<FiberAiApi.EmailItem> = []
  const delivered: Array<Field> = []
  if (fields.includes("work_email") && known.workEmail !== undefined) {
    emails.push(emailItem(known.workEmail.address, "work", known.workEmail.verdict, withStatus))
    delivered.push("work_email")
  }
  if (fields.includes("personal_email") && known.personalEmail !== undefined) {
    emails.push(emailItem(known.personalEmail.address, "personal", known.personalEmail.verdict, withStatus))
    delivered.push("personal_email")
  }
  const phoneNumbers: Array<FiberAiApi.PhoneItem> = []
  if (fields.includes("phone") && known.phone !== undefined) {
    phoneNumbers.push({ number: known.phone, type: person.phoneKind })
    delivered.push("phone")
  }
  if (delivered.length === 0) return { outputs: null, delivered }
  return { outputs: { emails, phoneNumbers, exhaustive: false }, delivered }
}

/** An exhaustive reveal's profile and its price (the fields delivered in `emails`/`phoneNumbers` only). */
export interface ExhaustiveReveal {
  readonly profile: FiberAiApi.Profile
  readonly price: number
}

/**
 * Exhaustive: more vendors, so some values the batch data lacks (a share `extraShare` of them); risky/invalid
 * emails set apart.
 */
export const exhaustiveReveal = (
  env: Env,
  extraShare: number,
  person: TruePerson | undefined,
  fields: ReadonlyArray<Field>
): ExhaustiveReveal => {
  const emails: Array<FiberAiApi.EmailItem> = []
  const lowQualityEmails: Array<FiberAiApi.EmailItem> = []
  const phoneNumbers: Array<FiberAiApi.PhoneItem> = []
  const delivered: Array<Field> = []
  if (person !== undefined) {
    const seed = env.universe.seed
    const known = env.universe.knowledge("fiber", person)
    const extra = (field: string) => unit(seed, "fiber-exhaustive", person.index, field) < extraShare
    const extraVerdict = (field: string): FiberAiApi.EmailStatus =>
      unit(seed, "fiber-exhaustive-verdict", person.index, field) < 0.6 ? "valid" : "risky"
    const addEmail = (
      field: "work_email" | "personal_email",
      type: "work" | "personal",
      knownEmail: { readonly address: string; readonly verdict: FiberAiApi.EmailStatus } | undefined,
      address: string
    ) => {
      if (!fields.includes(field)) return
      const found = knownEmail ?? (extra(field) ? { address, verdict: extraVerdict(field) } : undefined)
      if (found === undefined) return
      if (found.verdict === "risky" || found.verdict === "invalid") {
        lowQualityEmails.push({ email: found.address, type, status: found.verdict })
      } else {
        emails.push(emailItem(found.address, type, found.verdict, true))
        delivered.push(field)
      }
    }
    addEmail("work_email", "work", known.workEmail, person.workEmail)
    addEmail("personal_email", "personal", known.personalEmail, person.personalEmail)
    if (fields.includes("phone") && (known.phone !== undefined || extra("phone"))) {
      phoneNumbers.push({ number: person.phone, type: person.phoneKind })
      delivered.push("phone")
    }
  }
  const profile: FiberAiApi.Profile = {
    emails,
    phoneNumbers,
    status: "completed",
    exhaustive: true,
    lowQualityEmails
  }
  return { profile, price: FiberAiApi.price(delivered, "exhaustive") }
}

/** The person behind a profile: Fiber's data covers `/in/` profiles only. */
export const personOf = (env: Env, profile: ProfileRef): TruePerson | undefined =>
  profile.path === "in" ? env.universe.bySlugOf(profile.slug) : undefined

/** The error of a profile that cannot be resolved (`/single` answers it at once, an exhaustive reveal early). */
export const unresolvable = "Could not resolve the LinkedIn profile"

/** Profiles whose URL fails healing: slugs starting with `unresolvable-`, and a `rejectShare` of the rest. */
export const unhealable = (env: Env, rejectShare: number, profile: ProfileRef): boolean =>
  profile.slug.startsWith("unresolvable-") || unit(env.universe.seed, "fiber-heal", profile.key) < rejectShare
