import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Budget from "../src/Budget.js"
import { Email, makePhone, Provenance } from "../src/Contact.js"
import {
  ContactProviders,
  type ContactProviderService,
  EnrichRequest,
  type JobRef,
  JobStatus,
  Person
} from "../src/ContactProvider.js"
import * as EnrichmentError from "../src/EnrichmentError.js"
import { JobFailed } from "../src/EnrichmentError.js"
import * as Identifier from "../src/Identifier.js"
import * as Journal from "../src/Journal.js"
import { Failed, NotFound } from "../src/PersonResult.js"
import { type Known, makeInMemory } from "../src/testing.js"
import * as Waterfall from "../src/Waterfall.js"

const linkedin = (i: number) => {
  const identifier = Either.getOrThrow(Identifier.parseLinkedIn(`https://www.linkedin.com/in/person-${i}`))
  return new Person({ key: identifier.key, identifier })
}
const byEmail = (i: number) => {
  const identifier = Either.getOrThrow(Identifier.parseEmail(`someone${i}@example.org`))
  return new Person({ key: identifier.key, identifier })
}
const work = (i: number, verdict: "valid" | "risky" | "invalid" = "valid") =>
  new Email({ address: `p${i}@acme.io`, kind: "work", verdict })
const personal = (i: number) => new Email({ address: `p${i}@gmail.com`, kind: "personal", verdict: "valid" })

const people = Array.from({ length: 30 }, (_, i) => linkedin(i))

// "a" knows work emails of 0-14 (risky for 10-14); "b" knows work emails of 10-24 and phones of evens;
// "c" takes emails as identifiers too and knows phones of everyone below 28.
const directoryA = new Map<Identifier.PersonKey, Known>(
  people.slice(0, 15).map((p, i) => [p.key, { emails: [work(i, i >= 10 ? "risky" : "valid")], phones: [] }])
)
const directoryB = new Map<Identifier.PersonKey, Known>(
  people.slice(10, 25).map((p, j) => [p.key, {
    emails: [work(j + 10)],
    phones: (j + 10) % 2 === 0 ? [makePhone(`+1415555${String(1000 + j)}`, "mobile")] : []
  }])
)
const emailPeople = [byEmail(1), byEmail(2)]
const directoryC = new Map<Identifier.PersonKey, Known>([
  ...people.slice(0, 28).map((p, i) =>
    [p.key, { emails: [personal(i)], phones: [makePhone(`+1212555${String(2000 + i)}`)] }] as const
  ),
  [emailPeople[0]!.key, { emails: [work(101)], phones: [] }]
])

const providers = Effect.gen(function*() {
  const a = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 8, costPerPerson: 2 })
  const b = yield* makeInMemory({ name: "b", directory: directoryB, maxBatch: 5, costPerPerson: 3 })
  const c = yield* makeInMemory({
    name: "c",
    directory: directoryC,
    maxBatch: 10,
    costPerPerson: 1,
    identifierKinds: ["linkedin", "email"]
  })
  return { a, b, c, registry: ContactProviders.fromServices([a.service, b.service, c.service]) }
})

const runWith = (
  options: Omit<Waterfall.CollectingOptions, "runId">,
  budget?: number,
  journal?: Journal.JournalService
) =>
  Effect.gen(function*() {
    const { a, b, c, registry } = yield* providers
    const result = yield* Waterfall.runCollecting({ runId: "run-1", ...options }).pipe(
      Effect.provide(Layer.mergeAll(
        Layer.succeed(ContactProviders, registry),
        journal === undefined ? Journal.layerMemory : Layer.succeed(Journal.Journal, journal),
        Budget.layer(budget)
      ))
    )
    return { result, counters: { a: yield* a.counters, b: yield* b.counters, c: yield* c.counters } }
  })

/** The services a run needs, with `registry` as its providers, `journal` as its journal and no budget cap. */
const layerOf = (registry: ReadonlyMap<string, ContactProviderService>, journal: Journal.JournalService) =>
  Layer.mergeAll(
    Layer.succeed(ContactProviders, registry),
    Layer.succeed(Journal.Journal, journal),
    Budget.layer(undefined)
  )

/** `journal` with its `n`-th `commitPage` failing: the process dies while committing a page of results. */
const failingCommit = (journal: Journal.JournalService, n: number): Journal.JournalService => {
  let commits = 0
  return {
    ...journal,
    commitPage: (key, outcomes, cursor) =>
      ++commits === n
        ? Effect.fail(new Journal.JournalError({ message: "disk gone" }))
        : journal.commitPage(key, outcomes, cursor)
  }
}

/** `journal` with its first `markSubmitted` failing: the process dies after a submit, before its job id is kept. */
const failingFirstMark = (journal: Journal.JournalService): Journal.JournalService => {
  let marks = 0
  return {
    ...journal,
    markSubmitted: (key, job) =>
      ++marks === 1 ? Effect.fail(new Journal.JournalError({ message: "disk gone" })) : journal.markSubmitted(key, job)
  }
}

/** `service` with its cost model changed as given (how it bills, how it reports credits). */
const withCost = (
  service: ContactProviderService,
  cost: Partial<ContactProviderService["capabilities"]["cost"]>
): ContactProviderService => ({
  ...service,
  capabilities: { ...service.capabilities, cost: { ...service.capabilities.cost, ...cost } }
})

const filled = (result: Waterfall.Collected, field: "work_email" | "phone") =>
  [...result.merged.values()].filter((m) => m.best[field] !== undefined).length

/** Per provider, every person asked is counted once: found + not found + failed + rejected = asked. */
const assertAddsUp = (result: Waterfall.Collected) => {
  for (const p of result.providers) {
    assert.strictEqual(p.found + p.notFound + p.failed + p.rejected, p.requested, `${p.provider}: ${JSON.stringify(p)}`)
    assert.strictEqual(p.failures.reduce((n, f) => n + f.people, 0), p.failed, p.provider)
  }
}

describe("Waterfall", () => {
  it.effect("finds more than any single provider, asking later ones only for what is missing", () =>
    Effect.gen(function*() {
      const { counters, result } = yield* runWith({ people, providers: ["a", "b"], fields: ["work_email"] })
      // a alone: 15 work emails (5 risky); a then b: 0-24 = 25, and 10-14 upgraded from risky to valid
      assert.strictEqual(filled(result, "work_email"), 25)
      const p12 = result.merged.get(people[12]!.key)!.best.work_email!
      assert.strictEqual(p12.verdict, "valid")
      assert.strictEqual(p12.provenance.provider, "b")
      // b is asked only for the 15 people a did not answer with a valid email (10-29 = 20)
      assert.strictEqual(counters.a.perPerson.size, 30)
      assert.strictEqual(counters.b.perPerson.size, 20)
      assert.isFalse(counters.b.perPerson.has(people[3]!.key))
      // everyone asked once per provider; credits are exactly the minimum for the order
      assert.isTrue([...counters.a.perPerson.values(), ...counters.b.perPerson.values()].every((n) => n === 1))
      assert.strictEqual(result.credits.spent, 30 * 2 + 20 * 3)
      const [sa, sb] = result.providers
      assert.deepStrictEqual([sa!.requested, sa!.found, sa!.notFound], [30, 15, 15])
      assert.deepStrictEqual([sb!.requested, sb!.found, sb!.notFound], [20, 15, 5])
    }))

  it.effect("keeps a risky value as fallback when nobody has better", () =>
    Effect.gen(function*() {
      const { result } = yield* runWith({ people: people.slice(10, 15), providers: ["a", "c"], fields: ["work_email"] })
      for (const p of people.slice(10, 15)) {
        assert.strictEqual(result.merged.get(p.key)!.best.work_email!.verdict, "risky")
      }
    }))

  it.effect("a looser stop policy stops on risky", () =>
    Effect.gen(function*() {
      const { counters } = yield* runWith({
        people: people.slice(10, 15),
        providers: ["a", "b"],
        fields: ["work_email"],
        stopPolicy: { acceptAtLeast: { work_email: "risky", personal_email: "valid", phone: "valid" } }
      })
      assert.strictEqual(counters.b.perPerson.size, 0)
    }))

  it.effect("routes identifiers only to providers that take their kind", () =>
    Effect.gen(function*() {
      const { counters, result } = yield* runWith({
        people: [...people.slice(0, 2), ...emailPeople],
        providers: ["a", "c"],
        fields: ["work_email"]
      })
      assert.isFalse(counters.a.perPerson.has(emailPeople[0]!.key))
      assert.strictEqual(counters.c.perPerson.get(emailPeople[0]!.key), 1)
      assert.strictEqual(result.merged.get(emailPeople[0]!.key)!.best.work_email!.value, "p101@acme.io")
      assert.isUndefined(result.merged.get(emailPeople[1]!.key)!.best.work_email)
      assert.deepStrictEqual(result.outcomes.get(emailPeople[1]!.key)!.map((o) => o._tag), ["NotFound"])
    }))

  it.effect("asks each provider only for the fields it still misses", () =>
    Effect.gen(function*() {
      const { result } = yield* runWith({ people, providers: ["b", "c"], fields: ["work_email", "phone"] })
      // b gives phones to evens in 10-24; c fills the other phones below 28
      assert.strictEqual(filled(result, "phone"), 28)
      assert.strictEqual(result.merged.get(people[12]!.key)!.best.phone!.provenance.provider, "b")
      assert.strictEqual(result.merged.get(people[13]!.key)!.best.phone!.provenance.provider, "c")
    }))

  it.effect("never exceeds the budget, and says who was not sent", () =>
    Effect.gen(function*() {
      const { counters, result } = yield* runWith({ people, providers: ["a", "b"], fields: ["work_email"] }, 41)
      // a costs 2 per person: 20 fit in 41 credits, b (3 each) gets nobody
      assert.isAtMost(result.credits.spent, 41)
      assert.strictEqual(result.credits.spent, 40)
      assert.strictEqual(counters.a.creditsCharged + counters.b.creditsCharged, 40)
      assert.strictEqual(counters.a.perPerson.size, 20)
      assert.strictEqual(counters.b.perPerson.size, 0)
      // 20-29 never reached a; b would have been asked about 10-29
      assert.strictEqual(result.unsentForBudget.length, 20)
    }))

  it.effect("quotes the worst case per provider before spending", () =>
    Effect.gen(function*() {
      const { a, c } = yield* providers
      const quote = Waterfall.quote([...people, ...emailPeople], [a.service, c.service], ["work_email"])
      assert.deepStrictEqual(quote.map((q) => [q.provider, q.people, q.maxCredits]), [["a", 30, 60], ["c", 32, 32]])
    }))

  it.effect("resumes after a crash without sending anyone twice", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.makeMemory
      // the "crash": the journal dies on the 4th page commit
      const crashing = failingCommit(journal, 4)
      const { a, b, c, registry } = yield* providers
      const layer = (j: Journal.JournalService) => layerOf(registry, j)
      const options = { runId: "crashy", people, providers: ["a", "b"], fields: ["work_email"] } as const
      const first = yield* Effect.exit(Waterfall.runCollecting(options).pipe(Effect.provide(layer(crashing))))
      assert.isTrue(Exit.isFailure(first))
      const resumed = yield* Waterfall.runCollecting(options).pipe(Effect.provide(layer(journal)))
      assert.strictEqual(filled(resumed, "work_email"), 25)
      const seen = { a: yield* a.counters, b: yield* b.counters }
      assert.isTrue([...seen.a.perPerson.values(), ...seen.b.perPerson.values()].every((n) => n === 1))
      assert.strictEqual(seen.a.perPerson.size, 30)
      assert.strictEqual((yield* c.counters).submissions, 0)
    }))

  it.effect("a crash after a job's last page was committed: the resume books that page once, not twice", () =>
    Effect.gen(function*() {
      // 30 people, one job, pages of 10; the last page has no cursor after it, so a resume reads it again. The
      // provider bills per value delivered and reports no credits on the job (as Crustdata): the ledger's figure
      // is the sum of what the committed pages cost.
      const journal = yield* Journal.makeMemory
      const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 100 })
      const service: ContactProviderService = {
        ...inner.service,
        poll: (ref) =>
          Effect.map(inner.service.poll(ref), (status) => new JobStatus({ ...status, charged: 0, refunded: 0 }))
      }
      let finishes = 0
      const crashing: Journal.JournalService = {
        ...journal,
        finishChunk: (key, result) =>
          ++finishes === 1
            ? Effect.fail(new Journal.JournalError({ message: "disk gone" }))
            : journal.finishChunk(key, result)
      }
      const layer = (j: Journal.JournalService) => layerOf(ContactProviders.fromServices([service]), j)
      const options = { runId: "last-page", people, providers: ["a"], fields: ["work_email"] } as const
      assert.isTrue(
        Exit.isFailure(yield* Effect.exit(Waterfall.runCollecting(options).pipe(Effect.provide(layer(crashing)))))
      )
      yield* Waterfall.runCollecting(options).pipe(Effect.provide(layer(journal)))
      const [credits] = yield* journal.creditsOfRun("last-page")
      assert.strictEqual(credits?.charged, people.length)
      assert.strictEqual((yield* inner.counters).creditsCharged, people.length)
      const outcomes = yield* journal.outcomesOfRun("last-page", people.map((p) => p.key))
      assert.isTrue([...outcomes.values()].every((list) => list.length === 1), "one outcome per person")
    }))

  describe("a job read again after a crash, at a provider that reports what each answer refunded", () => {
    // Billed upfront (2 a person, 60) and refunded for the 15 people it finds nothing for (30), the refund reported
    // once, on the answer that paid it out, as Fiber does. A crash after the first page: the answer with the refund
    // went to the process that died, so the job's status read by the resume reports no refund.
    const crashThenResume = (reports: "per-answer" | "job-total") =>
      Effect.gen(function*() {
        const journal = yield* Journal.makeMemory
        const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 100, costPerPerson: 2 })
        let refundReported = true
        const service: ContactProviderService = {
          ...withCost(inner.service, { reports }),
          results: (ref, cursor) =>
            Stream.map(inner.service.results(ref, cursor), (page) => ({
              ...page,
              results: page.results.map((o) =>
                o._tag === "NotFound"
                  ? new NotFound({ key: o.key, provenance: new Provenance({ ...o.provenance, cost: 0 }) })
                  : o
              )
            })),
          poll: (ref) =>
            Effect.map(
              inner.service.poll(ref),
              (status) => new JobStatus({ ...status, charged: 60, refunded: refundReported ? 30 : 0 })
            )
        }
        const crashing = failingCommit(journal, 2)
        const layer = (j: Journal.JournalService) => layerOf(ContactProviders.fromServices([service]), j)
        const options = { runId: "refunds", people, providers: ["a"], fields: ["work_email"] } as const
        const first = yield* Effect.exit(Waterfall.runCollecting(options).pipe(Effect.provide(layer(crashing))))
        assert.isTrue(Exit.isFailure(first))
        refundReported = false
        const resumed = yield* Waterfall.runCollecting(options).pipe(Effect.provide(layer(journal)))
        assert.strictEqual((yield* inner.counters).submissions, 1, "the job was read again, not sent again")
        const [credits] = yield* journal.creditsOfRun("refunds")
        return { credits, summary: resumed.providers[0]! }
      })

    it.effect("per answer: the results' price (30) is booked, marked estimated, not the reports' 60", () =>
      Effect.gen(function*() {
        const { credits, summary } = yield* crashThenResume("per-answer")
        assert.strictEqual(credits?.charged, 30)
        assert.strictEqual(credits?.estimated, 30)
        assert.strictEqual(summary.credits, 30)
      }))

    it.effect("job totals: the provider's figure stands (it may bill what the results do not show)", () =>
      Effect.gen(function*() {
        const { credits } = yield* crashThenResume("job-total")
        assert.strictEqual(credits?.charged, 60)
        assert.strictEqual(credits?.estimated, 0)
      }))

    it.effect("per answer, uninterrupted: the provider's reports are booked as they are", () =>
      Effect.gen(function*() {
        const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 100, costPerPerson: 2 })
        const service: ContactProviderService = {
          ...withCost(inner.service, { reports: "per-answer" }),
          // a provider whose own figure differs from the price list: without a crash its word is taken
          poll: (ref) =>
            Effect.map(inner.service.poll(ref), (status) => new JobStatus({ ...status, charged: 60, refunded: 5 }))
        }
        const journal = yield* Journal.makeMemory
        yield* Waterfall.runCollecting({ runId: "whole", people, providers: ["a"], fields: ["work_email"] }).pipe(
          Effect.provide(layerOf(ContactProviders.fromServices([service]), journal))
        )
        const [credits] = yield* journal.creditsOfRun("whole")
        assert.strictEqual(credits?.charged, 55)
        assert.strictEqual(credits?.estimated, 0)
      }))
  })

  describe("a send whose answer is lost (garbled) after the provider took it", () => {
    const garbled = new EnrichmentError.MalformedResponse({
      provider: "a",
      endpoint: "POST /jobs (202)",
      path: "[\"id\"]",
      detail: "Expected string, actual 12345"
    })
    /** Provider "a" taking every submit, and answering the first one garbled; a job list when `safety` says so. */
    const garbling = (safety: "idempotency-key" | "job-list" | "none") =>
      Effect.gen(function*() {
        const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 100, costPerPerson: 2 })
        const taken = new Map<string, JobRef>()
        let answers = 0
        const service: ContactProviderService = {
          ...inner.service,
          capabilities: { ...inner.service.capabilities, resubmitSafety: safety },
          submit: (request) =>
            Effect.flatMap(inner.service.submit(request), (ref) => {
              taken.set(request.idempotencyKey, ref)
              return ++answers === 1 ? Effect.fail(garbled) : Effect.succeed(ref)
            }),
          findSubmitted: (request) => Effect.sync(() => Option.fromNullable(taken.get(request.idempotencyKey)))
        }
        const journal = yield* Journal.makeMemory
        const running = yield* Effect.fork(
          Waterfall.runCollecting({ runId: "lost", people, providers: ["a"], fields: ["work_email"] }).pipe(
            Effect.provide(layerOf(ContactProviders.fromServices([service]), journal))
          )
        )
        yield* TestClock.adjust("1 minute")
        const result = yield* Fiber.join(running)
        return { result, counters: yield* inner.counters, journal }
      })

    it.effect("idempotency key: asked again under the same key, the job it took is read, billed once", () =>
      Effect.gen(function*() {
        const { counters, journal, result } = yield* garbling("idempotency-key")
        assert.strictEqual(counters.submissions, 1)
        assert.strictEqual(result.providers[0]!.failed, 0)
        assert.strictEqual(filled(result, "work_email"), 15)
        assert.deepStrictEqual((yield* journal.chunks("lost")).map((c) => c.state), ["finished"])
      }))

    it.effect("job list: the job it took is found there and read, not failed", () =>
      Effect.gen(function*() {
        const { counters, result } = yield* garbling("job-list")
        assert.strictEqual(counters.submissions, 1)
        assert.strictEqual(result.providers[0]!.failed, 0)
        assert.strictEqual(filled(result, "work_email"), 15)
      }))

    it.effect("no way to know (Fiber): the chunk fails with the error, nothing is sent again", () =>
      Effect.gen(function*() {
        const { counters, result } = yield* garbling("none")
        assert.strictEqual(counters.submissions, 1)
        assert.strictEqual(result.providers[0]!.failed, 30)
        assertAddsUp(result)
      }))
  })

  it.effect("stopped while a submit to a provider with no way to find it again is in flight: it is kept", () =>
    Effect.gen(function*() {
      // like Fiber: the start is taken, its answer is on its way when the run is stopped (Ctrl-C)
      const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 100 })
      const reached = yield* Deferred.make<void>()
      const answered = yield* Deferred.make<void>()
      const service: ContactProviderService = {
        ...inner.service,
        capabilities: { ...inner.service.capabilities, resubmitSafety: "none" },
        submit: (request) =>
          Effect.flatMap(inner.service.submit(request), (ref) =>
            Deferred.succeed(reached, undefined).pipe(
              Effect.zipRight(Deferred.await(answered)),
              Effect.as(ref)
            )),
        // the job's results take their time: the stop lands while they are awaited
        results: (ref, cursor) => Stream.unwrap(Effect.as(Effect.sleep("1 hour"), inner.service.results(ref, cursor)))
      }
      const journal = yield* Journal.makeMemory
      const running = yield* Effect.fork(
        Waterfall.runCollecting({ runId: "stop", people, providers: ["a"], fields: ["work_email"] }).pipe(
          Effect.provide(layerOf(ContactProviders.fromServices([service]), journal))
        )
      )
      yield* Deferred.await(reached)
      const stopping = yield* Effect.fork(Fiber.interrupt(running))
      // the stop reaches the run before the answer does
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      yield* Deferred.succeed(answered, undefined)
      yield* Fiber.join(stopping)
      const [chunk] = yield* journal.chunks("stop")
      // the job is in the journal: a resume reads it instead of leaving it ambiguous (billed, never read)
      assert.strictEqual(chunk?.state, "submitted")
      assert.isDefined(chunk?.job)
      assert.strictEqual((yield* inner.counters).submissions, 1)
    }))

  it.effect("stopped while its submit waits at the rate-limit gate: nothing left, so a resume sends it", () =>
    Effect.gen(function*() {
      // like Fiber past its starts a minute: the chunk is recorded, its start waits at the gate when the run is
      // stopped. Kept as "recorded", a resume reported it ambiguous and its people skipped the provider.
      const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 100 })
      const atGate = yield* Deferred.make<void>()
      const fiberLike = (gated: boolean): ContactProviderService => ({
        ...inner.service,
        capabilities: { ...inner.service.capabilities, resubmitSafety: "none" },
        submit: (request) =>
          gated
            ? Effect.zipRight(
              Effect.zipRight(Deferred.succeed(atGate, undefined), Effect.interruptible(Effect.never)),
              inner.service.submit(request)
            )
            : inner.service.submit(request)
      })
      const journal = yield* Journal.makeMemory
      const run = (gated: boolean) =>
        Waterfall.runCollecting({ runId: "gate", people, providers: ["a"], fields: ["work_email"] }).pipe(
          Effect.provide(layerOf(ContactProviders.fromServices([fiberLike(gated)]), journal))
        )
      const running = yield* Effect.fork(run(true))
      yield* Deferred.await(atGate)
      yield* Fiber.interrupt(running)
      assert.deepStrictEqual(yield* journal.openChunks("gate"), [], "no chunk left that may have been sent")
      assert.strictEqual((yield* inner.counters).submissions, 0)

      const resumed = yield* run(false)
      assert.deepStrictEqual(resumed.ambiguousChunks, [])
      assert.strictEqual((yield* inner.counters).submissions, 1)
      assert.strictEqual(resumed.providers[0]!.requested, people.length)
      assert.strictEqual(filled(resumed, "work_email"), 15)
    }))

  it.effect("a resumed chunk takes the path it was recorded for, so its idempotency key still holds", () =>
    Effect.gen(function*() {
      // 10 people in chunks of 8 and 2 go through jobs; after the crash the first chunk, recorded for a job, must
      // not go the synchronous way, which the provider charges under another key
      const journal = yield* Journal.makeMemory
      const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 8, costPerPerson: 2 })
      const calls = { submit: 0, sync: 0 }
      const service: ContactProviderService = {
        ...inner.service,
        submit: (request) => Effect.zipRight(Effect.sync(() => calls.submit++), inner.service.submit(request)),
        enrichSync: (request) => Effect.zipRight(Effect.sync(() => calls.sync++), inner.service.enrichSync(request))
      }
      const crashing = failingFirstMark(journal)
      const layer = (j: Journal.JournalService) => layerOf(ContactProviders.fromServices([service]), j)
      const options = {
        runId: "paths",
        people: people.slice(0, 10),
        providers: ["a"],
        fields: ["work_email"],
        concurrency: 1
      } as const
      assert.isTrue(
        Exit.isFailure(yield* Effect.exit(Waterfall.runCollecting(options).pipe(Effect.provide(layer(crashing)))))
      )
      const resumed = yield* Waterfall.runCollecting(options).pipe(Effect.provide(layer(journal)))
      // the crashed chunk is sent again under its key as a job (a replay the provider does not charge); the
      // second is planned from the whole list of 10, too many for one synchronous call, so it is a job too
      assert.strictEqual(calls.submit, 3)
      assert.strictEqual(calls.sync, 0)
      const seen = yield* inner.counters
      assert.strictEqual(seen.perPerson.size, 10)
      assert.isTrue([...seen.perPerson.values()].every((n) => n === 1))
      assert.strictEqual(filled(resumed, "work_email"), 10)
    }))

  it.effect("a synchronous call cut short by a crash is ambiguous without an idempotency key: not sent again", () =>
    Effect.gen(function*() {
      // like Crustdata: a job list to search for batch jobs, but a sync call leaves nothing to find there
      const journal = yield* Journal.makeMemory
      const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 8, costPerPerson: 2 })
      let syncCalls = 0
      let crash = true
      const service: ContactProviderService = {
        ...inner.service,
        capabilities: { ...inner.service.capabilities, resubmitSafety: "job-list" },
        findSubmitted: () => Effect.succeed(Option.none()),
        enrichSync: (request) =>
          Effect.zipRight(
            Effect.sync(() => syncCalls++),
            // the provider answered (and billed), then the process died before the page was committed
            Effect.flatMap(inner.service.enrichSync(request), (outcomes) =>
              crash ? Effect.die("killed") : Effect.succeed(outcomes))
          )
      }
      const layer = layerOf(ContactProviders.fromServices([service]), journal)
      const options = {
        runId: "sync-crash",
        people: people.slice(0, 3),
        providers: ["a"],
        fields: ["work_email"]
      } as const
      assert.isTrue(Exit.isFailure(yield* Effect.exit(Waterfall.runCollecting(options).pipe(Effect.provide(layer)))))
      assert.strictEqual(syncCalls, 1)
      crash = false
      const resumed = yield* Waterfall.runCollecting(options).pipe(Effect.provide(layer))
      assert.strictEqual(syncCalls, 1, "the sync call was not made again")
      assert.strictEqual(resumed.ambiguousChunks.length, 1)
      assertAddsUp(resumed)
      // on request it is resent
      const resent = yield* Waterfall.runCollecting({ ...options, resubmitAmbiguous: true }).pipe(Effect.provide(layer))
      assert.strictEqual(syncCalls, 2)
      assert.strictEqual(filled(resent, "work_email"), 3)
    }))

  it.effect("a lone small list goes the synchronous way", () =>
    Effect.gen(function*() {
      const { counters, result } = yield* runWith({
        people: people.slice(0, 3),
        providers: ["a"],
        fields: ["work_email"]
      })
      assert.strictEqual(counters.a.submissions, 1)
      assert.isTrue(
        [...result.outcomes.values()].flat().every((o) => o._tag !== "Found" || o.provenance.mode === "sync")
      )
      assert.strictEqual(filled(result, "work_email"), 3)
    }))

  it.effect("after a crash, a person in open chunks at two providers is sent to neither again", () =>
    Effect.gen(function*() {
      // as a kill can leave it with providers at work at once: an ambiguous chunk at "a" (no idempotency key,
      // no job list) and a job out at "b" for the same people
      const journal = yield* Journal.makeMemory
      const { a, b, registry } = yield* providers
      const ambiguousA: ContactProviderService = {
        ...a.service,
        capabilities: { ...a.service.capabilities, resubmitSafety: "none" }
      }
      const both = people.slice(20, 25)
      const keys = both.map((p) => p.key)
      yield* journal.recordChunk({
        runId: "r",
        provider: "a",
        idempotencyKey: "a-open",
        keys,
        fields: ["work_email"],
        path: "batch",
        reserved: 10
      })
      yield* journal.recordChunk({
        runId: "r",
        provider: "b",
        idempotencyKey: "b-open",
        keys,
        fields: ["work_email"],
        path: "batch",
        reserved: 15
      })
      const job = yield* b.service.submit(
        new EnrichRequest({
          people: both as [Person, ...Array<Person>],
          fields: ["work_email"],
          idempotencyKey: "b-open"
        })
      )
      yield* journal.markSubmitted("b-open", job)
      const layer = layerOf(ContactProviders.fromServices([ambiguousA, b.service, registry.get("c")!]), journal)
      const resumed = yield* Waterfall.runCollecting({
        runId: "r",
        people: people.slice(20, 30),
        providers: ["a", "b"],
        fields: ["work_email"]
      }).pipe(Effect.provide(layer))
      const seenA = yield* a.counters
      const seenB = yield* b.counters
      // b got them once (the job before the crash), a never (its chunk stays ambiguous)
      for (const key of keys) assert.strictEqual(seenB.perPerson.get(key), 1, key)
      assert.isFalse(keys.some((key) => (seenA.perPerson.get(key) ?? 0) > 0))
      assert.deepStrictEqual(resumed.ambiguousChunks, ["a-open"])
      // each is counted once at each provider: failed at a (ambiguous), answered by b
      const [summaryA, summaryB] = resumed.providers
      assert.deepStrictEqual([summaryA!.requested, summaryA!.failed], [10, 5])
      assert.strictEqual(summaryB!.requested, 10)
      assertAddsUp(resumed)
      for (const key of keys) {
        assert.deepStrictEqual(resumed.outcomes.get(key)!.map((o) => o._tag), ["Failed", "Found"])
      }
    }))

  describe("resuming a chunk recorded but never marked submitted", () => {
    /**
     * Provider "a" as a job-list provider (like Crustdata): no idempotency key, but `findSubmitted` searches the
     * jobs it accepted. `reached` counts submits that got to the provider; the first submit can die before it does.
     */
    const jobListProvider = (options: { readonly dieBeforeFirstSubmit?: boolean; readonly findSubmitted: boolean }) =>
      Effect.gen(function*() {
        const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 8, costPerPerson: 2 })
        const accepted = new Map<string, JobRef>()
        const calls = { submit: 0, reached: 0, find: 0 }
        const service: ContactProviderService = {
          ...inner.service,
          capabilities: { ...inner.service.capabilities, resubmitSafety: options.findSubmitted ? "job-list" : "none" },
          submit: (request) =>
            Effect.suspend(() => {
              if (options.dieBeforeFirstSubmit === true && calls.submit++ === 0) return Effect.die("process killed")
              calls.reached++
              return Effect.tap(inner.service.submit(request), (ref) => {
                accepted.set(request.idempotencyKey, ref)
              })
            }),
          ...(options.findSubmitted
            ? {
              findSubmitted: (request) =>
                Effect.sync(() => {
                  calls.find++
                  return Option.fromNullable(accepted.get(request.idempotencyKey))
                })
            }
            : {})
        }
        return { service, calls, counters: inner.counters }
      })

    const crashThenResume = (
      provider: ContactProviderService,
      crashOnFirstMarkSubmitted: boolean
    ) =>
      Effect.gen(function*() {
        const journal = yield* Journal.makeMemory
        const crashing = crashOnFirstMarkSubmitted ? failingFirstMark(journal) : journal
        const layer = (j: Journal.JournalService) => layerOf(ContactProviders.fromServices([provider]), j)
        // one chunk at a time, so the crash leaves exactly the first chunk "recorded"
        const options = { runId: "r", people, providers: ["a"], fields: ["work_email"], concurrency: 1 } as const
        const first = yield* Effect.exit(Waterfall.runCollecting(options).pipe(Effect.provide(layer(crashing))))
        assert.isTrue(Exit.isFailure(first))
        const recorded = (yield* journal.chunks("r")).filter((c) => c.state === "recorded")
        assert.strictEqual(recorded.length, 1)
        const resumed = yield* Waterfall.runCollecting(options).pipe(Effect.provide(layer(journal)))
        return { journal, resumed, recorded: recorded[0]! }
      })

    it.effect("a job the provider lists is adopted, not sent again", () =>
      Effect.gen(function*() {
        const { calls, counters, service } = yield* jobListProvider({ findSubmitted: true })
        const { journal, recorded, resumed } = yield* crashThenResume(service, true)
        assert.strictEqual(calls.find, 1)
        // 4 chunks of at most 8: the crashed one reached the provider once, and was not sent again
        assert.strictEqual(calls.reached, 4)
        const seen = yield* counters
        assert.strictEqual(seen.perPerson.size, 30)
        assert.isTrue([...seen.perPerson.values()].every((n) => n === 1))
        assert.deepStrictEqual(resumed.ambiguousChunks, [])
        assert.strictEqual(filled(resumed, "work_email"), 15)
        for (const key of recorded.keys) {
          assert.deepStrictEqual(resumed.outcomes.get(key)!.map((o) => o._tag).filter((t) => t === "Failed"), [])
        }
        // the adopted job is in the journal now, finished, and its charge counted once
        const chunk = (yield* journal.chunks("r")).find((c) => c.idempotencyKey === recorded.idempotencyKey)!
        assert.strictEqual(chunk.state, "finished")
        assert.strictEqual(chunk.job?.id, "a-job-1")
        assert.strictEqual(resumed.credits.spent, 60)
        assert.strictEqual(seen.creditsCharged, 60)
      }))

    it.effect("a job the provider does not list is sent normally", () =>
      Effect.gen(function*() {
        const { calls, counters, service } = yield* jobListProvider({ findSubmitted: true, dieBeforeFirstSubmit: true })
        const { resumed } = yield* crashThenResume(service, false)
        assert.strictEqual(calls.find, 1)
        assert.strictEqual(calls.reached, 4)
        const seen = yield* counters
        assert.isTrue([...seen.perPerson.values()].every((n) => n === 1))
        assert.strictEqual(seen.perPerson.size, 30)
        assert.deepStrictEqual(resumed.ambiguousChunks, [])
        assert.strictEqual(filled(resumed, "work_email"), 15)
      }))

    it.effect("without idempotency keys or a job list the chunk stays ambiguous", () =>
      Effect.gen(function*() {
        const { calls, counters, service } = yield* jobListProvider({ findSubmitted: false })
        const { recorded, resumed } = yield* crashThenResume(service, true)
        assert.strictEqual(calls.find, 0)
        // the crashed chunk is neither looked up nor resent: 3 more chunks reach the provider
        assert.strictEqual(calls.reached, 4)
        assert.deepStrictEqual(resumed.ambiguousChunks, [recorded.idempotencyKey])
        assert.isTrue([...(yield* counters).perPerson.values()].every((n) => n === 1))
        // the ambiguous chunk's people were asked too: they are the failures, and the counts add up
        const [summary] = resumed.providers
        assert.deepStrictEqual([summary!.requested, summary!.failed], [30, recorded.keys.length])
        assert.deepStrictEqual(summary!.failures.map((f) => [f.people, f.chunks]), [[recorded.keys.length, 1]])
        assertAddsUp(resumed)
        for (const key of recorded.keys) {
          assert.deepStrictEqual(resumed.outcomes.get(key)!.map((o) => o._tag), ["Failed"])
        }
      }))
  })

  it.effect("a provider that refuses our keys is stopped at once: nothing more is sent to it, the next goes on", () =>
    Effect.gen(function*() {
      const { a, b } = yield* providers
      let submits = 0
      const refusing: ContactProviderService = {
        ...a.service,
        submit: () =>
          Effect.suspend(() => {
            submits++
            return Effect.fail(new EnrichmentError.Unauthorized({ provider: "a", status: 401, message: "bad key" }))
          })
      }
      const events: Array<Waterfall.Event> = []
      const result = yield* Waterfall.runCollecting({
        runId: "r",
        people,
        providers: ["a", "b"],
        fields: ["work_email"],
        concurrency: 1,
        onEvent: (event) => Effect.sync(() => void events.push(event))
      }).pipe(Effect.provide(layerOf(ContactProviders.fromServices([refusing, b.service]), yield* Journal.makeMemory)))
      assert.strictEqual(submits, 1, "the 30 people make 4 chunks of 8: one refused submit, no more")
      const stoppedEvents = events.filter((e) => e._tag === "ProviderStopped")
      assert.strictEqual(stoppedEvents.length, 1)
      assert.include(stoppedEvents[0]!._tag === "ProviderStopped" ? stoppedEvents[0]!.reason : "", "Unauthorized")
      const atA = result.providers[0]!
      assert.strictEqual(atA.failed, 30)
      assert.isTrue(atA.failures.some((f) => f.reason.startsWith("not sent: a stopped after Unauthorized")))
      // b still works for everyone
      assert.strictEqual(result.providers[1]!.requested, 30)
      assertAddsUp(result)
    }))

  it.effect("a paid job whose reads keep failing is read again, then left stalled for resume, never failed", () =>
    Effect.gen(function*() {
      const { a } = yield* providers
      let reads = 0
      const broken = { value: true }
      const unreadable: ContactProviderService = {
        ...a.service,
        results: (ref, cursor) =>
          Stream.suspend(() => {
            reads++
            return broken.value
              ? Stream.fail(
                new EnrichmentError.MalformedResponse({
                  provider: "a",
                  endpoint: "GET /jobs/1",
                  status: 200,
                  path: "(body)",
                  detail: "is not JSON"
                })
              )
              : a.service.results(ref, cursor)
          })
      }
      const journal = yield* Journal.makeMemory
      const registry = ContactProviders.fromServices([unreadable])
      // two chunks of 8 (one lone small chunk would take the synchronous path, which has no job to read)
      const options = { runId: "r", people: people.slice(0, 16), providers: ["a"], fields: ["work_email"] } as const
      const events: Array<Waterfall.Event> = []
      const first = yield* Effect.fork(
        Waterfall.runCollecting({
          ...options,
          stallAfter: "5 minutes",
          onEvent: (e) => Effect.sync(() => void events.push(e))
        })
          .pipe(Effect.provide(layerOf(registry, journal)))
      )
      yield* TestClock.adjust("10 minutes")
      const stalled = yield* Fiber.join(first)
      assert.isAbove(reads, 3, "read again with backoff")
      assert.isTrue(events.some((e) => e._tag === "ChunkStalled"))
      const chunks = yield* journal.chunks("r")
      assert.deepStrictEqual(chunks.map((c) => c.state), ["submitted", "submitted"], "a resume reads them again")
      assert.strictEqual(stalled.providers[0]!.failed, 16)
      assert.include(stalled.providers[0]!.failures[0]!.reason, "stalled: MalformedResponse")
      assert.strictEqual(stalled.credits.spent, 0, "not settled: the job's cost is not known yet")
      // the provider reads fine again: a resume reads the same job, sends nothing new, and finishes it
      broken.value = false
      const submissions = (yield* a.counters).submissions
      const resumed = yield* Waterfall.runCollecting(options).pipe(Effect.provide(layerOf(registry, journal)))
      assert.strictEqual((yield* a.counters).submissions, submissions, "nothing sent twice")
      assert.deepStrictEqual((yield* journal.chunks("r")).map((c) => c.state), ["finished", "finished"])
      assert.strictEqual(resumed.providers[0]!.failed, 0)
      assertAddsUp(resumed)
    }))

  it.effect("settles from the job's reported charge, failed items included", () =>
    Effect.gen(function*() {
      // like TheHog: billed per person submitted; the adapter turns misses into Failed items that carry no cost
      const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 8, costPerPerson: 2 })
      const service: ContactProviderService = {
        ...withCost(inner.service, { billing: "per-request" }),
        results: (ref, cursor) =>
          Stream.map(inner.service.results(ref, cursor), (page) => ({
            ...page,
            results: page.results.map((o) =>
              o._tag === "NotFound" ? new Failed({ key: o.key, provider: "a", reason: "upstream timeout" }) : o
            )
          }))
      }
      const result = yield* Waterfall.runCollecting({ runId: "r", people, providers: ["a"], fields: ["work_email"] })
        .pipe(
          Effect.provide(Layer.mergeAll(
            Layer.succeed(ContactProviders, ContactProviders.fromServices([service])),
            Journal.layerMemory,
            Budget.layer(undefined)
          ))
        )
      const charged = (yield* inner.counters).creditsCharged
      assert.strictEqual(charged, 60)
      assert.strictEqual(result.providers[0]!.failed, 15)
      assert.strictEqual(result.providers[0]!.credits, charged)
      assert.strictEqual(result.credits.spent, charged)
    }))

  describe("tallies", () => {
    it.effect("a failed chunk is named with its people and reason, and the counts add up", () =>
      Effect.gen(function*() {
        const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 8, failingJobs: [1, 3] })
        const journal = yield* Journal.makeMemory
        const options = { runId: "r", people, providers: ["a"], fields: ["work_email"], concurrency: 1 } as const
        const layer = layerOf(ContactProviders.fromServices([inner.service]), journal)
        const result = yield* Waterfall.runCollecting(options).pipe(Effect.provide(layer))
        const [a] = result.providers
        assert.deepStrictEqual([a!.requested, a!.failed], [30, 16])
        assert.deepStrictEqual(a!.failures, [{ reason: "JobFailed: job failed", people: 16, chunks: 2 }])
        assertAddsUp(result)
        // a resume (nothing left to do) counts the failures recorded before it, and the same outcomes
        const resumed = yield* Waterfall.runCollecting(options).pipe(Effect.provide(layer))
        assert.deepStrictEqual(resumed.providers, result.providers)
        const failedKey = (yield* journal.chunks("r")).find((c) => c.state === "failed")!.keys[0]!
        assert.deepStrictEqual(resumed.outcomes.get(failedKey)!.map((o) => o._tag), ["Failed"])
      }))

    it.effect("a person repeated on later pages, or failed after a page, is counted once", () =>
      Effect.gen(function*() {
        const inner = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 8, pageSize: 3 })
        // every page twice, then the stream fails: the people of the pages seen are not failed on top
        const service: ContactProviderService = {
          ...inner.service,
          results: (ref, cursor) =>
            Stream.concat(
              Stream.flatMap(Stream.take(inner.service.results(ref, cursor), 2), (page) => Stream.make(page, page)),
              Stream.fail(new JobFailed({ provider: "a", jobId: ref.id, message: "connection reset" }))
            )
        }
        const journal = yield* Journal.makeMemory
        const result = yield* Waterfall.runCollecting({ runId: "r", people, providers: ["a"], fields: ["work_email"] })
          .pipe(
            Effect.provide(layerOf(ContactProviders.fromServices([service]), journal))
          )
        const [a] = result.providers
        // 4 chunks (8, 8, 8, 6): 6 people answered in each, the other 2 (0 in the last) failed
        assert.strictEqual(a!.requested, 30)
        assert.strictEqual(a!.found + a!.notFound, 24)
        assert.deepStrictEqual(a!.failures, [{ reason: "JobFailed: connection reset", people: 6, chunks: 3 }])
        assertAddsUp(result)
      }))

    it.effect("credits the provider did not report are booked as estimated, apart", () =>
      Effect.gen(function*() {
        const reported = yield* makeInMemory({ name: "a", directory: directoryA, maxBatch: 8, costPerPerson: 2 })
        const guessed = yield* makeInMemory({
          name: "b",
          directory: directoryB,
          maxBatch: 5,
          costPerPerson: 3,
          estimatedCharges: true
        })
        const journal = yield* Journal.makeMemory
        const layer = layerOf(ContactProviders.fromServices([reported.service, guessed.service]), journal)
        const options = { runId: "r", people, providers: ["a", "b"], fields: ["work_email"] } as const
        const result = yield* Waterfall.runCollecting(options).pipe(Effect.provide(layer))
        const [a, b] = result.providers
        assert.deepStrictEqual([a!.credits, a!.estimatedCredits], [60, 0])
        assert.deepStrictEqual([b!.credits, b!.estimatedCredits], [60, 60])
        assert.deepStrictEqual([result.credits.spent, result.credits.estimated], [120, 60])
        for (const chunk of yield* journal.chunks("r")) assert.strictEqual(chunk.estimated, chunk.provider === "b")
        // and so after a resume, from the journal
        const resumed = yield* Waterfall.runCollecting(options).pipe(Effect.provide(layer))
        assert.deepStrictEqual(resumed.providers, result.providers)
        assert.strictEqual(resumed.credits.estimated, 60)
      }))
  })
})
