/**
 * Our identifiers and fields as TheHog's, and back.
 */
import type * as Either from "effect/Either"
import type { Field } from "../../Contact.js"
import * as Identifier from "../../Identifier.js"
import * as TheHogApi from "../../TheHogApi.js"

/** Whether any email field is asked: TheHog's `contact.email` covers both work and personal emails. */
export const wantsEmail = (fields: ReadonlyArray<Field>): boolean =>
  fields.includes("work_email") || fields.includes("personal_email")

/** Our fields as TheHog's: `contact.email` covers both work and personal emails. */
export const requestFieldsOf = (
  fields: ReadonlyArray<Field>
): readonly [TheHogApi.RequestField, ...Array<TheHogApi.RequestField>] => {
  const email = wantsEmail(fields)
  const phone = fields.includes("phone")
  if (email && phone) return ["contact.email", "contact.phone"]
  return phone ? ["contact.phone"] : ["contact.email"]
}

/** The identifier object we send: the canonical LinkedIn URL, the address, the handle, the username. */
export const toWire = (identifier: Identifier.Identifier): TheHogApi.PersonIdentifier => {
  switch (identifier._tag) {
    case "LinkedInProfile":
      return { linkedin_url: identifier.url }
    case "EmailAddress":
      return { email: identifier.address }
    case "XHandle":
      return { x_handle: identifier.handle }
    case "GitHubUsername":
      return { github_username: identifier.username }
  }
}

/** Re-parses TheHog's echo of an identifier into ours, so results are keyed without any in-memory state. */
export const fromWire = (
  identifier: TheHogApi.PersonIdentifier
): Either.Either<Identifier.Identifier, Identifier.InvalidIdentifier> => {
  const [key, value] = TheHogApi.identifierEntry(identifier)
  switch (key) {
    case "linkedin_url":
      return Identifier.parseLinkedIn(value)
    case "email":
      return Identifier.parseEmail(value)
    case "x_handle":
      return Identifier.parseXHandle(value)
    case "github_username":
      return Identifier.parseGitHub(value)
  }
}
