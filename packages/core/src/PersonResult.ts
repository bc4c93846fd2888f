/**
 * The outcome for one person at one provider (or at input, for `Rejected` and `Duplicate`).
 * Every person submitted to a provider comes back as exactly one of these: nothing is silently lost.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { Email, Phone, Provenance } from "./Contact.js"
import { PersonKey } from "./Identifier.js"

/** @since 0.1.0 @category Models */
export class Found extends Schema.TaggedClass<Found>()("Found", {
  key: PersonKey,
  emails: Schema.Array(Email),
  phones: Schema.Array(Phone),
  provenance: Provenance
}) {}

/** The provider looked and had nothing for the fields asked. */
export class NotFound extends Schema.TaggedClass<NotFound>()("NotFound", {
  key: PersonKey,
  provenance: Provenance
}) {}

/** The provider could not process this person (error, job failure, missing from its output). */
export class Failed extends Schema.TaggedClass<Failed>()("Failed", {
  key: PersonKey,
  provider: Schema.String,
  reason: Schema.String
}) {}

/** Refused before any lookup: unparseable input, or a provider that could not resolve the identifier. */
export class Rejected extends Schema.TaggedClass<Rejected>()("Rejected", {
  key: Schema.optional(PersonKey),
  input: Schema.String,
  reason: Schema.String,
  provider: Schema.optional(Schema.String)
}) {}

/** The same person appeared earlier in the input (by `PersonKey`); `of` is the first row's number. */
export class Duplicate extends Schema.TaggedClass<Duplicate>()("Duplicate", {
  key: PersonKey,
  of: Schema.Number
}) {}

/** @since 0.1.0 @category Models */
export const PersonResult = Schema.Union(Found, NotFound, Failed, Rejected, Duplicate)
/** @since 0.1.0 @category Models */
export type PersonResult = typeof PersonResult.Type

/** What a provider's result stream emits: `Found`, `NotFound`, `Failed` or provider-side `Rejected`. */
export type ProviderOutcome = Found | NotFound | Failed | Rejected

/** @since 0.1.0 @category Accessors */
export const providerOf = (result: ProviderOutcome): string | undefined => {
  switch (result._tag) {
    case "Found":
    case "NotFound":
      return result.provenance.provider
    case "Failed":
      return result.provider
    case "Rejected":
      return result.provider
  }
}
