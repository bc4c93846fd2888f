import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import { Email, type Field, makePhone, Provenance } from "../src/Contact.js"
import * as CostModel from "../src/CostModel.js"
import * as Identifier from "../src/Identifier.js"
import { Failed, Found, NotFound } from "../src/PersonResult.js"

const key = Either.getOrThrow(Identifier.parseLinkedIn("https://www.linkedin.com/in/someone")).key
const provenance = new Provenance({
  provider: "p",
  endpoint: "batch",
  mode: "batch",
  observedAt: DateTime.unsafeMake(0),
  cost: 0
})
const found = (emails: ReadonlyArray<Email>, phones: ReadonlyArray<string> = []) =>
  new Found({ key, emails, phones: phones.map((n) => makePhone(n, "mobile")), provenance })
const notFound = new NotFound({ key, provenance })

/** Providers billed each way, priced per field (no bundling unless said). */
const offer = (
  provider: string,
  billing: CostModel.Offer["cost"]["billing"],
  prices: Partial<Record<Field, number>>,
  kinds: ReadonlyArray<Identifier.IdentifierKind> = ["linkedin"]
): CostModel.Offer => ({
  provider,
  identifierKinds: kinds,
  fields: Object.keys(prices) as Array<Field>,
  cost: { billing, maxPerPerson: (fields) => fields.reduce((n, f) => n + (prices[f] ?? 0), 0) }
})

/** `asked` asks of `field` at `provider`, `valid` of them valid, `risky` risky, the rest nothing. */
const counts = (
  provider: string,
  field: Field,
  asked: number,
  valid: number,
  risky = 0,
  kind: Identifier.IdentifierKind = "linkedin"
): CostModel.Counts => ({ provider, kind, field, asked, found: { valid, risky, unknown: 0, invalid: 0 } })

/** A small deterministic generator (mulberry32), for the Monte Carlo cross-check. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("CostModel", () => {
  it("tallies what each ask gave, per field, by the best verdict; failures say nothing", () => {
    const stats = CostModel.tally([
      {
        provider: "p",
        kind: "linkedin",
        fields: ["work_email", "personal_email", "phone"],
        outcome: found([
          new Email({ address: "a@acme.io", kind: "work", verdict: "risky" }),
          new Email({ address: "b@acme.io", kind: "work", verdict: "valid" })
        ], ["+14155551234"])
      },
      { provider: "p", kind: "linkedin", fields: ["work_email"], outcome: notFound },
      {
        provider: "p",
        kind: "linkedin",
        fields: ["work_email"],
        outcome: new Failed({ key, provider: "p", reason: "x" })
      }
    ])
    const of = (field: Field) => stats.find((c) => c.field === field)!
    assert.strictEqual(of("work_email").asked, 2)
    assert.deepStrictEqual(of("work_email").found, { valid: 1, risky: 0, unknown: 0, invalid: 0 })
    assert.strictEqual(of("personal_email").asked, 1)
    assert.strictEqual(Object.values(of("personal_email").found).reduce((a, b) => a + b, 0), 0)
    assert.strictEqual(of("phone").found.valid, 1)
    // adding up two tallies is the tally of both
    const twice = CostModel.combine(stats, stats)
    assert.strictEqual(twice.find((c) => c.field === "work_email")!.asked, 4)
    assert.strictEqual(twice.length, stats.length)
  })

  it("reads rates as the priors alone without history, and as the history once there is much of it", () => {
    const none = CostModel.ratesOf([])("p", "work_email", "linkedin")
    const prior = CostModel.referencePriors.fallback.work_email
    assert.closeTo(CostModel.foundRate(none), prior.found, 1e-9)
    assert.closeTo(CostModel.hitRate(none), prior.found * prior.verdicts.valid, 1e-9)
    const lots = CostModel.ratesOf([counts("p", "work_email", 10_000, 3_000, 1_000)])("p", "work_email", "linkedin")
    assert.closeTo(CostModel.hitRate(lots), 0.3, 0.001)
    assert.closeTo(CostModel.foundRate(lots), 0.4, 0.001)
    assert.strictEqual(lots.observed, 10_000)
    // a laxer stop policy accepts the risky ones too
    const lax = CostModel.ratesOf([counts("p", "work_email", 10_000, 3_000, 1_000)], {
      policy: { acceptAtLeast: { work_email: "risky", personal_email: "valid", phone: "valid" } }
    })("p", "work_email", "linkedin")
    assert.closeTo(CostModel.hitRate(lax), 0.4, 0.001)
  })

  it("charges as each billing model says", () => {
    const prices = { work_email: 2, phone: 3 }
    assert.strictEqual(CostModel.charge(offer("r", "per-request", prices), ["work_email", "phone"], []), 5)
    assert.strictEqual(CostModel.charge(offer("u", "upfront-per-person", prices), ["work_email", "phone"], []), 0)
    assert.strictEqual(
      CostModel.charge(offer("u", "upfront-per-person", prices), ["work_email", "phone"], ["phone"]),
      3
    )
    assert.strictEqual(CostModel.charge(offer("v", "per-value-delivered", prices), ["work_email"], ["work_email"]), 2)
    // per value found: what an ask costs over the chance of an accepted value
    const rates = CostModel.ratesOf([counts("r", "work_email", 1000, 250), counts("v", "work_email", 1000, 250, 250)])
    const r = CostModel.fieldPrice(offer("r", "per-request", prices), "work_email", "linkedin", rates)
    assert.closeTo(r.costPerValue, 2 / CostModel.hitRate(rates("r", "work_email", "linkedin")), 1e-9)
    const v = CostModel.fieldPrice(offer("v", "per-value-delivered", prices), "work_email", "linkedin", rates)
    const rv = rates("v", "work_email", "linkedin")
    assert.closeTo(v.costPerValue, (2 * CostModel.foundRate(rv)) / CostModel.hitRate(rv), 1e-9)
  })

  it("expects what a simulated waterfall spends, and its range holds the simulated spend", () => {
    // three providers billed the three ways, with bundles (a cap, one price for both emails)
    const capped: CostModel.Offer = {
      provider: "fiber-like",
      identifierKinds: ["linkedin"],
      fields: ["work_email", "personal_email", "phone"],
      cost: {
        billing: "upfront-per-person",
        maxPerPerson: (fs) => Math.min(5, fs.reduce((n, f) => n + (f === "phone" ? 3 : 2), 0))
      }
    }
    const perValue = offer("crust-like", "per-value-delivered", { work_email: 1, personal_email: 2, phone: 2 })
    const bundled: CostModel.Offer = {
      provider: "hog-like",
      identifierKinds: ["linkedin", "email"],
      fields: ["work_email", "personal_email", "phone"],
      cost: {
        billing: "per-request",
        maxPerPerson: (fs) =>
          (fs.includes("work_email") || fs.includes("personal_email") ? 1 : 0) + (fs.includes("phone") ? 2 : 0)
      }
    }
    const sequence = [capped, perValue, bundled]
    const fields: Array<Field> = ["work_email", "personal_email", "phone"]
    const truth: Record<string, Record<Field, readonly [number, number]>> = {
      "fiber-like": { work_email: [0.4, 0.15], personal_email: [0.25, 0.1], phone: [0.4, 0] },
      "crust-like": { work_email: [0.3, 0.15], personal_email: [0.3, 0.1], phone: [0.3, 0] },
      "hog-like": { work_email: [0.32, 0], personal_email: [0.2, 0], phone: [0.35, 0] }
    }
    // the history: 20,000 asks of every provider and field, drawn from the truth
    const next = random(7)
    const history: Array<CostModel.Counts> = []
    for (const provider of Object.keys(truth)) {
      for (const field of fields) {
        const [a, o] = truth[provider]![field]
        let valid = 0
        let risky = 0
        for (let i = 0; i < 20_000; i++) {
          const r = next()
          if (r < a) valid++
          else if (r < a + o) risky++
        }
        history.push(counts(provider, field, 20_000, valid, risky))
      }
    }
    const rates = CostModel.ratesOf(history)
    const people = 3_000
    const spend = CostModel.expectedSpend(sequence, fields, new Map([["linkedin", people]]), rates)

    // the waterfall itself, simulated person by person from the truth
    let simulated = 0
    for (let i = 0; i < people; i++) {
      const missing = new Set(fields)
      for (const provider of sequence) {
        const asked = fields.filter((f) => missing.has(f) && provider.fields.includes(f))
        const delivered: Array<Field> = []
        for (const f of asked) {
          const [a, o] = truth[provider.provider]![f]
          const r = next()
          if (r < a + o) delivered.push(f)
          if (r < a) missing.delete(f)
        }
        simulated += CostModel.charge(provider, asked, delivered)
      }
    }
    assert.isTrue(spend.low < spend.expected && spend.expected < spend.high)
    assert.isTrue(
      simulated >= spend.low && simulated <= spend.high,
      `simulated ${simulated} outside ${spend.low}..${spend.high}`
    )
    assert.closeTo(spend.expected / simulated, 1, 0.03)
    assert.closeTo(spend.byProvider.reduce((n, p) => n + p.expected, 0), spend.expected, 1e-6)
  })

  it("gives a wider range with little history than with much", () => {
    const sequence = [
      offer("v", "per-value-delivered", { work_email: 1 }),
      offer("r", "per-request", { work_email: 2 })
    ]
    const width = (asked: number) => {
      const spend = CostModel.expectedSpend(
        sequence,
        ["work_email"],
        new Map([["linkedin", 1000]]),
        CostModel.ratesOf([counts("v", "work_email", asked, asked / 2), counts("r", "work_email", asked, asked / 4)])
      )
      return (spend.high - spend.low) / spend.expected
    }
    assert.isTrue(width(20) > 2 * width(20_000), `${width(20)} vs ${width(20_000)}`)
  })

  it("orders providers by expected cost per value found, per identifier kind, keeping the given order on ties", () => {
    // "dear" charges every ask and rarely finds; "cheap" charges only what it finds
    const dear = offer("dear", "per-request", { work_email: 2, phone: 2 }, ["linkedin", "email"])
    const cheap = offer("cheap", "per-value-delivered", { work_email: 1, phone: 2 })
    const stats = [
      counts("dear", "work_email", 1000, 200),
      counts("dear", "phone", 1000, 200),
      counts("cheap", "work_email", 1000, 500),
      counts("cheap", "phone", 1000, 300)
    ]
    const choice = CostModel.chooseOrder([dear, cheap], ["work_email", "phone"], stats, {
      peopleByKind: new Map([["linkedin", 90], ["email", 10]])
    })
    assert.deepStrictEqual(choice.providers, ["cheap", "dear"])
    assert.deepStrictEqual(choice.given, ["dear", "cheap"])
    assert.strictEqual(choice.observed, 4000)
    const linkedin = choice.byKind.find((k) => k.kind === "linkedin")!
    assert.deepStrictEqual(linkedin.providers, ["cheap", "dear"])
    assert.isTrue(linkedin.expectedPerPerson < linkedin.givenPerPerson)
    const work = linkedin.fields.find((f) => f.field === "work_email")!.providers
    assert.isTrue(work[0]!.costPerValue < work[1]!.costPerValue)
    // people known by email only reach the provider that takes emails
    assert.deepStrictEqual(choice.byKind.find((k) => k.kind === "email")!.providers, ["dear"])

    // two providers alike in every way: the given order stays
    const twin = { ...cheap, provider: "twin" }
    const same = CostModel.chooseOrder(
      [twin, cheap],
      ["work_email"],
      [counts("cheap", "work_email", 100, 50), counts("twin", "work_email", 100, 50)]
    )
    assert.deepStrictEqual(same.providers, ["twin", "cheap"])
  })
})
