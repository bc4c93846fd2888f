import { assert, describe, it } from "@effect/vitest"
import {
  Budget,
  Contact,
  ContactProvider,
  Identifier,
  Journal,
  type PersonResult,
  RateLimits,
  TheHogClient,
  TheHogProvider,
  Waterfall
} from "@enrich/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { credentials } from "../src/Credentials.js"
import type { Env, EnvOptions } from "../src/Env.js"
import * as TheHogSimulator from "../src/thehog/TheHogSimulator.js"
import type { TruePerson } from "../src/Universe.js"
import { withPolicies, withSimulator } from "./utils/harness.js"

// Provider time runs 100× faster than real time; client limits are scaled the same way.
const timeScale = 100

interface Setup {
  readonly env?: EnvOptions
  readonly simulator?: TheHogSimulator.Options
  readonly client?: Partial<TheHogClient.Options>
}

/** The simulator under `/thehog` on loopback, and the TheHog client + adapter pointed at it. */
const withProvider = <A, E>(
  setup: Setup,
  body: (env: Env) => Effect.Effect<A, E, ContactProvider.ContactProvider | TheHogClient.TheHogClient>
) =>
  withSimulator(
    "/thehog",
    (env) => TheHogSimulator.make(env, setup.simulator),
    { universe: { size: 300 }, timeScale, ...setup.env },
    (env) =>
      body(env).pipe(
        Effect.provide(TheHogProvider.layer.pipe(
          Layer.provideMerge(TheHogClient.layer({
            accessKey: Redacted.make(credentials.thehog.accessKey),
            secretKey: Redacted.make(credentials.thehog.secretKey),
            // the loopback client already prefixes the server address
            baseUrl: "/thehog",
            limits: RateLimits.scale(TheHogClient.defaultLimits, timeScale),
            ...setup.client
          }))
        )),
        withPolicies({
          polling: { initialDelay: "20 millis", maxDelay: "50 millis", deadline: "20 seconds" },
          backoff: { base: "20 millis", max: "200 millis", times: 12 }
        })
      )
  )

const kinds = ["linkedin", "email", "x", "github"] as const

/** People of the universe named by every identifier kind in turn, plus ghosts nobody knows. */
const peopleOf = (env: Env, from: number, count: number, ghosts = 0) => {
  const people: Array<{ readonly person: ContactProvider.Person; readonly truth: TruePerson | undefined }> = []
  for (let i = 0; i < count; i++) {
    const truth = env.universe.people[from + i]!
    const kind = kinds[i % kinds.length]!
    const input = kind === "linkedin"
      ? truth.linkedinUrl.replace("https://www.", "")
      : kind === "email"
      ? truth.workEmail
      : kind === "x"
      ? `@${truth.xHandle}`
      : truth.github
    const identifier = Either.getOrThrow(Identifier.parse(kind, input))
    people.push({ person: new ContactProvider.Person({ key: identifier.key, identifier }), truth })
  }
  for (let g = 0; g < ghosts; g++) {
    const identifier = Either.getOrThrow(Identifier.parseLinkedIn(env.universe.ghostUrl(from + g)))
    people.push({ person: new ContactProvider.Person({ key: identifier.key, identifier }), truth: undefined })
  }
  return people
}

const allFields: ReadonlyArray<Contact.Field> = ["work_email", "personal_email", "phone"]

const requestOf = (people: ReadonlyArray<{ readonly person: ContactProvider.Person }>, fields = allFields) => {
  const persons = people.map((p) => p.person)
  return new ContactProvider.EnrichRequest({
    people: persons as [ContactProvider.Person, ...Array<ContactProvider.Person>],
    fields: fields as [Contact.Field, ...Array<Contact.Field>],
    idempotencyKey: ContactProvider.chunkKey("thehog", persons.map((p) => p.key), fields)
  })
}

/** What TheHog should say of someone: its verified emails and its phone, or nothing. */
const expected = (env: Env, truth: TruePerson | undefined) => {
  if (truth === undefined) return { emails: [], phones: [] }
  const known = env.universe.knowledge("thehog", truth)
  const emails = [known.workEmail, known.personalEmail].flatMap((e) => e?.verdict === "valid" ? [e.address] : [])
  return { emails: emails.sort(), phones: known.phone === undefined ? [] : [known.phone] }
}

const valuesOf = (outcome: PersonResult.ProviderOutcome) =>
  outcome._tag === "Found"
    ? { emails: outcome.emails.map((e) => e.address).sort(), phones: outcome.phones.map((p) => p.number) }
    : { emails: [], phones: [] }

const runAll = (ref: ContactProvider.JobRef, cursor?: string) =>
  Effect.flatMap(
    ContactProvider.ContactProvider,
    (provider) => Effect.map(Stream.runCollect(provider.results(ref, cursor)), Chunk.toReadonlyArray)
  )

/** A JobRef's meta as the provider reads it, which must be an operation. */
const operationMeta = (ref: ContactProvider.JobRef) => {
  const meta = Schema.decodeUnknownSync(TheHogProvider.JobMeta)(ref.meta)
  if (meta._tag !== "Operation") throw new Error(`not an operation: ${meta._tag}`)
  return meta
}

const submitted = (env: Env, person: ContactProvider.Person) => {
  const id = person.identifier
  const wire = TheHogProvider.toWire(id)
  const [key, value] = Object.entries(wire)[0]!
  return env.counters.submissionsOf("thehog", `${key}:${value}`)
}

describe("TheHog client against the simulator", () => {
  it.live(
    "runs a batch end to end: every person exactly once, values as the universe says, paid once",
    () =>
      withProvider({}, (env) =>
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const people = peopleOf(env, 0, 58, 2)
          const ref = yield* provider.submit(requestOf(people))
          assert.strictEqual(ref.people, 60)
          assert.strictEqual(ref.charged, 180)
          assert.strictEqual(operationMeta(ref).pollUrl, `/api/operations/${ref.id}`)
          const pages = yield* runAll(ref)
          assert.deepStrictEqual(pages.map((p) => p.cursor), ["25", "50", undefined])
          const outcomes = pages.flatMap((p) => p.results)
          const byKey = new Map(outcomes.map((o) => [o.key, o]))
          assert.strictEqual(outcomes.length, 60)
          assert.strictEqual(byKey.size, 60)
          let found = 0
          for (const { person, truth } of people) {
            const outcome = byKey.get(person.key)!
            assert.isDefined(outcome, person.key)
            const want = expected(env, truth)
            assert.deepStrictEqual(valuesOf(outcome), want, person.key)
            assert.strictEqual(outcome._tag, want.emails.length + want.phones.length > 0 ? "Found" : "NotFound")
            if (outcome._tag === "Found") {
              found++
              assert.isTrue(outcome.emails.every((e) => e.verdict === "valid"))
              assert.strictEqual(outcome.provenance.cost, 3)
              assert.strictEqual(outcome.provenance.provider, "thehog")
            }
            assert.strictEqual(submitted(env, person), 1)
          }
          assert.isAbove(found, 10)
          const status = yield* provider.poll(ref)
          assert.strictEqual(status.state, "completed")
          assert.strictEqual(env.counters.netCredits("thehog"), 180)
          // resuming after the first page yields exactly the rest, with no new submission
          const rest = (yield* runAll(ref, pages[0]!.cursor)).flatMap((p) => p.results)
          assert.deepStrictEqual(rest.map((o) => o.key), outcomes.slice(25).map((o) => o.key))
          assert.strictEqual(env.counters.netCredits("thehog"), 180)
          // the client gate kept every poll inside the 30/minute bucket
          assert.strictEqual(env.counters.totalRateLimited("thehog"), 0)
        })),
    30_000
  )

  it.live(
    "answers a single LinkedIn person synchronously, and a retried sync call is not charged again",
    () =>
      withProvider({}, (env) =>
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const [one] = peopleOf(env, 100, 1)
          const first = yield* provider.enrichSync(requestOf([one!], ["work_email"]))
          const again = yield* provider.enrichSync(requestOf([one!], ["work_email"]))
          assert.strictEqual(first.length, 1)
          assert.deepStrictEqual(again.map((o) => o._tag), first.map((o) => o._tag))
          const want = expected(env, one!.truth).emails.filter((e) =>
            Contact.fieldOfEmail(new Contact.Email({ address: e, kind: "unknown", verdict: "valid" })) === "work_email"
          )
          assert.deepStrictEqual(valuesOf(first[0]!).emails, want)
          assert.strictEqual(env.counters.netCredits("thehog"), 1)
          assert.strictEqual(env.counters.requestsTo("thehog:enrichments"), 2)
          assert.strictEqual(env.counters.requestsTo("thehog:operations/:id"), 0)
          // someone named by email goes async behind the same call
          const [byEmail] = peopleOf(env, 101, 2).slice(1)
          const outcome = yield* provider.enrichSync(requestOf([byEmail!]))
          assert.deepStrictEqual(outcome.map((o) => o.key), [byEmail!.person.key])
          assert.isAbove(env.counters.requestsTo("thehog:operations/:id"), 0)
        })),
    30_000
  )

  it.live("survives a 429 storm and a 5xx burst: everyone once, one charge, one submission each", () =>
    withProvider({
      env: {
        faults: { thehog: { rateLimitStorm: { from: 2, length: 6 }, serverErrorBurst: { from: 10, length: 4 } } }
      }
    }, (env) =>
      Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const chunks = [peopleOf(env, 0, 30), peopleOf(env, 30, 30)]
        const refs = yield* Effect.forEach(chunks, (people) => provider.submit(requestOf(people)), { concurrency: 2 })
        const outcomes = (yield* Effect.forEach(refs, (ref) => runAll(ref), { concurrency: 2 })).flat().flatMap((p) =>
          p.results
        )
        assert.strictEqual(outcomes.length, 60)
        assert.strictEqual(new Set(outcomes.map((o) => o.key)).size, 60)
        assert.isAbove(env.counters.totalRateLimited("thehog"), 0)
        assert.strictEqual(env.counters.netCredits("thehog"), 180)
        assert.deepStrictEqual(env.counters.resubmitted("thehog"), [])
      })), 30_000)

  it.live("a submit retried after a timeout whose first attempt reached TheHog is not paid twice", () =>
    withProvider({
      simulator: { slowSubmit: { count: 1, millis: 400 } },
      client: { timeout: "100 millis" }
    }, (env) =>
      Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const people = peopleOf(env, 0, 10)
        const ref = yield* provider.submit(requestOf(people))
        // two requests reached the server, one job was made and paid
        assert.strictEqual(env.counters.requestsTo("thehog:enrichments"), 2)
        assert.strictEqual(env.counters.netCredits("thehog"), 30)
        assert.deepStrictEqual(env.counters.resubmitted("thehog"), [])
        assert.strictEqual(ref.id, "op_01HOG000000000000000000001")
        // the replayed answer belongs to this submit's own first attempt: its charge is reported once, here
        assert.strictEqual(ref.charged, 30)
        const outcomes = (yield* runAll(ref)).flatMap((p) => p.results)
        assert.strictEqual(outcomes.length, 10)
        // a later resubmit of the same chunk (a worker restarting) gets the same operation, still unpaid
        const again = yield* provider.submit(requestOf(people))
        assert.strictEqual(again.id, ref.id)
        assert.strictEqual(env.counters.netCredits("thehog"), 30)
        // ...and says so, so the budget does not count it a second time
        assert.strictEqual(again.charged, 0)
        assert.strictEqual(operationMeta(again).replayed, true)
        assert.strictEqual(operationMeta(again).replayedCost, 30)
        assert.strictEqual(ref.charged + again.charged, env.counters.netCredits("thehog"))
      })), 30_000)

  it.live(
    "malformed and truncated answers are MalformedResponse; resubmitting then replays the job unpaid",
    () =>
      withProvider({ env: { faults: { thehog: { malformedRate: 1 } } } }, (env) =>
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const people = peopleOf(env, 0, 5)
          const malformed = yield* Effect.flip(provider.submit(requestOf(people)))
          assert.strictEqual(malformed._tag, "MalformedResponse")
          if (malformed._tag === "MalformedResponse") assert.strictEqual(malformed.path, `["id"]`)
          env.faults.thehog = {}
          const ref = yield* provider.submit(requestOf(people))
          assert.strictEqual(env.counters.netCredits("thehog"), 15)
          env.faults.thehog = { truncatedRate: 1 }
          const truncated = yield* Effect.flip(provider.poll(ref))
          assert.strictEqual(truncated._tag, "MalformedResponse")
          env.faults.thehog = {}
          assert.strictEqual((yield* runAll(ref)).flatMap((p) => p.results).length, 5)
        })),
    30_000
  )

  it.live(
    "takes unknown enum values, absolute pollUrls and the enrichments poll path in its stride",
    () =>
      withProvider({
        env: { faults: { thehog: { unknownEnumRate: 0.5 } } },
        simulator: { absolutePollUrl: true, pollPath: "enrichments" }
      }, (env) =>
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const people = peopleOf(env, 0, 20, 1)
          const ref = yield* provider.submit(requestOf(people, ["phone"]))
          assert.match(operationMeta(ref).pollUrl!, /^http:\/\/.+\/thehog\/api\/enrichments\/op_/)
          const outcomes = (yield* runAll(ref)).flatMap((p) => p.results)
          assert.strictEqual(outcomes.length, 21)
          for (const { person, truth } of people) {
            const outcome = outcomes.find((o) => o.key === person.key)!
            assert.deepStrictEqual(valuesOf(outcome).phones, expected(env, truth).phones)
            assert.deepStrictEqual(valuesOf(outcome).emails, [])
          }
          assert.isAbove(env.counters.requestsTo("thehog:enrichments/:id"), 0)
          assert.strictEqual(env.counters.requestsTo("thehog:operations/:id"), 0)
          assert.strictEqual(env.counters.netCredits("thehog"), 42)
        })),
    30_000
  )

  it.live(
    "reports failed items as Failed and failed jobs as JobFailed",
    () =>
      withProvider({ env: { seed: 9 }, simulator: { itemFailureRate: 0.3 } }, (env) =>
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const ref = yield* provider.submit(requestOf(peopleOf(env, 0, 40)))
          const outcomes = (yield* runAll(ref)).flatMap((p) => p.results)
          assert.strictEqual(outcomes.length, 40)
          const failed = outcomes.filter((o) => o._tag === "Failed")
          assert.isAbove(failed.length, 3)
          assert.isTrue(failed.every((o) => o._tag === "Failed" && o.reason === "Upstream provider timeout"))
          env.faults.thehog = { failJobRate: 1 }
          const doomed = yield* provider.submit(requestOf(peopleOf(env, 40, 5)))
          const error = yield* Effect.flip(runAll(doomed))
          assert.strictEqual(error._tag, "JobFailed")
          assert.strictEqual((yield* provider.poll(doomed)).state, "failed")
        })),
    30_000
  )
})

/**
 * The 202 in each documented reading (issue 13): Shapes-B's whole job reference, or the guide's bare "job
 * reference" polled at `GET /api/enrichments/:id`; with or without `meta.cost`.
 */
const shapes: ReadonlyArray<{
  readonly name: string
  readonly simulator: TheHogSimulator.Options
  /** TheHog says what it charged (`meta.cost.actual`) */
  readonly reported: boolean
  /** the 202 names a pollUrl (else the client polls `GET /api/enrichments/:id`) */
  readonly pollUrl: boolean
}> = [
  { name: "the whole documented 202, with meta.cost", simulator: {}, reported: true, pollUrl: true },
  {
    name: "the whole documented 202, without meta.cost",
    simulator: { reportCost: false },
    reported: false,
    pollUrl: true
  },
  { name: "only `id`", simulator: { acceptedFields: ["id"] }, reported: false, pollUrl: false },
  {
    name: "only `operationId` and `status`",
    simulator: { acceptedFields: ["operationId", "status"] },
    reported: false,
    pollUrl: false
  },
  { name: "only a relative `pollUrl`", simulator: { acceptedFields: ["pollUrl"] }, reported: false, pollUrl: true },
  {
    name: "no `pollUrl`, with meta.cost",
    simulator: { acceptedFields: ["id", "operationId", "status", "meta"], pollPath: "enrichments" },
    reported: true,
    pollUrl: false
  }
]

describe("TheHog's 202 in every documented shape, through the waterfall", () => {
  for (const shape of shapes) {
    it.live(
      `${shape.name}: every chunk's people come back, credits booked as TheHog reports or marked estimated`,
      () =>
        withProvider({ simulator: shape.simulator }, (env) =>
          Effect.gen(function*() {
            const provider = yield* ContactProvider.ContactProvider
            const people = peopleOf(env, 0, 90, 10)
            const journal = yield* Journal.makeMemory
            const result = yield* Waterfall.runCollecting({
              runId: "shapes",
              people: people.map((p) => p.person),
              providers: ["thehog"],
              fields: allFields as [Contact.Field, ...Array<Contact.Field>],
              chunkSize: 30
            }).pipe(
              Effect.provideService(
                ContactProvider.ContactProviders,
                ContactProvider.ContactProviders.fromServices([provider])
              ),
              Effect.provideService(Journal.Journal, journal),
              Effect.provide(Budget.layer(undefined))
            )
            const chunks = yield* journal.chunks("shapes")
            assert.isAtLeast(chunks.length, 3)
            // every chunk finished and every person came back with TheHog's answer
            assert.deepStrictEqual(chunks.map((c) => c.state), chunks.map(() => "finished"))
            for (const { person, truth } of people) {
              const outcome = result.outcomes.get(person.key)?.[0]
              assert.isDefined(outcome, person.key)
              assert.deepStrictEqual(valuesOf(outcome!), expected(env, truth), person.key)
              if (outcome!._tag === "Found" || outcome!._tag === "NotFound") {
                assert.strictEqual(outcome!.provenance.estimated, !shape.reported)
              } else assert.fail(`${person.key}: ${outcome!._tag}`)
            }
            const summary = result.providers[0]!
            assert.strictEqual(summary.found + summary.notFound, people.length)
            // booked: what the simulator charged; marked estimated when it did not say so
            assert.strictEqual(summary.credits, env.counters.netCredits("thehog"))
            assert.strictEqual(env.counters.netCredits("thehog"), 300)
            assert.deepStrictEqual(chunks.map((c) => c.estimated), chunks.map(() => !shape.reported))
            // each chunk was sent once; where no pollUrl was given, the guide's poll was used
            assert.deepStrictEqual(env.counters.resubmitted("thehog"), [])
            assert.strictEqual(env.counters.requestsTo("thehog:enrichments"), chunks.length)
            if (!shape.pollUrl) {
              assert.isAbove(env.counters.requestsTo("thehog:enrichments/:id"), 0)
              assert.strictEqual(env.counters.requestsTo("thehog:operations/:id"), 0)
            }
          })),
      30_000
    )
  }
})
