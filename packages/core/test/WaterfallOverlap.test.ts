/**
 * Two runs over the same people at the same time: a person another run is asking a provider about is waited
 * for and answered with what that run bought, never bought a second time.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Budget from "../src/Budget.js"
import { Email } from "../src/Contact.js"
import { ContactProviders, type ContactProviderService, Person } from "../src/ContactProvider.js"
import * as Identifier from "../src/Identifier.js"
import * as Journal from "../src/Journal.js"
import { type Known, makeInMemory } from "../src/testing.js"
import * as Waterfall from "../src/Waterfall.js"

const person = (i: number) => {
  const identifier = Either.getOrThrow(Identifier.parseLinkedIn(`https://www.linkedin.com/in/overlap-${i}`))
  return new Person({ key: identifier.key, identifier })
}
const people = Array.from({ length: 30 }, (_, i) => person(i))
// the provider knows the even people
const directory = new Map<Identifier.PersonKey, Known>(
  people.flatMap((p, i) =>
    i % 2 === 0
      ? [[p.key, { emails: [new Email({ address: `p${i}@acme.io`, kind: "work", verdict: "valid" })], phones: [] }]]
      : []
  )
)

/** A slow provider "a" (results two minutes after a job is done), on one journal for every run. */
const world = Effect.gen(function*() {
  const a = yield* makeInMemory({ name: "a", directory, maxBatch: 10 })
  const slow: ContactProviderService = {
    ...a.service,
    results: (ref, cursor) => Stream.unwrap(Effect.as(Effect.sleep("2 minutes"), a.service.results(ref, cursor)))
  }
  const journal = yield* Journal.makeMemory
  const layer = Layer.mergeAll(
    Layer.succeed(ContactProviders, ContactProviders.fromServices([slow])),
    Layer.succeed(Journal.Journal, journal),
    Budget.layer(undefined)
  )
  return { a, layer }
})

const runOf = (
  layer: Effect.Effect.Success<typeof world>["layer"],
  runId: string,
  who: ReadonlyArray<Person>,
  cacheMaxAge: Duration.DurationInput = "30 days"
) =>
  Waterfall.runCollecting({
    runId,
    people: who,
    providers: ["a"],
    fields: ["work_email"],
    flushAfter: "1 second",
    cacheMaxAge,
    waitForOtherRuns: { every: "2 seconds", atMost: "1 hour" }
  }).pipe(Effect.provide(layer))

describe("Waterfall, two runs over the same people at once", () => {
  it.effect("with reuse off (cache age 0) nobody waits: both runs send their people and finish", () =>
    Effect.gen(function*() {
      const { a, layer } = yield* world
      const first = yield* Effect.fork(runOf(layer, "first", people.slice(0, 25), "0 seconds"))
      yield* TestClock.adjust("3 seconds")
      const second = yield* Effect.fork(runOf(layer, "second", people.slice(5, 30), "0 seconds"))
      for (let i = 0; i < 3600 && (Option.isNone(yield* first.poll) || Option.isNone(yield* second.poll)); i++) {
        yield* TestClock.adjust("1 second")
      }
      assert.isTrue(Option.isSome(yield* first.poll) && Option.isSome(yield* second.poll), "a run did not finish")
      const counters = yield* a.counters
      // the 20 people both lists share were bought by each run, as asked
      assert.strictEqual([...counters.perPerson.values()].filter((n) => n === 2).length, 20)
    }))

  it.effect("the second run waits for the people the first is asking about and reuses what it bought", () =>
    Effect.gen(function*() {
      // every job's results come two minutes after it is done: the first run's chunks are open when the second
      // forms its own
      const { a, layer } = yield* world
      const run = (runId: string, who: ReadonlyArray<Person>) => runOf(layer, runId, who)
      // the second list shares 20 people with the first and has 5 of its own; it starts once the first has
      // sent its chunks (two runs forming chunks for the same people at the same instant can still both send:
      // the check and the record are not one atomic step)
      const first = yield* Effect.fork(run("first", people.slice(0, 25)))
      yield* TestClock.adjust("3 seconds")
      const submitted = (yield* a.counters).submissions
      assert.isAbove(submitted, 0)
      const second = yield* Effect.fork(run("second", [...people.slice(5, 25), ...people.slice(25)]))
      for (let i = 0; i < 3600 && (Option.isNone(yield* first.poll) || Option.isNone(yield* second.poll)); i++) {
        yield* TestClock.adjust("1 second")
      }
      const [one, two] = [yield* Fiber.join(first), yield* Fiber.join(second)]
      const counters = yield* a.counters
      // everyone was sent once: the 20 shared people by whichever run formed their chunk first
      assert.strictEqual(counters.perPerson.size, 30)
      assert.deepStrictEqual([...counters.perPerson.values()].filter((n) => n !== 1), [])
      // and both runs have every one of their people answered, with the same values
      assert.strictEqual(one.merged.size, 25)
      assert.strictEqual(two.merged.size, 25)
      for (const p of people.slice(5, 25)) {
        assert.deepStrictEqual(
          one.merged.get(p.key)?.best.work_email?.value,
          two.merged.get(p.key)?.best.work_email?.value
        )
      }
      const found = (r: Waterfall.Collected) => [...r.merged.values()].filter((m) => m.best.work_email !== undefined)
      assert.strictEqual(found(one).length, 13)
      assert.strictEqual(found(two).length, 12)
    }))
})
