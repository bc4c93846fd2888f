/**
 * What TheHog knows of a person, found by LinkedIn URL, email, X handle or GitHub name: only `valid` emails
 * ("verified"), phones, profile and signals as asked; the item a job reports for one identifier; the charge of a
 * submission (per identifier and requested field, found or not).
 */
import { TheHogApi } from "@enrich/core/wire"
import type { Env } from "../Env.js"
import type { TruePerson } from "../Universe.js"
import { type Field, provider, type Sim } from "./sim.js"

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)

/** What a LinkedIn URL names: an `/in/` slug, another LinkedIn page, or not LinkedIn at all. */
const linkedInSlug = (url: string): { readonly slug: string } | { readonly problem: string } => {
  const match = /^(?:https?:\/\/)?(?:[a-z0-9-]+\.)*linkedin\.com\/([^?#]*)/i.exec(url.trim())
  if (match === null) return { problem: "Invalid identifier: linkedin_url must be a LinkedIn profile URL" }
  const segments = match[1]!.split("/").filter((s) => s !== "")
  if (segments[0]?.toLowerCase() !== "in" || segments[1] === undefined) {
    return { problem: "Unsupported LinkedIn URL: only /in/ profile URLs are supported" }
  }
  try {
    return { slug: decodeURIComponent(segments[1]) }
  } catch {
    return { problem: "Invalid identifier: linkedin_url is not a valid URL" }
  }
}

const resolve = (env: Env, identifier: TheHogApi.PersonIdentifier): TruePerson | { readonly problem: string } => {
  const [key, value] = TheHogApi.identifierEntry(identifier)
  let person: TruePerson | undefined
  switch (key) {
    case "linkedin_url": {
      const slug = linkedInSlug(value)
      if ("problem" in slug) return slug
      person = env.universe.bySlugOf(slug.slug)
      break
    }
    case "email":
      person = env.universe.byEmailOf(value.trim())
      break
    case "x_handle":
      person = env.universe.byXHandleOf(value.trim())
      break
    case "github_username":
      person = env.universe.byGitHubOf(value.trim())
      break
  }
  return person ?? { problem: "Person not found" }
}

/** What TheHog answers for one identifier, or the message of a failed item. */
export const lookup = (
  env: Env,
  identifier: TheHogApi.PersonIdentifier,
  fields: ReadonlyArray<Field>
): TheHogApi.EnrichmentData | { readonly problem: string } => {
  const person = resolve(env, identifier)
  if ("problem" in person) return person
  const known = env.universe.knowledge(provider, person)
  const wantEmail = fields.includes("contact.email")
  const wantPhone = fields.includes("contact.phone")
  const emails = wantEmail
    ? [known.workEmail, known.personalEmail].flatMap((e) => e !== undefined && e.verdict === "valid" ? [e.address] : [])
    : []
  const phones = wantPhone && known.phone !== undefined ? [known.phone] : []
  const extra = fields.includes("profile") || fields.includes("signals")
  if (emails.length === 0 && phones.length === 0 && !extra) return { problem: "No contact data found" }
  return {
    ...(wantEmail || wantPhone
      ? { contact: { ...(wantEmail ? { email: emails } : {}), ...(wantPhone ? { phone: phones } : {}) } }
      : {}),
    ...(fields.includes("profile")
      ? {
        profile: {
          firstName: capitalize(person.firstName),
          lastName: capitalize(person.lastName),
          company: person.company,
          title: null
        }
      }
      : {}),
    ...(fields.includes("signals") ? { signals: {} } : {})
  }
}

/** A job's item for one identifier: a transient failure per `itemFailureRate`, else the lookup's answer. */
export const itemOf = (
  { env, settings }: Sim,
  identifier: TheHogApi.PersonIdentifier,
  fields: ReadonlyArray<Field>
): TheHogApi.ResultItem => {
  if (env.chance(settings.itemFailureRate)) {
    return {
      identifier,
      status: "failed",
      error: { message: "Upstream provider timeout", code: "UPSTREAM_TIMEOUT" }
    }
  }
  const found = lookup(env, identifier, fields)
  return "problem" in found
    ? { identifier, status: "failed", error: { message: found.problem } }
    : { identifier, status: "success", data: found }
}

/** The credits one identifier costs for these fields. */
export const pricePerPerson = ({ settings }: Sim, fields: ReadonlyArray<Field>) =>
  fields.reduce((n, f) => n + settings.prices[f], 0)

/** Counts the identifiers as submitted and charges them; the total charged. */
export const charge = (
  sim: Sim,
  identifiers: ReadonlyArray<TheHogApi.PersonIdentifier>,
  fields: ReadonlyArray<Field>
) => {
  const { env } = sim
  const perPerson = pricePerPerson(sim, fields)
  for (const identifier of identifiers) {
    const [key, value] = TheHogApi.identifierEntry(identifier)
    env.counters.submitted(provider, `${key}:${value}`)
  }
  const total = perPerson * identifiers.length
  if (total > 0) env.counters.charge(provider, total)
  return total
}
