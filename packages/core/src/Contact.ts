/**
 * Contact values (emails, phones), the one verdict scale every provider is mapped onto, and the
 * provenance each value carries.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { parsePhoneNumberFromString } from "libphonenumber-js"

/** The fields a user can ask for. */
export const Field = Schema.Literal("work_email", "personal_email", "phone")
/** @since 0.1.0 @category Models */
export type Field = typeof Field.Type
/** @since 0.1.0 @category Models */
export const allFields: ReadonlyArray<Field> = ["work_email", "personal_email", "phone"]

/** @since 0.1.0 @category Models */
export const EmailKind = Schema.Literal("work", "personal", "other", "unknown", "generic")
/** @since 0.1.0 @category Models */
export type EmailKind = typeof EmailKind.Type

/**
 * One deliverability scale for every provider, best first. Crustdata `deliverable` → valid,
 * Fiber `lowQualityEmails` → risky unless they say invalid, TheHog "verified" → valid.
 */
export const Verdict = Schema.Literal("valid", "risky", "unknown", "invalid")
/** @since 0.1.0 @category Models */
export type Verdict = typeof Verdict.Type

/** Lower is better; used to choose between conflicting values. */
export const verdictRank: Record<Verdict, number> = { valid: 0, risky: 1, unknown: 2, invalid: 3 }

/** @since 0.1.0 @category Models */
export class Email extends Schema.Class<Email>("Email")({
  address: Schema.String,
  kind: EmailKind,
  verdict: Verdict
}) {}

/** @since 0.1.0 @category Models */
export const PhoneKind = Schema.Literal("mobile", "other", "unknown")
/** @since 0.1.0 @category Models */
export type PhoneKind = typeof PhoneKind.Type

/** @since 0.1.0 @category Models */
export class Phone extends Schema.Class<Phone>("Phone")({
  /** E.164 when the raw value parses as a phone number, else the raw value trimmed */
  number: Schema.String,
  kind: PhoneKind,
  /** false when the number could not be parsed to E.164 (kept rather than dropped, but never chosen first) */
  e164: Schema.Boolean
}) {}

/**
 * Normalises a provider's phone string to E.164 (libphonenumber-js). Numbers without a country code are
 * read in `defaultCountry` (US unless told) since that is how US-centric providers write them.
 *
 * @since 0.1.0 @category Constructors
 */
export const makePhone = (raw: string, kind: PhoneKind = "unknown", defaultCountry: "US" | "GB" = "US"): Phone => {
  const trimmed = raw.trim()
  const parsed = parsePhoneNumberFromString(trimmed, defaultCountry)
  // Validation off: every field is typed and built right here, and results pages build many of these.
  return parsed !== undefined && parsed.isPossible()
    ? new Phone({ number: parsed.number, kind, e164: true }, true)
    : new Phone({ number: trimmed, kind, e164: false }, true)
}

// Free-mail domains: an email of unknown kind at one of these is personal, elsewhere most likely work.
const freeMail = new Set([
  "gmail.com",
  "googlemail.com",
  "yahoo.com",
  "hotmail.com",
  "outlook.com",
  "live.com",
  "icloud.com",
  "me.com",
  "aol.com",
  "proton.me",
  "protonmail.com",
  "gmx.com",
  "gmx.de",
  "web.de",
  "yandex.ru",
  "mail.ru",
  "qq.com",
  "163.com"
])

/** @since 0.1.0 @category Constructors */
export const isFreeMailDomain = (address: string): boolean =>
  freeMail.has(address.slice(address.lastIndexOf("@") + 1).toLowerCase())

/** Which requested field an email fills, if any (generic role addresses such as info@ fill none). */
export const fieldOfEmail = (email: Email): Field | undefined => {
  switch (email.kind) {
    case "work":
      return "work_email"
    case "personal":
      return "personal_email"
    case "generic":
      return undefined
    case "other":
    case "unknown":
      return isFreeMailDomain(email.address) ? "personal_email" : "work_email"
  }
}

/** How a value was obtained. */
export const Mode = Schema.Literal("batch", "sync", "exhaustive")
/** @since 0.1.0 @category Models */
export type Mode = typeof Mode.Type

/** @since 0.1.0 @category Models */
export class Provenance extends Schema.Class<Provenance>("Provenance")({
  provider: Schema.String,
  endpoint: Schema.String,
  mode: Mode,
  observedAt: Schema.DateTimeUtc,
  /** credits this person cost at this provider (estimated from the cost model when the provider does not say) */
  cost: Schema.Number,
  /** `cost` is our estimate from the provider's price list: the provider reported no figure */
  estimated: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {}
