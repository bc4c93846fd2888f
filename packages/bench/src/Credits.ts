/**
 * Credits: what the waterfall (fiber, crustdata, thehog) spends on a simulator, against the minimum for the same
 * provider order and stop policy (a perfect client, from the universe's truth and the simulators' billing
 * rules), against the any-order oracle (informative), and against asking every provider about everyone. Spend
 * is read from the simulators' counters (charged minus refunded).
 *
 * Then the cost model (issue 17): the user-order run, on the worker's SQLite ledger, teaches the statistics
 * (`HitStats`); the same people are run again with `order: "auto"` (against the oracle, fill rates against the
 * user-order run); and the next people of the universe, never asked before, are estimated
 * (`CostModel.expectedSpend` in the order auto chooses) and then run in that order.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type { Budget, Journal } from "@enrich/core"
import { Contact, CostModel, Merge, Polling, TheHogProvider, Waterfall } from "@enrich/core"
import { CrustdataApi, FiberAiApi } from "@enrich/core/wire"
import type { Universe } from "@enrich/simulator"
import { serve } from "@enrich/simulator/node"
import type { Ledger } from "@enrich/worker"
import { HitStats, Providers, Sql } from "@enrich/worker"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as NodePath from "node:path"
import {
  clients,
  figure,
  fixed,
  ledger,
  memoryJournal,
  peopleOf,
  type ProviderName,
  say,
  scaledPolling,
  tempDir
} from "./Common.js"

export interface Options {
  readonly people: number
  readonly seed: number
  readonly timeScale: number
}

const order: ReadonlyArray<ProviderName> = ["fiber", "crustdata", "thehog"]
const fields = Contact.allFields as [Contact.Field, ...Array<Contact.Field>]

/** Lower is better; `invalid` never fills a field (the merge drops it). */
const rank: Record<Universe.Verdict, number> = { valid: 0, risky: 1, unknown: 2, invalid: 3 }

/** What asking `provider` for exactly `asked` costs when every asked field is delivered. */
const costOf = (provider: ProviderName, asked: ReadonlyArray<Contact.Field>): number => {
  if (asked.length === 0) return 0
  switch (provider) {
    case "fiber":
      return FiberAiApi.price(asked, "batch")
    case "crustdata":
      return CrustdataApi.priceOf({
        businessEmails: asked.includes("work_email") ? 1 : 0,
        personalEmails: asked.includes("personal_email") ? 1 : 0,
        phones: asked.includes("phone") ? 1 : 0
      })
    case "thehog":
      return TheHogProvider.creditsPerPerson(asked)
  }
}

/**
 * The any-order oracle: knowing what every provider would reveal, it gets each field at the best verdict any
 * provider delivers (what the waterfall ends with, since it only stops early on a valid value), asking each
 * provider only for fields it will deliver, at the least total cost over all assignments of fields to providers
 * in any order.
 */
export const oracleMinimum = (universe: Universe.Universe, n: number) => {
  let total = 0
  const filled = fields.map(() => 0)
  for (const person of universe.people.slice(0, n)) {
    const knowledge = order.map((p) => universe.knowledge(p, person))
    // what the provider's simulator would reveal for the field (TheHog only ever returns valid emails)
    const verdictOf = (i: number, field: Contact.Field): number | undefined => {
      const value = revealed(order[i]!, knowledge[i]!, [field])[0]
      return value === undefined || value.verdict === "invalid" ? undefined : rank[value.verdict]
    }
    // per field, the providers that have it at the best verdict available
    const choices = fields.map((field) => {
      const verdicts = knowledge.map((_, i) => verdictOf(i, field))
      const best = Math.min(...verdicts.map((v) => v ?? Infinity))
      return Number.isFinite(best) ? order.filter((_, i) => verdicts[i] === best) : []
    })
    choices.forEach((c, i) => filled[i]! += c.length > 0 ? 1 : 0)
    let cheapest = Infinity
    const assign = (i: number, asked: Map<ProviderName, Array<Contact.Field>>) => {
      if (i === fields.length) {
        let cost = 0
        for (const [provider, list] of asked) cost += costOf(provider, list)
        cheapest = Math.min(cheapest, cost)
        return
      }
      if (choices[i]!.length === 0) return assign(i + 1, asked)
      for (const provider of choices[i]!) {
        const list = asked.get(provider) ?? []
        asked.set(provider, [...list, fields[i]!])
        assign(i + 1, asked)
        asked.set(provider, list)
      }
    }
    assign(0, new Map())
    total += cheapest
  }
  return { credits: total, filled: fields.map((f, i) => `${f} ${filled[i]}`).join(", ") }
}

/**
 * What each provider takes and offers, as its adapter's capabilities say (`FiberAiProvider.capabilities`,
 * `TheHogProvider.capabilities`, `CrustdataProvider.capabilities`); the bench's people are LinkedIn URLs.
 */
const offers: Record<
  ProviderName,
  { readonly kinds: ReadonlyArray<string>; readonly fields: ReadonlyArray<Contact.Field> }
> = {
  fiber: { kinds: ["linkedin"], fields: Contact.allFields },
  crustdata: { kinds: ["linkedin"], fields: Contact.allFields },
  thehog: { kinds: ["linkedin", "email", "x", "github"], fields: Contact.allFields }
}

/** One value a simulator reveals for one asked field, with the verdict the client reads from it. */
interface Revealed {
  readonly field: Contact.Field
  readonly verdict: Contact.Verdict
}

/**
 * What `provider`'s simulator returns for `asked`, as the client reads it: Fiber's batch `reveal` and Crustdata's
 * records give every known value asked for, whatever its verdict (Fiber's `status`, Crustdata's
 * deliverable/risky/unknown/undeliverable map one to one; absent status is `unknown`); TheHog returns only
 * `valid` emails; phones are E.164, so `valid` under the merge.
 */
const revealed = (
  provider: ProviderName,
  known: Universe.Knowledge,
  asked: ReadonlyArray<Contact.Field>
): Array<Revealed> => {
  const out: Array<Revealed> = []
  const email = (field: Contact.Field, value: Universe.KnownEmail | undefined) => {
    if (!asked.includes(field) || value === undefined) return
    if (provider === "thehog" && value.verdict !== "valid") return
    out.push({ field, verdict: value.verdict })
  }
  email("work_email", known.workEmail)
  email("personal_email", known.personalEmail)
  if (asked.includes("phone") && known.phone !== undefined) out.push({ field: "phone", verdict: "valid" })
  return out
}

/**
 * What the simulator nets for one person asked `asked` and revealing `values`: Fiber charges the batch price of
 * `asked` up front and refunds down to the price of the fields delivered (all of it when nothing is); Crustdata
 * charges `priceOf` the values delivered; TheHog charges per identifier submitted for the requested fields,
 * found or not.
 */
const billed = (provider: ProviderName, asked: ReadonlyArray<Contact.Field>, values: ReadonlyArray<Revealed>) => {
  const count = (field: Contact.Field) => values.filter((v) => v.field === field).length
  switch (provider) {
    case "fiber":
      return values.length === 0 ? 0 : FiberAiApi.price(values.map((v) => v.field), "batch")
    case "crustdata":
      return CrustdataApi.priceOf({
        businessEmails: count("work_email"),
        personalEmails: count("personal_email"),
        phones: count("phone")
      })
    case "thehog":
      return TheHogProvider.creditsPerPerson(asked)
  }
}

/** One person under the same-order model: the best verdict held per field, and what each provider was asked. */
export interface ModelPerson {
  readonly have: Partial<Record<Contact.Field, Contact.Verdict>>
  readonly asked: Partial<Record<ProviderName, ReadonlyArray<Contact.Field>>>
}

/**
 * The same-order minimum: what a perfect client following the waterfall's order and default stop policy pays.
 * Per person, each provider in turn (if it takes the identifier) is asked only the fields it offers that are
 * still missing under the policy (a field stops on `valid`; `risky`/`unknown` are kept and the next provider
 * is asked; `invalid` never fills), billed exactly as its simulator bills, and what it reveals is merged as the
 * waterfall merges (the best verdict wins; `invalid` is dropped).
 */
export const sameOrderMinimum = (
  universe: Universe.Universe,
  n: number,
  providers: ReadonlyArray<ProviderName> = order
) => {
  const policy = Merge.defaultStopPolicy
  const credits: Record<ProviderName, number> = { fiber: 0, crustdata: 0, thehog: 0 }
  const people: Array<ModelPerson> = []
  for (const person of universe.people.slice(0, n)) {
    const have: Partial<Record<Contact.Field, Contact.Verdict>> = {}
    const asked: Partial<Record<ProviderName, ReadonlyArray<Contact.Field>>> = {}
    for (const provider of providers) {
      if (!offers[provider].kinds.includes("linkedin")) continue
      const missing = fields.filter((field) => {
        const held = have[field]
        return offers[provider].fields.includes(field) &&
          (held === undefined || Contact.verdictRank[held] > Contact.verdictRank[policy.acceptAtLeast[field]])
      })
      if (missing.length === 0) continue
      asked[provider] = missing
      const values = revealed(provider, universe.knowledge(provider, person), missing)
      credits[provider] += billed(provider, missing, values)
      for (const { field, verdict } of values) {
        const held = have[field]
        if (verdict === "invalid") continue
        if (held === undefined || Contact.verdictRank[verdict] < Contact.verdictRank[held]) have[field] = verdict
      }
    }
    people.push({ have, asked })
  }
  const filled = (field: Contact.Field) => people.filter((p) => p.have[field] !== undefined).length
  return {
    credits: order.reduce((sum, p) => sum + credits[p], 0),
    byProvider: credits,
    people,
    filled: fields.map((f) => `${f} ${filled(f)}`).join(", ")
  }
}

/**
 * Where the waterfall and the same-order model disagree, per person: a field's chosen verdict, or the providers
 * asked. Empty when the model (and the waterfall) are right.
 */
const disagreements = (
  universe: Universe.Universe,
  n: number,
  model: ReadonlyArray<ModelPerson>,
  result: Waterfall.Collected
): Array<string> => {
  const out: Array<string> = []
  peopleOf(universe, n).forEach((person, i) => {
    const modelled = model[i]!
    const merged = result.merged.get(person.key)
    for (const field of fields) {
      const got = merged?.best[field]?.verdict
      if (got !== modelled.have[field]) {
        out.push(`${person.key} ${field}: waterfall ${got ?? "none"}, model ${modelled.have[field] ?? "none"}`)
      }
    }
    const providersAsked = new Set(
      (result.outcomes.get(person.key) ?? []).map((o) =>
        o._tag === "Found" || o._tag === "NotFound" ? o.provenance.provider : o.provider
      )
    )
    for (const provider of order) {
      if (providersAsked.has(provider) !== (modelled.asked[provider] !== undefined)) {
        out.push(
          `${person.key} ${provider}: waterfall ${providersAsked.has(provider) ? "asked" : "did not ask"}, model ` +
            `${modelled.asked[provider] === undefined ? "does not" : `asks ${modelled.asked[provider]!.join("+")}`}`
        )
      }
    }
  })
  return out
}

/** How a spend runs: its people (default the universe's first), journal, and order. */
interface SpendOptions {
  /** the first person of the universe in the list (default 0) */
  readonly from?: number
  readonly journal?: Layer.Layer<Journal.Journal | Budget.Budget, Ledger.LedgerError>
  readonly order?: "given" | "auto"
  readonly statistics?: CostModel.Statistics
}

/** Runs the waterfall over `providers` on a fresh simulator; the credits its counters saw. */
const spend = (providers: ReadonlyArray<ProviderName>, options: Options, how: SpendOptions = {}) =>
  Effect.gen(function*() {
    const from = how.from ?? 0
    const served = yield* serve({
      seed: options.seed,
      timeScale: options.timeScale,
      // room for a second list of other people (the estimate's)
      universe: { size: 2 * options.people }
    })
    const env = served.simulators.env
    let chosen: CostModel.OrderChoice | undefined
    const result = yield* Waterfall.runCollecting({
      runId: `credits-${providers.join("-")}-${how.order ?? "given"}-${from}`,
      people: peopleOf(env.universe, from + options.people).slice(from),
      providers,
      fields,
      ...(how.order === undefined ? {} : { order: how.order }),
      ...(how.statistics === undefined ? {} : { statistics: how.statistics }),
      onEvent: (event) =>
        Effect.sync(() => {
          if (event._tag === "OrderChosen") chosen = event.choice
        })
    }).pipe(
      Effect.provide(clients(served.url, options.timeScale, providers)),
      Effect.provide(how.journal ?? memoryJournal),
      Effect.provideService(Polling.Polling, scaledPolling(options.timeScale))
    )
    const filledCount = (field: Contact.Field) =>
      [...result.merged.values()].filter((m) => m.best[field] !== undefined).length
    return {
      credits: order.reduce((n, p) => n + env.counters.netCredits(p), 0),
      byProvider: Object.fromEntries(order.map((p) => [p, env.counters.netCredits(p)])) as Record<ProviderName, number>,
      universe: env.universe,
      result,
      chosen,
      filledBy: Object.fromEntries(fields.map((f) => [f, filledCount(f)])) as Record<Contact.Field, number>,
      filled: fields.map((f) => `${f} ${filledCount(f)}`).join(", ")
    }
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

const perProvider = (credits: Record<ProviderName, number>) => order.map((p) => `${p} ${credits[p]}`).join(", ")

/** Every order of `items`. */
const permutations = <A>(items: ReadonlyArray<A>): Array<Array<A>> =>
  items.length <= 1 ?
    [[...items]] :
    items.flatMap((item, i) =>
      permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])
    )

export const run = (options: Options) =>
  Effect.gen(function*() {
    // the user-order run, on the worker's SQLite ledger: what it answers is the history the cost model learns from
    const file = NodePath.join(yield* tempDir("credits"), "ledger.db")
    const waterfall = yield* spend(order, options, { journal: ledger(file) })
    let everyone = 0
    for (const provider of order) everyone += (yield* spend([provider], options)).credits
    const sameOrder = sameOrderMinimum(waterfall.universe, options.people)
    const oracle = oracleMinimum(waterfall.universe, options.people)
    yield* say(`  ${options.people} people, all fields; filled by the waterfall: ${waterfall.filled}`)
    yield* say(`    by the same-order minimum: ${sameOrder.filled}; by the any-order oracle: ${oracle.filled}`)
    yield* say(
      `  credits: waterfall ${waterfall.credits} (${perProvider(waterfall.byProvider)}), same-order minimum ` +
        `${sameOrder.credits} (${perProvider(sameOrder.byProvider)})`
    )
    yield* say(`    any-order oracle minimum ${oracle.credits}, every provider for everyone ${everyone}`)
    const differ = disagreements(waterfall.universe, options.people, sameOrder.people, waterfall.result)
    if (differ.length > 0) {
      yield* say(`  the waterfall and the same-order model disagree ${differ.length} times, e.g.:`)
      for (const line of differ.slice(0, 5)) yield* say(`    ${line}`)
    }
    const vsSameOrder = waterfall.credits / sameOrder.credits
    const vsOracle = waterfall.credits / oracle.credits
    const vsEveryone = waterfall.credits / everyone
    yield* say(
      figure("credits waterfall vs same-order minimum", `${fixed(vsSameOrder)}x`, "<= 1.05", vsSameOrder <= 1.05)
    )
    yield* say(
      figure("credits waterfall vs any-order oracle minimum", `${fixed(vsOracle)}x`, "none, 1.00 is ideal", undefined)
    )
    yield* say(
      figure("credits waterfall vs every provider for everyone", `${fixed(vsEveryone)}x`, "< 1", vsEveryone < 1)
    )

    // --- the cost model (issue 17): learnt from the user-order run's answers in the ledger
    const statistics = yield* HitStats.hitStats().pipe(Effect.provide(Sql.layerSqlite(file)))
    const asked = statistics.reduce((n, c) => n + c.asked, 0)
    const auto = yield* spend(order, options, { order: "auto", statistics })
    const chosen = auto.chosen!
    const linkedin = chosen.byKind.find((k) => k.kind === "linkedin")
    yield* say(
      `  auto order (learnt from the user-order run: ${asked} asks): ${chosen.providers.join(" → ")}, expected ` +
        `${fixed(linkedin?.expectedPerPerson ?? NaN)} credits a person (user order ${
          fixed(linkedin?.givenPerPerson ?? NaN)
        })`
    )
    yield* say(`    credits ${auto.credits} (${perProvider(auto.byProvider)}); filled ${auto.filled}`)
    // the fill rate may not drop: the largest drop of any field against the user-order run, in points
    const drop = Math.max(
      ...fields.map((f) => (100 * (waterfall.filledBy[f] - auto.filledBy[f])) / options.people)
    )
    // no fixed order can do better than the best one in hindsight: the same-order minimum of each order
    const orders = permutations(order).map((o) => ({
      order: o,
      credits: sameOrderMinimum(auto.universe, options.people, o).credits
    }))
    const hindsight = orders.reduce((a, b) => (b.credits < a.credits ? b : a))
    yield* say(
      `    best fixed order in hindsight (the same-order minimum of every order): ${hindsight.order.join(" → ")} ` +
        `${hindsight.credits} (${orders.map((o) => `${o.order.join(">")} ${o.credits}`).join(", ")})`
    )
    const autoVsOracle = auto.credits / oracle.credits
    yield* say(
      figure(
        "credits auto order vs any-order oracle",
        `${fixed(autoVsOracle)}x (fill ${drop <= 0 ? "not below" : `${fixed(drop, 1)} points below`} the user order)`,
        "<= 1.15, fill no more than 1 point below",
        autoVsOracle <= 1.15 && drop <= 1
      )
    )
    yield* say(
      figure(
        "credits best fixed order in hindsight vs any-order oracle",
        `${fixed(hindsight.credits / oracle.credits)}x`,
        "none, informative: what no order, auto or given, can beat",
        undefined
      )
    )

    // --- the estimate: the next people of the universe, never asked, priced before they are run
    const byKind = new Map([["linkedin" as const, options.people]])
    const offersOf = (names: ReadonlyArray<string>) =>
      names.map((name) => Providers.capabilitiesOf(name as ProviderName))
    const choice = CostModel.chooseOrder(offersOf(order), fields, statistics, { peopleByKind: byKind })
    const estimate = CostModel.expectedSpend(offersOf(choice.providers), fields, byKind, CostModel.ratesOf(statistics))
    const next = yield* spend(order, options, { from: options.people, order: "auto", statistics })
    const error = (estimate.expected - next.credits) / next.credits
    const inRange = next.credits >= estimate.low && next.credits <= estimate.high
    yield* say(
      `  the next ${options.people} people of the universe, in the order auto chooses (${
        next.chosen?.providers.join(" → ")
      }): estimated ${Math.round(estimate.expected)} (95% range ${Math.round(estimate.low)}–${
        Math.round(estimate.high)
      }), spent ${next.credits} (${perProvider(next.byProvider)}), in the range: ${inRange ? "yes" : "no"}`
    )
    yield* say(
      figure(
        "estimate vs actual spend",
        `${error >= 0 ? "+" : ""}${fixed(100 * error, 1)}%`,
        "within ±15%",
        Math.abs(error) <= 0.15
      )
    )
  }).pipe(Effect.scoped)
