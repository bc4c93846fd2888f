/**
 * What Crustdata knows of a person: the universe's knowledge for the provider, looked up by LinkedIn URL or
 * business email, as Crustdata's email entries, restricted to the requested kinds of value and charged per value.
 */
import { Identifier } from "@enrich/core"
import { CrustdataApi } from "@enrich/core/wire"
import * as Either from "effect/Either"
import type { Env } from "../Env.js"
import type { KnownEmail, TruePerson } from "../Universe.js"
import { type Base, provider } from "./sim.js"

/** Which kinds of value a request asks for. */
export interface Wants {
  readonly business: boolean
  readonly personal: boolean
  readonly phone: boolean
}

export interface Contact {
  readonly business: Array<CrustdataApi.EmailEntry>
  readonly personal: Array<CrustdataApi.EmailEntry>
  readonly phones: Array<string>
}

const emailStatus: Record<KnownEmail["verdict"], CrustdataApi.EmailStatus> = {
  valid: "deliverable",
  risky: "risky",
  unknown: "unknown",
  invalid: "undeliverable"
}

export const personOf = (env: Env, url: string): TruePerson | undefined =>
  Either.match(Identifier.parseLinkedIn(url), {
    onLeft: () => undefined,
    onRight: (profile) => (profile.path === "in" ? env.universe.bySlugOf(profile.slug) : undefined)
  })

export const canonical = (url: string): string =>
  Either.match(Identifier.parseLinkedIn(url), { onLeft: () => url.trim(), onRight: (profile) => profile.url })

const entry = (email: KnownEmail): CrustdataApi.EmailEntry => ({
  email: email.address,
  status: emailStatus[email.verdict]
})

/** What Crustdata knows of one person, restricted to the requested fields. */
export const contactOf = (env: Env, person: TruePerson | undefined, want: Wants): Contact => {
  const known = person === undefined ? undefined : env.universe.knowledge(provider, person)
  const business = want.business && known?.workEmail !== undefined ? [entry(known.workEmail)] : []
  const personal = want.personal && known?.personalEmail !== undefined ? [entry(known.personalEmail)] : []
  const phones = want.phone && known?.phone !== undefined ? [known.phone] : []
  return { business, personal, phones }
}

/** Charges the values found, at Crustdata's per-value prices. */
export const chargeFor = ({ credits }: Base, { business, personal, phones }: Contact) =>
  credits.charge(CrustdataApi.priceOf({
    businessEmails: business.length,
    personalEmails: personal.length,
    phones: phones.length
  }))

export const batchWants = (fields: ReadonlySet<CrustdataApi.BatchField>): Wants => ({
  business: fields.has("business_email"),
  personal: fields.has("personal_contact_info") || fields.has("personal_contact_info.personal_emails"),
  phone: fields.has("personal_contact_info") || fields.has("personal_contact_info.phone_numbers")
})

export const syncWants = (fields: ReadonlyArray<string>): Wants => {
  const all = fields.includes("contact")
  return {
    business: all || fields.includes("contact.business_emails"),
    personal: all || fields.includes("contact.personal_emails"),
    phone: all || fields.includes("contact.phone_numbers")
  }
}
