/**
 * One output row from what the ledger holds for its person: the status an export gives in each situation of a
 * run (finished or not), with the values merged in the run's provider order.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Route } from "@enrich/core"
import { Contact, Identifier, Journal, PersonResult } from "@enrich/core"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import { outputRowOf } from "../src/Export.js"
import { RunRow } from "../src/Ledger.js"
import * as Providers from "../src/Providers.js"

const plan: Route.Plan = {
  providers: (["fiber", "thehog"] as const).map(Providers.capabilitiesOf),
  fields: ["work_email", "phone"]
}
const identifier = Either.getOrThrow(Identifier.parse("linkedin", "https://www.linkedin.com/in/ada"))
const key = identifier.key
const row = (outcome: "ok" | "duplicate" | "rejected" = "ok") =>
  new RunRow({
    rowNumber: 7,
    columns: { linkedin_url: "https://www.linkedin.com/in/ada" },
    outcome,
    ...(outcome === "rejected" ? { reason: "bad URL" } : { key, identifier }),
    ...(outcome === "duplicate" ? { duplicateOf: 2 } : {})
  })

const provenance = (provider: string) =>
  new Contact.Provenance({ provider, endpoint: "batch", mode: "batch", observedAt: DateTime.unsafeMake(0), cost: 1 })
const at = (provider: string, outcome: PersonResult.ProviderOutcome): Journal.RunOutcome => ({
  provider,
  outcome,
  chunk: "c"
})
const foundAt = (provider: string) =>
  at(
    provider,
    new PersonResult.Found({
      key,
      emails: [new Contact.Email({ address: "ada@acme.io", kind: "work", verdict: "valid" })],
      phones: [],
      provenance: provenance(provider)
    })
  )
const notFoundAt = (provider: string) =>
  at(provider, new PersonResult.NotFound({ key, provenance: provenance(provider) }))
const failedAt = (provider: string) =>
  at(provider, new PersonResult.Failed({ key, provider, reason: "JobFailed: boom" }))
const aside = (provider: string, kind: "budget" | "failed", reason: string) =>
  new Journal.SetAside({ key, provider, kind, reason })

describe("Export.outputRowOf", () => {
  it("a rejected row keeps its reason; a duplicate gets its person's values and the line it repeats", () => {
    assert.deepStrictEqual(outputRowOf(plan, row("rejected"), [], []).status, "rejected")
    assert.strictEqual(outputRowOf(plan, row("rejected"), [], []).reason, "bad URL")
    const duplicate = outputRowOf(plan, row("duplicate"), [foundAt("fiber")], [])
    assert.strictEqual(duplicate.status, "duplicate")
    assert.strictEqual(duplicate.reason, "same person as line 2")
    assert.strictEqual(duplicate.values.work_email, "ada@acme.io")
  })

  it("found: values with the provider each came from", () => {
    const found = outputRowOf(plan, row(), [foundAt("fiber"), notFoundAt("thehog")], [])
    assert.strictEqual(found.status, "found")
    assert.strictEqual(found.values.provider_work_email, "fiber")
  })

  it("pending while a provider the person still goes to has not answered; not_found once every one did", () => {
    assert.strictEqual(outputRowOf(plan, row(), [], []).status, "pending")
    assert.strictEqual(outputRowOf(plan, row(), [notFoundAt("fiber")], []).status, "pending")
    assert.strictEqual(outputRowOf(plan, row(), [notFoundAt("fiber"), notFoundAt("thehog")], []).status, "not_found")
  })

  it("skipped when the budget kept them back; failed only when every provider that met them failed", () => {
    const skipped = outputRowOf(plan, row(), [notFoundAt("fiber")], [aside("thehog", "budget", "budget")])
    assert.strictEqual(skipped.status, "skipped")
    const failed = outputRowOf(plan, row(), [failedAt("fiber")], [aside("thehog", "failed", "stalled: x")])
    assert.strictEqual(failed.status, "failed")
    assert.strictEqual(failed.reason, "fiber: JobFailed: boom; thehog: stalled: x")
    const mixed = outputRowOf(plan, row(), [failedAt("fiber"), notFoundAt("thehog")], [])
    assert.strictEqual(mixed.status, "not_found")
  })
})
