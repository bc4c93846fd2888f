/**
 * Credits: what the waterfall (fiber, crustdata, thehog) spends on a simulator, against the oracle minimum for
 * the same people and fields (from the universe's truth and the providers' cost models), and against asking
 * every provider about everyone. Spend is read from the simulators' counters (charged minus refunded).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Contact, CrustdataApi, FiberAiApi, Polling, TheHog, Waterfall } from "@enrich/core"
import type { Universe } from "@enrich/simulator"
import { serve } from "@enrich/simulator/node"
import * as Effect from "effect/Effect"
import { clients, figure, fixed, memoryJournal, peopleOf, type ProviderName, say, scaledPolling } from "./Common.js"

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
      return TheHog.creditsPerPerson(asked)
  }
}

/**
 * The oracle: knowing every provider's data, it gets each field at the best verdict any provider has (what the
 * waterfall ends with, since it only stops early on a valid value), asking each provider only for fields it
 * will deliver, at the least total cost over all assignments of fields to providers.
 */
export const oracleMinimum = (universe: Universe.Universe, n: number) => {
  let total = 0
  const filled = fields.map(() => 0)
  for (const person of universe.people.slice(0, n)) {
    const knowledge = order.map((p) => universe.knowledge(p, person))
    const verdictOf = (k: Universe.Knowledge, field: Contact.Field): number | undefined => {
      if (field === "phone") return k.phone === undefined ? undefined : rank.valid
      const email = field === "work_email" ? k.workEmail : k.personalEmail
      return email === undefined || email.verdict === "invalid" ? undefined : rank[email.verdict]
    }
    // per field, the providers that have it at the best verdict available
    const choices = fields.map((field) => {
      const verdicts = knowledge.map((k) => verdictOf(k, field))
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

/** Runs the waterfall over `providers` on a fresh simulator; the credits its counters saw. */
const spend = (providers: ReadonlyArray<ProviderName>, options: Options) =>
  Effect.gen(function*() {
    const served = yield* serve({
      seed: options.seed,
      timeScale: options.timeScale,
      universe: { size: options.people }
    })
    const env = served.simulators.env
    const result = yield* Waterfall.run({
      runId: `credits-${providers.join("-")}`,
      people: peopleOf(env.universe, options.people),
      providers,
      fields
    }).pipe(
      Effect.provide(clients(served.url, options.timeScale, providers)),
      Effect.provide(memoryJournal),
      Effect.provideService(Polling.Polling, scaledPolling(options.timeScale))
    )
    const filled = (field: Contact.Field) =>
      [...result.merged.values()].filter((m) => m.best[field] !== undefined).length
    return {
      credits: order.reduce((n, p) => n + env.counters.netCredits(p), 0),
      universe: env.universe,
      filled: fields.map((f) => `${f} ${filled(f)}`).join(", ")
    }
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

export const run = (options: Options) =>
  Effect.gen(function*() {
    const waterfall = yield* spend(order, options)
    let everyone = 0
    for (const provider of order) everyone += (yield* spend([provider], options)).credits
    const oracle = oracleMinimum(waterfall.universe, options.people)
    yield* say(
      `  ${options.people} people, all fields; filled by the waterfall: ${waterfall.filled}; by the oracle: ` +
        `${oracle.filled}`
    )
    yield* say(
      `  credits: waterfall ${waterfall.credits}, oracle minimum ${oracle.credits}, every provider for everyone ` +
        `${everyone}`
    )
    const vsOracle = waterfall.credits / oracle.credits
    const vsEveryone = waterfall.credits / everyone
    yield* say(figure("credits waterfall vs oracle minimum", `${fixed(vsOracle)}x`, "none, 1.00 is ideal", undefined))
    yield* say(
      figure("credits waterfall vs every provider for everyone", `${fixed(vsEveryone)}x`, "< 1", vsEveryone < 1)
    )
  })
