/** What the TheHog test files share: policies that make retries and polling instant, people and a request. */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Backoff from "../../src/Backoff.js"
import type { Field } from "../../src/Contact.js"
import { EnrichRequest, Person } from "../../src/ContactProvider.js"
import * as Identifier from "../../src/Identifier.js"
import * as Polling from "../../src/Polling.js"

export const noRetries = Effect.provideService(Backoff.Backoff, { base: "100 millis", max: "1 second", times: 0 })
export const fastPolling = Effect.provideService(Polling.Polling, {
  initialDelay: "1 second",
  maxDelay: "5 seconds",
  deadline: "1 minute"
})

export const person = (kind: Identifier.IdentifierKind, input: string) => {
  const identifier = Either.getOrThrow(Identifier.parse(kind, input))
  return new Person({ key: identifier.key, identifier })
}

export const request = (people: ReadonlyArray<Person>, fields: ReadonlyArray<Field> = ["work_email", "phone"]) =>
  new EnrichRequest({
    people: people as [Person, ...Array<Person>],
    fields: fields as [Field, ...Array<Field>],
    idempotencyKey: "thehog-chunk-1"
  })
