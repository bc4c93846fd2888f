/**
 * Crustdata's answers as outcomes: the records of a results file in pages (resumable after a cursor, everyone
 * submitted accounted for once), and the sync endpoint's entries in input order. Crustdata reports no charge: each
 * outcome's cost is our figure from its price list, marked `estimated`.
 */
import * as Chunk from "effect/Chunk"
import type * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { Email, makePhone, Provenance, type Verdict } from "../../Contact.js"
import type { ResultPage } from "../../ContactProvider.js"
import * as CrustdataApi from "../../CrustdataApi.js"
import type { EnrichmentError } from "../../EnrichmentError.js"
import * as Identifier from "../../Identifier.js"
import type { PersonKey } from "../../Identifier.js"
import { Failed, Found, NotFound, type ProviderOutcome } from "../../PersonResult.js"

const provider = "crustdata"

export const batchEndpoint = "/batch/person/contact/enrich"
export const syncEndpoint = "/person/contact/enrich"

const verdictOf: Record<CrustdataApi.EmailStatus, Verdict> = {
  deliverable: "valid",
  risky: "risky",
  unknown: "unknown",
  undeliverable: "invalid"
}

interface Contact {
  readonly business: ReadonlyArray<CrustdataApi.EmailEntry>
  readonly personal: ReadonlyArray<CrustdataApi.EmailEntry>
  readonly phones: ReadonlyArray<string>
}

export const contactOutcome = (
  key: PersonKey,
  contact: Contact,
  endpoint: string,
  mode: "batch" | "sync",
  observedAt: DateTime.Utc
): Found | NotFound => {
  // Validation off: built from records already decoded by their Schema, every field typed here (validating a
  // Found also recompiles its parser on each call, since its fields hold classes).
  const email = (kind: "work" | "personal") => (entry: CrustdataApi.EmailEntry) =>
    new Email({ address: entry.email.trim(), kind, verdict: verdictOf[entry.status] }, true)
  const business = contact.business.filter((e) => e.email.trim() !== "").map(email("work"))
  const personal = contact.personal.filter((e) => e.email.trim() !== "").map(email("personal"))
  const phones = contact.phones.filter((p) => p.trim() !== "").map((p) => makePhone(p, "unknown"))
  const cost = CrustdataApi.priceOf({
    businessEmails: business.length,
    personalEmails: personal.length,
    phones: phones.length
  })
  // Crustdata reports no charge per record or job: the cost is our price-list figure
  const provenance = new Provenance({ provider, endpoint, mode, observedAt, cost, estimated: true }, true)
  return business.length + personal.length + phones.length === 0
    ? new NotFound({ key, provenance }, true)
    : new Found({ key, emails: [...business, ...personal], phones, provenance }, true)
}

export const keyOfUrl = (url: string): PersonKey | undefined =>
  Either.match(Identifier.parseLinkedIn(url), { onLeft: () => undefined, onRight: (profile) => profile.key })

/**
 * A job's records as pages of `pageSize`, after the first `skip` records; the cursor of a page is the index of
 * the record after it. Everyone in `urls` comes out once: as found in the file, else `Failed` on the last page.
 */
export const pages = (
  records: Stream.Stream<CrustdataApi.BatchRecord, EnrichmentError>,
  options: {
    readonly jobId: string
    readonly urls: ReadonlyArray<string>
    readonly skip: number
    readonly pageSize: number
    readonly observedAt: DateTime.Utc
  }
): Stream.Stream<ResultPage, EnrichmentError> =>
  Stream.suspend(() => {
    const { skip } = options
    const submitted = new Map<PersonKey, string>()
    // Crustdata echoes the submitted URL verbatim: its key is looked up instead of parsed again per record.
    const keyBySubmittedUrl = new Map<string, PersonKey>()
    for (const url of options.urls) {
      const key = keyOfUrl(url)
      if (key !== undefined) {
        submitted.set(key, url)
        keyBySubmittedUrl.set(url, key)
      }
    }
    // keys already accounted for, including those of skipped lines, so a resumed stream emits no one twice
    const seen = new Set<PersonKey>()
    const accept = (record: CrustdataApi.BatchRecord): ProviderOutcome | undefined => {
      const key = keyBySubmittedUrl.get(record.original_identifier) ?? keyOfUrl(record.original_identifier)
      if (key === undefined || seen.has(key) || (submitted.size > 0 && !submitted.has(key))) return undefined
      seen.add(key)
      return contactOutcome(
        key,
        {
          business: record.data.business_email,
          personal: record.data.personal_contact_info.personal_emails,
          phones: record.data.personal_contact_info.phone_numbers
        },
        batchEndpoint,
        "batch",
        options.observedAt
      )
    }
    const missing = (): Array<ProviderOutcome> =>
      [...submitted.keys()].filter((key) => !seen.has(key)).map((key) =>
        new Failed({ key, provider, reason: `not in Crustdata's results file for batch ${options.jobId}` })
      )
    let lastEmitted = false
    const paged = records.pipe(
      Stream.zipWithIndex,
      // Records before the cursor are only accounted for (`accept` marks them seen); chunk by chunk, no effect
      // per record.
      Stream.mapChunks((chunk) =>
        Chunk.filter(chunk, ([record, index]) => {
          if (index >= skip) return true
          accept(record)
          return false
        })
      ),
      Stream.grouped(options.pageSize),
      Stream.zipWithNext,
      Stream.map(([group, next]): ResultPage => {
        const lines = [...group]
        const outcomes = lines.flatMap(([record]) => {
          const outcome = accept(record)
          return outcome === undefined ? [] : [outcome]
        })
        if (Option.isSome(next)) return { results: outcomes, cursor: String(lines[lines.length - 1]![1] + 1) }
        lastEmitted = true
        return { results: [...outcomes, ...missing()], cursor: undefined }
      })
    )
    return Stream.concat(
      paged,
      Stream.suspend(() => (lastEmitted ? Stream.empty : Stream.make({ results: missing(), cursor: undefined })))
    )
  })

/** The sync answer for `people`, in their order: matched by the echoed URL, else by position, else `Failed`. */
export const syncOutcomes = (
  people: ReadonlyArray<{ readonly key: PersonKey }>,
  entries: CrustdataApi.ContactEnrichResponse,
  observedAt: DateTime.Utc
): Array<ProviderOutcome> => {
  const byKey = new Map<PersonKey, CrustdataApi.ContactEnrichEntry>()
  for (const entry of entries) {
    const key = keyOfUrl(entry.matched_on)
    if (key !== undefined && !byKey.has(key)) byKey.set(key, entry)
  }
  return people.map(({ key }, index): ProviderOutcome => {
    // matched by the echoed URL; by position (documented input order) when the echo is not a URL we parse
    const entry = byKey.get(key) ?? (entries.length === people.length ? entries[index] : undefined)
    if (entry === undefined) return new Failed({ key, provider, reason: "not in Crustdata's response" })
    const best = [...entry.matches].sort((a, b) => b.confidence_score - a.confidence_score)[0]
    const contact = best?.person_data.contact
    return contactOutcome(
      key,
      {
        business: contact?.business_emails ?? [],
        personal: contact?.personal_emails ?? [],
        phones: contact?.phone_numbers ?? []
      },
      syncEndpoint,
      "sync",
      observedAt
    )
  })
}
