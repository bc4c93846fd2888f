/**
 * A completed job's results: one `BatchRecord` per submitted URL (values charged as they are written), as one
 * gzipped JSONL file and as parts of `partSize` records.
 */
import { CrustdataApi } from "@enrich/core/wire"
import * as Schema from "effect/Schema"
import { gzipSync } from "node:zlib"
import { batchWants, chargeFor, contactOf, personOf } from "./contacts.js"
import type { Job } from "./jobs.js"
import { withUnknownStatuses } from "./replies.js"
import type { Base } from "./sim.js"

export interface Results {
  readonly file: Uint8Array
  readonly parts: ReadonlyArray<Uint8Array>
  readonly resultCount: number
  readonly fulfilled: number
}

const gzipLines = (base: Base, records: ReadonlyArray<CrustdataApi.BatchRecord>) =>
  new Uint8Array(gzipSync(
    records.map((r) => withUnknownStatuses(base, JSON.stringify(Schema.encodeSync(CrustdataApi.BatchRecord)(r))) + "\n")
      .join("")
  ))

/** The records of a job, charging each person's values; `fulfilled` counts the records with any value. */
const recordsOf = (base: Base, job: Job) => {
  const want = batchWants(job.fields)
  let fulfilled = 0
  const records = job.urls.map((url): CrustdataApi.BatchRecord => {
    const person = personOf(base.env, url)
    const contact = contactOf(base.env, person, want)
    const { business, personal, phones } = contact
    const values = business.length + personal.length + phones.length
    if (values > 0) fulfilled++
    chargeFor(base, contact)
    const id = person === undefined ? null : 1_000_000 + person.index
    return {
      original_identifier: url,
      internal_id: id,
      data: {
        ...(person === undefined ? {} : { professional_network_url: person.linkedinUrl }),
        ...(id === null ? {} : { person_id: id }),
        business_email: business,
        personal_contact_info: { personal_emails: personal, phone_numbers: phones }
      }
    }
  })
  return { records, fulfilled }
}

export const resultsOf = (base: Base, job: Job): Results => {
  const { fulfilled, records } = recordsOf(base, job)
  const parts: Array<Uint8Array> = []
  for (let i = 0; i < records.length; i += base.settings.partSize) {
    parts.push(gzipLines(base, records.slice(i, i + base.settings.partSize)))
  }
  return { file: gzipLines(base, records), parts, resultCount: records.length, fulfilled }
}
