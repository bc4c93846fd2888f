/**
 * The waterfall as a pipeline: providers work at once, memory holds what is in flight, and a crash while
 * several providers have chunks out is resumed without paying twice or losing anyone.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
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
  const identifier = Either.getOrThrow(Identifier.parseLinkedIn(`https://www.linkedin.com/in/pipe-${i}`))
  return new Person({ key: identifier.key, identifier })
}
const people = Array.from({ length: 40 }, (_, i) => person(i))
const work = (i: number) => new Email({ address: `p${i}@acme.io`, kind: "work", verdict: "valid" })

// "a" knows the even people, "b" the multiples of three: a waterfall a → b fills 0, 2, 3, 4, 6, 8, 9, …
const directory = (known: (i: number) => boolean) =>
  new Map<Identifier.PersonKey, Known>(
    people.flatMap((p, i) => known(i) ? [[p.key, { emails: [work(i)], phones: [] }] as const] : [])
  )
const expectedFilled = people.filter((_, i) => i % 2 === 0 || i % 3 === 0).length

const twoProviders = Effect.gen(function*() {
  const a = yield* makeInMemory({ name: "a", directory: directory((i) => i % 2 === 0), maxBatch: 8 })
  const b = yield* makeInMemory({ name: "b", directory: directory((i) => i % 3 === 0), maxBatch: 5 })
  return { a, b }
})

const layerOf = (services: ReadonlyArray<ContactProviderService>, journal: Journal.JournalService) =>
  Layer.mergeAll(
    Layer.succeed(ContactProviders, ContactProviders.fromServices(services)),
    Layer.succeed(Journal.Journal, journal),
    Budget.layer(undefined)
  )

const options = {
  runId: "pipe",
  people,
  providers: ["a", "b"],
  fields: ["work_email"],
  flushAfter: "1 second"
} as const

const filled = (result: Waterfall.Collected) =>
  [...result.merged.values()].filter((m) => m.best.work_email !== undefined).length

describe("Waterfall as a pipeline", () => {
  it.effect("a person settled at the first provider reaches the second while the first is still working", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoProviders
      const bStarted = yield* Deferred.make<void>()
      let jobsOfA = 0
      let lastAWaitedForB: boolean | undefined
      // a's last job holds its results until b has started (or 10 minutes have passed): stage by stage, b
      // could not start before every job of a had ended
      const slowA: ContactProviderService = {
        ...a.service,
        submit: (request) => Effect.tap(a.service.submit(request), () => Effect.sync(() => jobsOfA++)),
        results: (ref, cursor) =>
          jobsOfA < Math.ceil(people.length / 8)
            ? a.service.results(ref, cursor)
            : Stream.unwrap(
              Deferred.await(bStarted).pipe(
                Effect.timeoutOption("10 minutes"),
                Effect.map((started) => {
                  lastAWaitedForB = Option.isSome(started)
                  return a.service.results(ref, cursor)
                })
              )
            )
      }
      const fastB: ContactProviderService = {
        ...b.service,
        submit: (request) => Effect.zipLeft(b.service.submit(request), Deferred.succeed(bStarted, undefined))
      }
      const journal = yield* Journal.makeMemory
      const fiber = yield* Effect.fork(
        Waterfall.runCollecting({ ...options, concurrency: 8 }).pipe(Effect.provide(layerOf([slowA, fastB], journal)))
      )
      for (let i = 0; i < 20; i++) yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.isTrue(lastAWaitedForB, "b started while a's last job was still out")
      assert.strictEqual(filled(result), expectedFilled)
    }))

  it.effect("a provider with every slot busy gets full chunks, not what arrived in the last few seconds", () =>
    Effect.gen(function*() {
      // a settles 8 people every 2 seconds (half of them go on to b); b has one active job, of a minute. Flushed
      // whenever `flushAfter` (1 second) passed, b's first chunks held a handful of people each (1, 3, 1), each
      // holding its only slot for a minute; while that slot is busy, a partly filled chunk keeps filling up to 10.
      const many = Array.from({ length: 80 }, (_, i) => person(i))
      const knownTo = (known: (i: number) => boolean) =>
        new Map<Identifier.PersonKey, Known>(
          many.flatMap((p, i) => known(i) ? [[p.key, { emails: [work(i)], phones: [] }] as const] : [])
        )
      const a = yield* makeInMemory({ name: "a", directory: knownTo((i) => i % 2 === 0), maxBatch: 2 })
      const b = yield* makeInMemory({ name: "b", directory: knownTo((i) => i % 3 === 0), maxBatch: 10 })
      const slowly = (service: ContactProviderService, wait: Duration.DurationInput): ContactProviderService => ({
        ...service,
        results: (ref, cursor) => Stream.unwrap(Effect.as(Effect.sleep(wait), service.results(ref, cursor)))
      })
      const chunksOfB: Array<number> = []
      const oneJobAtATime: ContactProviderService = {
        ...slowly(b.service, "1 minute"),
        capabilities: { ...b.service.capabilities, maxActiveJobs: 1 },
        submit: (request) =>
          Effect.zipLeft(b.service.submit(request), Effect.sync(() => chunksOfB.push(request.people.length)))
      }
      const fiber = yield* Effect.fork(
        Waterfall.runCollecting({ ...options, people: many }).pipe(
          Effect.provide(layerOf([slowly(a.service, "2 seconds"), oneJobAtATime], yield* Journal.makeMemory))
        )
      )
      for (let i = 0; i < 40 * 60 && Option.isNone(yield* fiber.poll); i++) yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(chunksOfB.reduce((n, size) => n + size, 0), many.length / 2)
      // the first chunk goes when due (b was idle); then only full ones, and the rest at the end
      assert.isTrue(chunksOfB.slice(1, -1).every((size) => size === 10), chunksOfB.join(", "))
      assert.isAtMost(chunksOfB.length, 6, chunksOfB.join(", "))
      assert.strictEqual(result.merged.size, many.length)
    }))

  describe("a partly filled chunk is sent once people stop arriving", () => {
    /**
     * Everyone goes from `a` (which knows nobody) to `b` (chunks of `maxBatch`): `a` asks about one person at a
     * time, its k-th answer after `gaps(k)`, so people reach `b` one by one at those gaps. `b`'s chunks, sizes and
     * times.
     */
    const chunksAtB = (count: number, maxBatch: number, gaps: (k: number) => Duration.DurationInput) =>
      Effect.gen(function*() {
        const many = Array.from({ length: count }, (_, i) => person(i))
        const a = yield* makeInMemory({ name: "a", directory: new Map(), maxBatch: 1 })
        const b = yield* makeInMemory({ name: "b", directory: new Map(), maxBatch })
        let answers = 0
        const oneByOne: ContactProviderService = {
          ...a.service,
          results: (ref, cursor) =>
            Stream.unwrap(Effect.as(Effect.sleep(gaps(answers++)), a.service.results(ref, cursor)))
        }
        const chunks: Array<{ readonly size: number; readonly at: number }> = []
        const recording: ContactProviderService = {
          ...b.service,
          submit: (request) =>
            Effect.zipLeft(
              b.service.submit(request),
              Effect.map(TestClock.currentTimeMillis, (at) => chunks.push({ size: request.people.length, at }))
            )
        }
        const fiber = yield* Effect.fork(
          Waterfall.run({ ...options, people: Waterfall.peopleOf(many), concurrency: 1, cacheMaxAge: 0 }).pipe(
            Effect.provide(layerOf([oneByOne, recording], yield* Journal.makeMemory))
          )
        )
        while (Option.isNone(yield* fiber.poll)) yield* TestClock.adjust("100 millis")
        yield* Fiber.join(fiber)
        assert.strictEqual(chunks.reduce((n, c) => n + c.size, 0), count)
        return chunks
      })

    it.effect("people arriving steadily, each within `flushAfter` of the last, fill whole chunks", () =>
      Effect.gen(function*() {
        // one person every 0.6 s, `flushAfter` 1 s: timed from the chunk's start, chunks of 1 or 2 went out (a
        // slot was free), each spending a job (at a paced provider, a start) that a full chunk needed
        const chunks = yield* chunksAtB(40, 8, () => "600 millis")
        assert.deepStrictEqual(chunks.map((c) => c.size), [8, 8, 8, 8, 8])
      }))

    it.effect("stragglers are not held: nobody arriving for `flushAfter` sends what has arrived", () =>
      Effect.gen(function*() {
        // three people, then `a` takes two minutes over the fourth
        const chunks = yield* chunksAtB(20, 8, (k) => k === 3 ? "2 minutes" : "10 millis")
        assert.strictEqual(chunks[0]!.size, 3)
        assert.isAtMost(chunks[0]!.at, 1_200, "sent about 1 s after the third person arrived")
        assert.isTrue(chunks.slice(1).every((c) => c.at >= 120_000), "the others after the pause")
      }))

    it.effect("a steady trickle into a large chunk is sent after at most six `flushAfter`s", () =>
      Effect.gen(function*() {
        const chunks = yield* chunksAtB(40, 100, () => "500 millis")
        // the first person arrives at 0.5 s; the chunk is due at the latest 6 s after its wait began
        assert.isTrue(chunks[0]!.size >= 11 && chunks[0]!.size <= 13, `first chunk ${chunks[0]!.size}`)
        assert.isAtMost(chunks[0]!.at, 6_700)
        assert.isAtLeast(chunks.length, 3)
      }))
  })

  it.effect("with stageBarrier, as before: the second provider starts once the first has finished", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoProviders
      const events: Array<string> = []
      const result = yield* Waterfall.runCollecting({
        ...options,
        stageBarrier: true,
        onEvent: (event) =>
          Effect.sync(() => {
            if (event._tag === "ChunkSubmitted" || event._tag === "StageFinished") {
              events.push(`${event._tag} ${event.provider}`)
            }
          })
      }).pipe(Effect.provide(layerOf([a.service, b.service], yield* Journal.makeMemory)))
      const firstOfB = events.indexOf("ChunkSubmitted b")
      assert.isTrue(firstOfB > events.indexOf("StageFinished a"), events.join(", "))
      assert.strictEqual(filled(result), expectedFilled)
    }))

  it.effect("a crash while both providers have chunks out: resumed, nobody sent twice, the same answers", () =>
    Effect.gen(function*() {
      const clean = yield* twoProviders
      const uninterrupted = yield* Waterfall.runCollecting(options).pipe(
        Effect.provide(layerOf([clean.a.service, clean.b.service], yield* Journal.makeMemory))
      )

      const { a, b } = yield* twoProviders
      const journal = yield* Journal.makeMemory
      // the process dies when b's second job has just been accepted, before its id is written down
      let marksOfB = 0
      const crashing: Journal.JournalService = {
        ...journal,
        markSubmitted: (key, job) =>
          key.startsWith("b-") && ++marksOfB === 2
            ? Effect.fail(new Journal.JournalError({ message: "killed" }))
            : journal.markSubmitted(key, job)
      }
      const run = (j: Journal.JournalService) =>
        Waterfall.runCollecting({ ...options, concurrency: 3 }).pipe(Effect.provide(layerOf([a.service, b.service], j)))
      assert.isTrue(Exit.isFailure(yield* Effect.exit(run(crashing))))
      const open = yield* journal.openChunks(options.runId)
      assert.isTrue(open.some((c) => c.provider === "b"), "b had a chunk out")
      const resumed = yield* run(journal)

      // b dedupes by idempotency key (the in-memory provider does), so its crashed chunk is replayed, not re-bought
      for (const counters of [yield* a.counters, yield* b.counters]) {
        assert.isTrue([...counters.perPerson.values()].every((n) => n === 1), "nobody sent twice")
      }
      assert.strictEqual(resumed.merged.size, people.length)
      for (const p of people) {
        assert.strictEqual(
          resumed.merged.get(p.key)?.best.work_email?.value,
          uninterrupted.merged.get(p.key)?.best.work_email?.value,
          p.key
        )
      }
      assert.deepStrictEqual(
        resumed.providers.map((s) => [s.provider, s.requested, s.found, s.credits]),
        uninterrupted.providers.map((s) => [s.provider, s.requested, s.found, s.credits])
      )
    }))

  it.effect("people are read as a stream, not all at once: the source is pulled as providers make room", () =>
    Effect.gen(function*() {
      const { a } = yield* twoProviders
      const many = Array.from({ length: 2_000 }, (_, i) => person(i))
      let pulled = 0
      let mostAhead = 0
      let settled = 0
      const source: Waterfall.People = {
        stream: Stream.fromIterable(many).pipe(Stream.tap(() => Effect.sync(() => pulled++))),
        byKeys: Waterfall.peopleOf(many).byKeys,
        count: many.length
      }
      yield* Waterfall.run({
        runId: "stream",
        people: source,
        providers: ["a"],
        fields: ["work_email"],
        cacheMaxAge: 0,
        onSettled: () =>
          Effect.sync(() => {
            settled++
            mostAhead = Math.max(mostAhead, pulled - settled)
          })
      }).pipe(Effect.provide(layerOf([a.service], yield* Journal.makeMemory)))
      assert.strictEqual(settled, many.length)
      // in flight at most: a routing batch, the queue and the chunks out (4 × 8) — far below the list
      assert.isBelow(mostAhead, 700, `pulled ${mostAhead} people ahead of those settled`)
    }))
})
