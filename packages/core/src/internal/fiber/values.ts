/**
 * Fiber's contact values as ours: emails with their verdicts, phones, and the fields a reveal delivered (what
 * Fiber bills for).
 */
import { Email, type Field, fieldOfEmail, makePhone, type Phone } from "../../Contact.js"
import type * as FiberAiApi from "../../FiberAiApi.js"

// Values are built from responses already decoded by their Schema, so constructors skip a second validation.

/** An email of Fiber's main list: `status` gives the verdict; no status means `unknown`. */
export const emailOf = (item: FiberAiApi.EmailItem): Email =>
  new Email({ address: item.email.trim(), kind: item.type, verdict: item.status ?? "unknown" }, true)

/** An email of `lowQualityEmails`: failed Fiber's validation, so `risky` unless Fiber says `invalid`. */
export const lowQualityEmailOf = (item: FiberAiApi.EmailItem): Email =>
  new Email(
    { address: item.email.trim(), kind: item.type, verdict: item.status === "invalid" ? "invalid" : "risky" },
    true
  )

export const phoneOf = (item: FiberAiApi.PhoneItem): Phone => makePhone(item.number, item.type)

/** The requested fields these values fill: what Fiber bills for. */
export const deliveredFields = (
  emails: ReadonlyArray<Email>,
  phones: ReadonlyArray<Phone>,
  asked: ReadonlyArray<Field>
): ReadonlyArray<Field> => {
  const delivered = new Set<Field>()
  for (const email of emails) {
    const field = fieldOfEmail(email)
    if (field !== undefined) delivered.add(field)
  }
  if (phones.length > 0) delivered.add("phone")
  return asked.filter((field) => delivered.has(field))
}
