/**
 * A run cut into parts worked at the same time (a worker's shards): at a paced provider, each part plans its
 * chunks on its share of the start limit and sends each in its plan's minute, so that the parts together keep to
 * the one plan instead of each taking every start it can.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Budget from "../src/Budget.js"
import * as ChunkPlan from "../src/ChunkPlan.js"
import { ContactProviders, type JobPacing, Person } from "../src/ContactProvider.js"
import * as Identifier from "../src/Identifier.js"
import * as Journal from "../src/Journal.js"
import { makeInMemory } from "../src/testing.js"
import * as Waterfall from "../src/Waterfall.js"

const person = (i: number) => {
  const identifier = Either.getOrThrow(Identifier.parseLinkedIn(`https://www.linkedin.com/in/part-${i}`))
  return new Person({ key: identifier.key, identifier })
}
const people = Array.from({ length: 1000 }, (_, i) => person(i))
// four starts a minute; a job takes 1 s + 0.5 s a person
const pacing: JobPacing = { startsPerMinute: 4, firstMillis: 1_000, perPersonMillis: 500 }

/**
 * When each chunk was submitted (ms on the test clock) and how many people it held, and when each chunk's cache
 * lookup began (a chunk is looked up as soon as it is formed). `lookupMillisPerPerson`: the journal's cache lookup
 * takes that long a person, so that a large chunk's lookup ends after a small one's.
 */
const submits = (partOfRun: ChunkPlan.Part | undefined, lookupMillisPerPerson = 0) =>
  Effect.gen(function*() {
    const paced = yield* makeInMemory({ name: "paced", directory: new Map(), maxBatch: 400 })
    const sent: Array<{ readonly at: number; readonly people: number }> = []
    const lookups: Array<{ readonly at: number; readonly people: number }> = []
    const service = {
      ...paced.service,
      capabilities: { ...paced.service.capabilities, pacing },
      submit: (request: Parameters<typeof paced.service.submit>[0]) =>
        Effect.flatMap(Clock.currentTimeMillis, (at) => {
          sent.push({ at, people: request.people.length })
          return paced.service.submit(request)
        })
    }
    const fiber = yield* Effect.fork(
      Waterfall.runCollecting({
        runId: "part",
        people,
        providers: ["paced"],
        fields: ["work_email"],
        ...(partOfRun === undefined ? {} : { partOfRun })
      }).pipe(
        Effect.provide(Layer.mergeAll(
          Layer.succeed(ContactProviders, ContactProviders.fromServices([service])),
          Layer.effect(
            Journal.Journal,
            Effect.map(Journal.makeMemory, (journal): Journal.JournalService => ({
              ...journal,
              outcomesFor: (provider, keys, fields, maxAge) =>
                Effect.zipRight(
                  Effect.zipRight(
                    Effect.flatMap(
                      Clock.currentTimeMillis,
                      (at) => Effect.sync(() => lookups.push({ at, people: keys.length }))
                    ),
                    Effect.sleep(keys.length * lookupMillisPerPerson)
                  ),
                  journal.outcomesFor(provider, keys, fields, maxAge)
                )
            }))
          ),
          Budget.layer(undefined)
        ))
      )
    )
    for (let i = 0; i < 60 * 60 && Option.isNone(yield* fiber.poll); i++) yield* TestClock.adjust("1 second")
    const result = yield* Fiber.join(fiber)
    assert.strictEqual(result.merged.size, people.length)
    return { sent, lookups }
  })

describe("Waterfall, a part of a run at a paced provider", () => {
  it.effect("sends its k-th chunk no earlier than its plan's minute, sized for its share of the starts", () =>
    Effect.gen(function*() {
      const part = { index: 1, of: 2 }
      const planned = ChunkPlan.plan(people.length, 400, pacing, part)
      const { sent } = yield* submits(part)
      assert.deepStrictEqual(sent.map((s) => s.people), planned.map((p) => p.size))
      for (const [k, s] of sent.entries()) {
        assert.isAtLeast(s.at, ChunkPlan.windowStartMillis(pacing, planned[k]!.window), `chunk ${k}`)
      }
      // half the starts: in no minute more than its share (2) of the provider's four
      const perMinute = new Map<number, number>()
      for (const s of sent) {
        perMinute.set(Math.floor(s.at / 60_000), (perMinute.get(Math.floor(s.at / 60_000)) ?? 0) + 1)
      }
      assert.isTrue([...perMinute.values()].every((n) => n <= 2), JSON.stringify([...perMinute]))
      assert.isAbove(Math.max(...sent.map((s) => s.at)), 60_000, "the later chunks waited for their minute")
    }))

  it.effect("a chunk of a later minute whose lookup ends first does not take a start of an earlier minute", () =>
    Effect.gen(function*() {
      // each chunk's cache lookup takes 10 ms a person, so that chunks formed together reach the start gate
      // smallest first. Gated in the order they arrived there (when every chunk was formed at the start), the
      // small ones took the first minute's starts and the large ones went out a minute late.
      const part = { index: 0, of: 2 }
      const planned = ChunkPlan.plan(people.length, 400, pacing, part)
      assert.isTrue(new Set(planned.map((p) => p.window)).size > 1, "the plan spans minutes")
      const { sent } = yield* submits(part, 10)
      const windowOf = new Map<number, Array<number>>()
      for (const p of planned) windowOf.set(p.size, [...(windowOf.get(p.size) ?? []), p.window])
      for (const s of sent) {
        // the chunk of that size the plan puts earliest that has not been matched yet
        const window = windowOf.get(s.people)!.shift()!
        assert.isAtLeast(s.at, ChunkPlan.windowStartMillis(pacing, window), `${s.people} people at ${s.at}`)
        assert.isBelow(s.at, ChunkPlan.windowStartMillis(pacing, window + 1), `${s.people} people at ${s.at}`)
      }
    }))

  it.effect("forms a later minute's chunk shortly before that minute, not at the start", () =>
    Effect.gen(function*() {
      // Forming every minute's chunks at once (routing, looking up and recording their people) took the CPU the
      // first minute's recordings and submits needed: the first minute's last start came a second or more late.
      const part = { index: 0, of: 2 }
      const planned = ChunkPlan.plan(people.length, 400, pacing, part)
      const { lookups, sent } = yield* submits(part)
      assert.strictEqual(sent.length, planned.length)
      // one lookup per chunk, as it is formed (the in-memory journal's recorder does not call `outcomesFor`)
      assert.strictEqual(lookups.length, planned.length)
      const minute = ChunkPlan.windowStartMillis(pacing, 1)
      for (const [k, lookup] of lookups.entries()) {
        const opens = ChunkPlan.windowStartMillis(pacing, planned[k]!.window)
        assert.isAtLeast(
          lookup.at,
          opens - minute / 6,
          `chunk ${k} (window ${planned[k]!.window}) formed at ${lookup.at}`
        )
        assert.isAtMost(lookup.at, opens, `chunk ${k} formed in time for its window`)
      }
      assert.isTrue(lookups.some((l) => l.at > 0), "some chunks were formed after the start")
    }))

  it.effect("alone (no part): the whole plan, every chunk sent at once (the rate limiter paces the starts)", () =>
    Effect.gen(function*() {
      const { sent } = yield* submits(undefined)
      assert.deepStrictEqual(sent.map((s) => s.people), ChunkPlan.chunkSizes(people.length, 400, pacing))
      assert.deepStrictEqual([...new Set(sent.map((s) => s.at))], [0])
    }))
})
