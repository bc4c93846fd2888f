import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import {
  type Contact,
  ContactProvider,
  FiberAiClient,
  FiberAiProvider,
  Identifier,
  type PersonResult,
  RateLimits
} from "@enrich/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { credentials } from "../src/Credentials.js"
import type { Env, EnvOptions, Faults } from "../src/Env.js"
import * as FiberAiSimulator from "../src/fiber/FiberAiSimulator.js"
import type { TruePerson } from "../src/Universe.js"
import { withPolicies, withSimulator } from "./utils/harness.js"

// provider time runs 200× faster: a provider minute is 0.3 s
const timeScale = 200

type Services = FiberAiClient.FiberAiClient | ContactProvider.ContactProvider | HttpClient.HttpClient

/** The simulator on loopback, and the real client + adapter pointed at it with time-scaled limits. */
const withFiber = <A, E>(
  envOptions: EnvOptions,
  simOptions: FiberAiSimulator.Options,
  body: (env: Env) => Effect.Effect<A, E, Services>,
  clientOptions: Partial<FiberAiClient.Options> = {}
) =>
  withSimulator(
    "/fiber",
    (env) => FiberAiSimulator.make(env, simOptions),
    { universe: { size: 600 }, timeScale, ...envOptions },
    (env) =>
      body(env).pipe(
        Effect.provide(FiberAiProvider.layer.pipe(
          Layer.provideMerge(FiberAiClient.layer({
            apiKey: Redacted.make(credentials.fiber.apiKey),
            baseUrl: "/fiber",
            limits: RateLimits.scale(FiberAiClient.defaultLimits, timeScale),
            ...clientOptions
          }))
        )),
        withPolicies({
          polling: { initialDelay: "10 millis", maxDelay: "50 millis", deadline: "20 seconds" },
          backoff: { base: "10 millis", max: "100 millis", times: 12 }
        })
      )
  )

const personOf = (url: string) => {
  const identifier = Either.getOrThrow(Identifier.parseLinkedIn(url))
  return new ContactProvider.Person({ key: identifier.key, identifier })
}

const requestOf = (people: ReadonlyArray<ContactProvider.Person>, fields: ReadonlyArray<Contact.Field>) =>
  new ContactProvider.EnrichRequest({
    people: people as [ContactProvider.Person, ...Array<ContactProvider.Person>],
    fields: fields as [Contact.Field, ...Array<Contact.Field>],
    idempotencyKey: ContactProvider.chunkKey("fiber", people.map((p) => p.key), fields)
  })

const collect = <E, R>(stream: Stream.Stream<ContactProvider.ResultPage, E, R>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const all = (pages: ReadonlyArray<ContactProvider.ResultPage>) => pages.flatMap((p) => p.results)

const keysOf = (outcomes: ReadonlyArray<PersonResult.ProviderOutcome>) => outcomes.map((o) => String(o.key))

/** What the adapter should report for `person` given Fiber's knowledge in the universe. */
const expected = (env: Env, person: TruePerson | undefined, fields: ReadonlyArray<Contact.Field>) => {
  if (person === undefined) return "NotFound"
  const known = env.universe.knowledge("fiber", person)
  const any = (fields.includes("work_email") && known.workEmail !== undefined) ||
    (fields.includes("personal_email") && known.personalEmail !== undefined) ||
    (fields.includes("phone") && known.phone !== undefined)
  return any ? "Found" : "NotFound"
}

/** The people of a lifecycle run: universe people, two unhealable URLs and two nobodies. */
const cast = (env: Env, n: number) => [
  ...env.universe.people.slice(0, n).map((p) => p.linkedinUrl),
  "https://www.linkedin.com/in/unresolvable-one",
  "https://www.linkedin.com/in/unresolvable-two",
  env.universe.ghostUrl(1),
  env.universe.ghostUrl(2)
]

const checkOutcomes = (
  env: Env,
  urls: ReadonlyArray<string>,
  outcomes: ReadonlyArray<PersonResult.ProviderOutcome>,
  fields: ReadonlyArray<Contact.Field>
) => {
  const keys = keysOf(outcomes)
  assert.strictEqual(new Set(keys).size, keys.length, "nobody comes out twice")
  assert.deepStrictEqual([...keys].sort(), urls.map((u) => String(personOf(u).key)).sort(), "everybody comes out")
  const bySlug = new Map(env.universe.people.map((p) => [`linkedin:in/${p.slug}`, p]))
  for (const outcome of outcomes) {
    const key = String(outcome.key)
    if (key.includes("unresolvable-")) {
      assert.strictEqual(outcome._tag, "Rejected", key)
      continue
    }
    const person = bySlug.get(key)
    assert.strictEqual(outcome._tag, expected(env, person, fields), key)
    if (outcome._tag === "Found" && person !== undefined) {
      const known = env.universe.knowledge("fiber", person)
      const work = outcome.emails.find((e) => e.kind === "work")
      if (fields.includes("work_email") && known.workEmail !== undefined) {
        assert.strictEqual(work?.address, known.workEmail.address)
        assert.strictEqual(work?.verdict, known.workEmail.verdict)
      }
      if (fields.includes("phone") && known.phone !== undefined) {
        assert.strictEqual(outcome.phones[0]?.number, known.phone)
      }
    }
  }
}

const costOf = (outcomes: ReadonlyArray<PersonResult.ProviderOutcome>) =>
  outcomes.reduce((n, o) => n + (o._tag === "Found" || o._tag === "NotFound" ? o.provenance.cost : 0), 0)

describe("FiberAi client against the simulator", () => {
  it.live("full lifecycle: partial results paged by cursor, everyone exactly once, credits settled", () =>
    // people finish over ~2.4 real seconds, so even a loaded machine polls the job while it runs
    withFiber({}, { perPersonMillis: 2_000 }, (env) =>
      Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const urls = cast(env, 240)
        const fields: ReadonlyArray<Contact.Field> = ["work_email", "phone"]
        const ref = yield* provider.submit(requestOf(urls.map(personOf), fields))
        assert.strictEqual(ref.people, urls.length)
        assert.strictEqual(ref.charged, urls.length * 5)
        const pages = yield* collect(provider.results(ref))
        const outcomes = all(pages)
        checkOutcomes(env, urls, outcomes, fields)
        // results arrived in more pages than full pages of 100 would need: partial results while running
        assert.isAbove(pages.length, Math.ceil(urls.length / 100))
        assert.isTrue(pages.every((p) => p.results.length <= 100 && p.cursor !== undefined))
        // the simulator's refunds and the adapter's per-person costs tell the same story
        const status = yield* provider.poll(ref)
        assert.strictEqual(status.state, "completed")
        assert.strictEqual(status.total, urls.length)
        assert.strictEqual(status.charged - status.refunded, costOf(outcomes))
        assert.strictEqual(env.counters.netCredits("fiber"), costOf(outcomes))
        assert.deepStrictEqual(env.counters.resubmitted("fiber"), [])
        assert.strictEqual(env.counters.totalRateLimited("fiber:"), 0)
      })))

  it.live("resuming from a stored cursor yields exactly the remaining people", () =>
    withFiber({}, {}, (env) =>
      Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const urls = cast(env, 150)
        const fields: ReadonlyArray<Contact.Field> = ["work_email", "personal_email", "phone"]
        const ref = yield* provider.submit(requestOf(urls.map(personOf), fields))
        const head = yield* collect(Stream.take(provider.results(ref), 2))
        const cursor = head[head.length - 1]!.cursor
        assert.isString(cursor)
        // a fresh stream, as after a restart: nothing but the JobRef and the cursor
        const rest = all(yield* collect(provider.results(ref, cursor)))
        const first = keysOf(all(head))
        assert.isTrue(keysOf(rest).every((k) => !first.includes(k)))
        checkOutcomes(env, urls, [...all(head), ...rest], fields)
        assert.strictEqual(env.counters.submissionsOf("fiber", `in/${env.universe.people[0]!.slug}`), 1)
      })))

  it.live("cancel midway: finished rows come out, then JobCanceled; the unclaimed are refunded", () =>
    withFiber({}, { firstResultMillis: 2_000, perPersonMillis: 10_000 }, (env) =>
      Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const urls = env.universe.people.slice(0, 100).map((p) => p.linkedinUrl)
        const ref = yield* provider.submit(requestOf(urls.map(personOf), ["work_email"]))
        // wait until a few people are done (~50 provider seconds in; one finishes every 10, plus jitter), then cancel
        yield* Effect.sleep("250 millis")
        const status = yield* provider.cancel(ref)
        assert.strictEqual(status.state, "canceled")
        const seen: Array<PersonResult.ProviderOutcome> = []
        const error = yield* Effect.flip(
          Stream.runForEach(provider.results(ref), (page) => Effect.sync(() => seen.push(...page.results)))
        )
        assert.strictEqual(error._tag, "JobCanceled")
        assert.isAbove(seen.length, 0)
        assert.isBelow(seen.length, 100)
        assert.strictEqual(seen.length, status.finished)
        // the canceled people cost nothing; those processed cost what they delivered
        assert.strictEqual(env.counters.netCredits("fiber"), costOf(seen))
        assert.strictEqual(status.charged - status.refunded, costOf(seen))
      })))

  it.live("a 5xx burst and a 429 storm are survived: everyone once, nothing paid twice", () => {
    const faults: Faults = { serverErrorBurst: { from: 1, length: 3 }, rateLimitStorm: { from: 6, length: 6 } }
    return withFiber({ faults: { fiber: faults } }, {}, (env) =>
      Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const urls = cast(env, 120)
        const fields: ReadonlyArray<Contact.Field> = ["personal_email"]
        const ref = yield* provider.submit(requestOf(urls.map(personOf), fields))
        const outcomes = all(yield* collect(provider.results(ref)))
        checkOutcomes(env, urls, outcomes, fields)
        assert.strictEqual(env.counters.requestsTo("fiber:batch/start"), 4)
        assert.isAtLeast(env.counters.totalRateLimited("fiber:"), 6)
        assert.deepStrictEqual(env.counters.resubmitted("fiber"), [])
        assert.strictEqual(env.counters.charged.get("fiber"), urls.length * 2)
        assert.strictEqual(env.counters.netCredits("fiber"), costOf(outcomes))
      }))
  })

  it.live(
    "a sustained run at the documented start limit draws no 429 over several windows",
    () =>
      withFiber({}, {}, (env) =>
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const people = env.universe.people.slice(0, 100).map((p) => personOf(p.linkedinUrl))
          // 100 starts at 30 a minute: more than three sliding windows of the simulator's, as fast as the gate allows
          yield* Effect.forEach(people, (p) => provider.submit(requestOf([p], ["work_email"])), { concurrency: 100 })
          assert.strictEqual(env.counters.requestsTo("fiber:batch/start"), 100)
          assert.strictEqual(env.counters.totalRateLimited("fiber"), 0)
        })),
    30_000
  )

  it.live("malformed and truncated bodies become MalformedResponse", () => {
    const faults: { -readonly [K in keyof Faults]: Faults[K] } = {}
    return withFiber({ faults: { fiber: faults } }, {}, (env) =>
      Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const ref = yield* provider.submit(requestOf([personOf(env.universe.people[0]!.linkedinUrl)], ["phone"]))
        faults.malformedRate = 1
        const drift = yield* Effect.flip(provider.poll(ref))
        assert.strictEqual(drift._tag, "MalformedResponse")
        assert.strictEqual(drift._tag === "MalformedResponse" ? drift.path : "", `["output"]["overallStats"]`)
        faults.malformedRate = 0
        faults.truncatedRate = 1
        const cut = yield* Effect.flip(collect(provider.results(ref)))
        assert.strictEqual(cut._tag, "MalformedResponse")
        faults.truncatedRate = 0
        assert.strictEqual(all(yield* collect(provider.results(ref))).length, 1)
      }))
  })

  it.live("unknown enum values do not break a job", () =>
    withFiber({ faults: { fiber: { unknownEnumRate: 0.5 } } }, {}, (env) =>
      Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const urls = cast(env, 60)
        const fields: ReadonlyArray<Contact.Field> = ["phone"]
        const ref = yield* provider.submit(requestOf(urls.map(personOf), fields))
        const outcomes = all(yield* collect(provider.results(ref)))
        checkOutcomes(env, urls, outcomes, fields)
      })))

  it.live("enrichSync calls /single per person; exhaustive keeps low-quality emails apart", () =>
    // the reveal takes ~0.5 real seconds, so the client polls it more than once even on a loaded machine
    withFiber({}, { exhaustiveMillis: 100_000 }, (env) =>
      Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const people = env.universe.people.slice(0, 6)
        const fields: ReadonlyArray<Contact.Field> = ["work_email", "personal_email", "phone"]
        const outcomes = yield* provider.enrichSync(requestOf(people.map((p) => personOf(p.linkedinUrl)), fields))
        assert.strictEqual(env.counters.requestsTo("fiber:single"), 6)
        assert.deepStrictEqual(
          outcomes.map((o) => o._tag),
          people.map((p) => expected(env, p, fields))
        )
        assert.strictEqual(env.counters.netCredits("fiber"), costOf(outcomes))

        const risky = env.universe.people.find((p) =>
          env.universe.knowledge("fiber", p).workEmail?.verdict === "risky"
        )!
        const fiber = yield* FiberAiClient.FiberAiClient
        const before = env.counters.netCredits("fiber")
        const result = yield* fiber.exhaustive(risky.slug, ["work_email"])
        assert.strictEqual(result.status, "completed")
        assert.deepStrictEqual(result.lowQualityEmails.map((e) => [e.address, e.verdict]), [[risky.workEmail, "risky"]])
        assert.isFalse(result.emails.some((e) => e.address === risky.workEmail))
        assert.strictEqual(env.counters.netCredits("fiber") - before, result.creditsCharged)
        assert.isAbove(env.counters.requestsTo("fiber:exhaustive/poll"), 1)
      })))
})

describe("FiberAi client against the other documented chargeInfo shapes", () => {
  // `once` is the default: each answer's chargeInfo is what that answer charged or refunded
  const shapes: ReadonlyArray<FiberAiSimulator.ChargeShapes> = [
    { billing: "on-completion" },
    { billing: "upfront" }
  ]
  const finalOf = (pages: ReadonlyArray<ContactProvider.ResultPage>) => {
    const final = pages[pages.length - 1]?.final
    if (final === undefined) throw new Error("no final status on the last page")
    return final
  }

  for (const charges of shapes) {
    it.live(`${JSON.stringify(charges)}: the credits booked are what the simulator charged`, () =>
      withFiber({}, { perPersonMillis: 1_000, charges }, (env) =>
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const urls = cast(env, 150)
          const fields: ReadonlyArray<Contact.Field> = ["work_email", "phone"]
          const ref = yield* provider.submit(requestOf(urls.map(personOf), fields))
          // billed on completion: nothing charged yet, the price list's figure booked meanwhile and marked so
          assert.strictEqual(ref.estimated, charges.billing === "on-completion")
          assert.strictEqual(ref.charged, urls.length * 5)
          const pages = yield* collect(provider.results(ref))
          const outcomes = all(pages)
          checkOutcomes(env, urls, outcomes, fields)
          const final = finalOf(pages)
          assert.isFalse(final.estimated)
          // upfront: the undelivered data was refunded; on completion: only the delivered data was charged
          if (charges.billing === "on-completion") assert.strictEqual(env.counters.refunded.get("fiber") ?? 0, 0)
          else assert.isAbove(env.counters.refunded.get("fiber") ?? 0, 0)
          assert.strictEqual(final.charged - final.refunded, env.counters.netCredits("fiber"))
          assert.strictEqual(final.charged - final.refunded, costOf(outcomes))
        })))
  }

  it.live("refunds reported once: a stream resumed in a new process books those reported before the crash", () =>
    withFiber({}, { perPersonMillis: 1_000, charges: { reports: "once" } }, (env) =>
      Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const urls = cast(env, 150)
        const fields: ReadonlyArray<Contact.Field> = ["work_email", "personal_email", "phone"]
        const ref = yield* provider.submit(requestOf(urls.map(personOf), fields))
        const head = yield* collect(Stream.take(provider.results(ref), 2))
        assert.isAbove(env.counters.refunded.get("fiber") ?? 0, 0, "refunds were paid before the crash")
        // a new adapter, as after a restart: nothing but the JobRef and the stored cursor
        const restarted = yield* FiberAiProvider.make
        const rest = yield* collect(restarted.results(ref, head[head.length - 1]!.cursor))
        checkOutcomes(env, urls, [...all(head), ...all(rest)], fields)
        const final = finalOf(rest)
        assert.strictEqual(final.charged - final.refunded, env.counters.netCredits("fiber"))
      })))

  for (const charges of shapes) {
    it.live(`${JSON.stringify(charges)}: cancel midway, the status books what the simulator charged`, () =>
      withFiber({}, { firstResultMillis: 2_000, perPersonMillis: 10_000, charges }, (env) =>
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const urls = env.universe.people.slice(0, 100).map((p) => p.linkedinUrl)
          const ref = yield* provider.submit(requestOf(urls.map(personOf), ["work_email"]))
          yield* Effect.sleep("250 millis")
          const status = yield* provider.cancel(ref)
          assert.strictEqual(status.state, "canceled")
          assert.isFalse(status.estimated)
          assert.strictEqual(status.charged - status.refunded, env.counters.netCredits("fiber"))
        })))
  }
})
