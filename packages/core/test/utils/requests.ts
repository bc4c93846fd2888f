/** People and chunks as provider tests build them. */
import * as Either from "effect/Either"
import type { Field } from "../../src/Contact.js"
import { chunkKey, EnrichRequest, Person } from "../../src/ContactProvider.js"
import * as Identifier from "../../src/Identifier.js"

/** Someone named by a LinkedIn profile URL (any form `parseLinkedIn` accepts). */
export const linkedInPerson = (url: string): Person => {
  const identifier = Either.getOrThrow(Identifier.parseLinkedIn(url))
  return new Person({ key: identifier.key, identifier })
}

/** The canonical URL of someone named by LinkedIn. */
export const urlOf = (p: Person): string => (p.identifier as Identifier.LinkedInProfile).url

export const allFields: ReadonlyArray<Field> = ["work_email", "personal_email", "phone"]

/** A chunk for `provider`, with the stable idempotency key the waterfall would give it. */
export const requestOf = (provider: string) =>
(
  who: ReadonlyArray<Person>,
  fields: ReadonlyArray<Field> = allFields
): EnrichRequest =>
  new EnrichRequest({
    people: who as [Person, ...Array<Person>],
    fields: fields as [Field, ...Array<Field>],
    idempotencyKey: chunkKey(provider, who.map((p) => p.key), fields)
  })
