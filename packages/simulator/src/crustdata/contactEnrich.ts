/**
 * `POST /person/contact/enrich`, the synchronous endpoint: up to `maxSyncIdentifiers` LinkedIn URLs or business
 * emails, contact fields only, answered at once and charged per value found; `403` for self-serve plans.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { CrustdataApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { canonical, chargeFor, contactOf, personOf, syncWants, type Wants } from "./contacts.js"
import { api } from "./guards.js"
import { jsonBody, stringList } from "./input.js"
import { badRequest, errorResponse, insufficientCredits, okJson } from "./replies.js"
import { provider, type Sim } from "./sim.js"

interface Lookup {
  /** the identifiers, as sent */
  readonly ids: ReadonlyArray<string>
  readonly byUrl: boolean
  readonly want: Wants
}

/** A request body's identifiers and wanted values, or the 400 that refuses it. */
const validate = (body: Record<string, unknown> | undefined): Lookup | HttpServerResponse.HttpServerResponse => {
  if (body === undefined) return badRequest("Request body must be a JSON object")
  const byUrl = body.professional_network_profile_urls
  const byEmail = body.business_emails
  if ((byUrl === undefined) === (byEmail === undefined)) {
    return badRequest(
      "Exactly one identifier type must be provided: professional_network_profile_urls or business_emails"
    )
  }
  const ids = stringList(byUrl ?? byEmail)
  if (ids === undefined || ids.length === 0) return badRequest("No identifiers provided")
  if (ids.length > CrustdataApi.maxSyncIdentifiers) {
    return badRequest(`At most ${CrustdataApi.maxSyncIdentifiers} identifiers per request, got ${ids.length}`)
  }
  const available = { available_fields: CrustdataApi.syncFields }
  const fields = body.fields === undefined ? ["contact"] : stringList(body.fields)
  if (fields === undefined || fields.length === 0) return badRequest("fields must not be empty", available)
  const invalid = fields.filter((f) => !(CrustdataApi.syncFields as ReadonlyArray<string>).includes(f))
  if (invalid.length > 0) {
    return badRequest(`Only contact fields can be enriched: ${invalid.join(", ")}`, available)
  }
  return { ids, byUrl: byUrl !== undefined, want: syncWants(fields) }
}

/** One identifier's entry, counting the submission and charging what is found. */
const entryOf = (sim: Sim, { byUrl, want }: Lookup, id: string): CrustdataApi.ContactEnrichEntry => {
  const { env } = sim
  env.counters.submitted(provider, byUrl ? canonical(id) : id.toLowerCase())
  const person = byUrl ? personOf(env, id) : env.universe.byEmailOf(id)
  const contact = contactOf(env, person, want)
  const { business, personal, phones } = contact
  chargeFor(sim, contact)
  const found = person !== undefined && business.length + personal.length + phones.length > 0
  return {
    matched_on: id,
    match_type: byUrl ? "professional_network_profile_url" : "business_email",
    matches: found
      ? [{
        confidence_score: 1,
        person_data: {
          crustdata_person_id: 1_000_000 + person.index,
          contact: { business_emails: business, personal_emails: personal, phone_numbers: phones }
        }
      }]
      : []
  }
}

export const contactEnrich = (sim: Sim) =>
  api(sim, "person/contact/enrich", sim.settings.limits.contactEnrich, ({ key, request }) =>
    Effect.gen(function*() {
      if (sim.settings.syncDenied.has(key)) {
        return errorResponse(
          403,
          CrustdataApi.ErrorType.permission,
          "Contact enrichment is not enabled for this plan"
        )
      }
      const lookup = validate(yield* jsonBody(request))
      if (HttpServerResponse.isServerResponse(lookup)) return lookup
      if (sim.credits.exhausted) {
        return insufficientCredits()
      }
      const entries = lookup.ids.map((id) => entryOf(sim, lookup, id))
      const encoded = Schema.encodeSync(CrustdataApi.ContactEnrichResponse)(entries)
      return okJson(sim, encoded, () => encoded.map((e) => ({ ...e, matches: "none" })))
    }))
