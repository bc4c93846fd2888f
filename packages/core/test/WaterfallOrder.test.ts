import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Budget from "../src/Budget.js"
import { Email } from "../src/Contact.js"
import { ContactProviders, Person } from "../src/ContactProvider.js"
import * as CostModel from "../src/CostModel.js"
import * as Identifier from "../src/Identifier.js"
import * as Journal from "../src/Journal.js"
import { type Known, makeInMemory } from "../src/testing.js"
import * as Waterfall from "../src/Waterfall.js"

const linkedin = (i: number) => {
  const identifier = Either.getOrThrow(Identifier.parseLinkedIn(`https://www.linkedin.com/in/person-${i}`))
  return new Person({ key: identifier.key, identifier })
}
const work = (i: number) => new Email({ address: `p${i}@acme.io`, kind: "work", verdict: "valid" })

const people = Array.from({ length: 40 }, (_, i) => linkedin(i))
// "dear" knows a quarter of the work emails, "cheap" three quarters; both charge every person they are sent
const directory = (knows: (i: number) => boolean) =>
  new Map<Identifier.PersonKey, Known>(
    people.flatMap((p, i) => knows(i) ? [[p.key, { emails: [work(i)], phones: [] }] as const] : [])
  )

const run = (options: Pick<Waterfall.CollectingOptions, "order" | "statistics">, runId: string) =>
  Effect.gen(function*() {
    const dear = yield* makeInMemory({
      name: "dear",
      directory: directory((i) => i % 4 === 0),
      costPerPerson: 2,
      billing: "per-request"
    })
    const cheap = yield* makeInMemory({
      name: "cheap",
      directory: directory((i) => i % 4 !== 0),
      costPerPerson: 1,
      billing: "per-request"
    })
    const events: Array<Waterfall.Event> = []
    const result = yield* Waterfall.runCollecting({
      runId,
      people,
      providers: ["dear", "cheap"],
      fields: ["work_email"],
      ...options,
      onEvent: (event) => Effect.sync(() => void events.push(event))
    }).pipe(
      Effect.provide(Layer.mergeAll(
        Layer.succeed(ContactProviders, ContactProviders.fromServices([dear.service, cheap.service])),
        Journal.layerMemory,
        Budget.layer(undefined)
      ))
    )
    return { result, events, dear: yield* dear.counters, cheap: yield* cheap.counters }
  })

/** What a run's answers teach: every person asked at each provider, with what they were asked for. */
const learnt = (result: Waterfall.Collected): CostModel.Statistics =>
  CostModel.tally(
    [...result.outcomes.values()].flat().flatMap((outcome) =>
      outcome._tag === "Found" || outcome._tag === "NotFound"
        ? [{
          provider: outcome.provenance.provider,
          kind: "linkedin" as const,
          fields: ["work_email" as const],
          outcome
        }]
        : []
    )
  )

describe("Waterfall order", () => {
  it.effect("given (the default): providers in the user's order", () =>
    Effect.gen(function*() {
      const { dear, events, result } = yield* run({}, "given")
      assert.strictEqual(dear.perPerson.size, people.length)
      assert.isUndefined(result.order)
      assert.isFalse(events.some((e) => e._tag === "OrderChosen"))
    }))

  it.effect("auto: learns from a run's answers, asks the cheaper provider per value found first, spends less, fills as much", () =>
    Effect.gen(function*() {
      const first = yield* run({}, "first")
      const statistics = learnt(first.result)
      const auto = yield* run({ order: "auto", statistics }, "auto")
      const choice = auto.result.order!
      assert.deepStrictEqual(choice.providers, ["cheap", "dear"])
      assert.deepStrictEqual(choice.given, ["dear", "cheap"])
      // the choice comes first among the events, with the numbers behind it
      assert.strictEqual(auto.events[0]!._tag, "OrderChosen")
      const work = choice.byKind[0]!.fields[0]!.providers
      assert.deepStrictEqual(work.map((p) => p.provider), ["cheap", "dear"])
      assert.isTrue(work[0]!.costPerValue < work[1]!.costPerValue)
      assert.isTrue(work.every((p) => p.observed > 0))
      // everyone goes to "cheap" first; "dear" only gets whom "cheap" did not find
      assert.strictEqual(auto.cheap.perPerson.size, people.length)
      assert.strictEqual(auto.dear.perPerson.size, people.filter((_, i) => i % 4 === 0).length)
      assert.deepStrictEqual(auto.result.providers.map((p) => p.provider), ["cheap", "dear"])
      const filled = (r: Waterfall.Collected) => [...r.merged.values()].filter((m) => m.best.work_email).length
      assert.strictEqual(filled(auto.result), filled(first.result))
      assert.isTrue(auto.result.credits.spent < first.result.credits.spent)
      // and the model expected as much: the cheaper order is the cheaper in expectation too
      assert.isTrue(choice.byKind[0]!.expectedPerPerson < choice.byKind[0]!.givenPerPerson)
    }))
})
