import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as ConfigProvider from "effect/ConfigProvider"
import * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Backoff from "../src/Backoff.js"
import type { Field } from "../src/Contact.js"
import { ContactProvider, JobRef, Person, type ResultPage } from "../src/ContactProvider.js"
import * as FiberAiApi from "../src/FiberAiApi.js"
import * as FiberAiClient from "../src/FiberAiClient.js"
import * as FiberAiProvider from "../src/FiberAiProvider.js"
import * as Identifier from "../src/Identifier.js"
import type { ProviderOutcome } from "../src/PersonResult.js"
import * as Polling from "../src/Polling.js"
import { type Answer, fakeHttp, json, type Seen } from "./utils/fakeHttp.js"
import { linkedInPerson, requestOf, urlOf } from "./utils/requests.js"
import { observe } from "./utils/telemetry.js"

const apiKey = "fiber-secret-key-0815"
const base = "http://fiber.test"

/** A fake Fiber: every request is a POST with a JSON body. */
const fake = (handler: (request: Seen<Record<string, unknown>>, n: number) => Answer) => {
  const { layer, seen } = fakeHttp(handler)
  return { seen, client: layer }
}

const envelope = (output: unknown, chargeInfo: unknown = { method: "free", message: "free" }) => ({
  output,
  chargeInfo,
  advice: []
})

const person = (slug: string) => linkedInPerson(`linkedin.com/in/${slug}/`)
const [ada, alan, grace, ghost] = ["ada", "alan", "grace", "ghost"].map(person) as [Person, Person, Person, Person]

const request = requestOf("fiber")

/** A task started a minute before the test clock's 0 (polled at once), unless `submittedAt` says otherwise. */
const jobRef = (
  fields: ReadonlyArray<Field> = ["work_email", "personal_email", "phone"],
  submittedAt: DateTime.Utc = DateTime.unsafeMake(-60_000)
) =>
  new JobRef({
    provider: "fiber",
    id: "task-1",
    mode: "batch",
    submittedAt,
    people: 4,
    fields: fields as [Field, ...Array<Field>],
    charged: 20
  })

const stats = (
  over: Partial<FiberAiApi.OverallStats> = {}
): FiberAiApi.OverallStats => ({
  totalPeopleToFetch: 4,
  numCompleted: 0,
  numFailed: 0,
  numRemaining: 4,
  numRejected: 0,
  numDuplicates: 0,
  ...over
})

const poll = (
  over: { rows?: ReadonlyArray<unknown>; done?: boolean; failed?: boolean; canceled?: boolean; next?: string | null } =
    {},
  statsOver: Partial<FiberAiApi.OverallStats> = {},
  chargeInfo?: unknown
) =>
  json(envelope({
    overallStats: stats(statsOver),
    done: over.done ?? false,
    failed: over.failed ?? false,
    canceled: over.canceled ?? false,
    pageResults: over.rows ?? [],
    ...(over.next === undefined ? {} : { nextCursor: over.next })
  }, chargeInfo))

const row = (p: Person, outputs?: unknown) => ({
  inputs: { linkedinUrl: { value: urlOf(p) } },
  ...(outputs === undefined ? {} : { outputs })
})

const testPolicies = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.provideService(Polling.Polling, { initialDelay: "1 second", maxDelay: "4 seconds", deadline: "1 minute" }),
    Effect.provideService(Backoff.Backoff, { base: "100 millis", max: "1 second", times: 3 })
  )

const layers = (client: Layer.Layer<HttpClient.HttpClient>, options: Partial<FiberAiClient.Options> = {}) =>
  FiberAiProvider.layer.pipe(
    Layer.provideMerge(FiberAiClient.layer({ apiKey: Redacted.make(apiKey), baseUrl: base, ...options })),
    Layer.provide(client)
  )

const run = <A, E>(
  effect: Effect.Effect<A, E, ContactProvider | FiberAiClient.FiberAiClient>,
  client: Layer.Layer<HttpClient.HttpClient>,
  options: Partial<FiberAiClient.Options> = {}
) => testPolicies(Effect.provide(effect, layers(client, options)))

const collect = <E, R>(stream: Stream.Stream<ResultPage, E, R>) =>
  Effect.map(Stream.runCollect(stream), (pages) => Chunk.toReadonlyArray(pages))

const outcomes = (pages: ReadonlyArray<ResultPage>): ReadonlyArray<ProviderOutcome> => pages.flatMap((p) => p.results)

describe("FiberAiApi", () => {
  it("prices per person with the documented caps", () => {
    assert.strictEqual(FiberAiApi.price(["work_email"]), 2)
    assert.strictEqual(FiberAiApi.price(["personal_email"]), 2)
    assert.strictEqual(FiberAiApi.price(["phone"]), 3)
    assert.strictEqual(FiberAiApi.price(["work_email", "personal_email"]), 4)
    assert.strictEqual(FiberAiApi.price(["work_email", "phone"]), 5)
    assert.strictEqual(FiberAiApi.price(["work_email", "personal_email", "phone"]), 5)
    assert.strictEqual(FiberAiApi.price([]), 0)
    assert.strictEqual(FiberAiApi.price(["work_email", "personal_email", "phone"], "exhaustive"), 12)
    assert.strictEqual(FiberAiApi.price(["work_email", "personal_email"], "exhaustive"), 9)
    assert.strictEqual(FiberAiApi.price(["phone"], "exhaustive"), 4)
    assert.strictEqual(FiberAiApi.price(["work_email", "phone"], "exhaustive"), 9)
    assert.strictEqual(
      FiberAiProvider.capabilities.cost.maxPerPerson(["work_email", "personal_email", "phone"], "batch"),
      5
    )
  })

  it("the published URL pattern accepts canonical URLs and refuses bare slugs and upper-case hosts", () => {
    assert.isTrue(FiberAiApi.linkedInUrlPattern.test(urlOf(ada)))
    assert.isTrue(FiberAiApi.linkedInUrlPattern.test("http://uk.linkedin.com/in/jake?trk=x"))
    assert.isFalse(FiberAiApi.linkedInUrlPattern.test("jake"))
    assert.isFalse(FiberAiApi.linkedInUrlPattern.test("HTTPS://LinkedIn.com/in/jake"))
  })

  it("decodes unknown enum values to fallbacks instead of failing, and re-encodes known ones", () => {
    const decoded = Schema.decodeUnknownSync(FiberAiApi.Profile)({
      emails: [{ email: "a@b.io", type: "corporate", status: "catch_all" }],
      phoneNumbers: [{ number: "1", type: "landline" }],
      status: "vendor-fanout"
    })
    assert.strictEqual(decoded.emails[0]!.type, "unknown")
    assert.strictEqual(decoded.emails[0]!.status, "unknown")
    assert.strictEqual(decoded.phoneNumbers[0]!.type, "unknown")
    assert.strictEqual(decoded.status, "unrecognized")
    const info = Schema.decodeUnknownSync(FiberAiApi.ChargeInfo)({ method: "charged-now" })
    assert.deepStrictEqual(info, { method: "other", reported: "charged-now" })
    assert.strictEqual(FiberAiApi.chargedBy(info), 0)
    assert.deepStrictEqual(
      Schema.encodeSync(FiberAiApi.EmailItem)({ email: "a@b.io", type: "work", status: "risky" }),
      { email: "a@b.io", type: "work", status: "risky" }
    )
  })
})

describe("FiberAi client", () => {
  it.effect("submits canonical URLs with the key in the body and records the upfront charge", () => {
    const { client, seen } = fake(() =>
      json(envelope({ taskId: "task-1", numPeopleEnqueued: 3, numDuplicatesSkipped: 0 }, {
        method: "charged-now",
        creditsCharged: 12
      }))
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request([ada, alan, grace], ["work_email", "personal_email"]))
        assert.strictEqual(ref.id, "task-1")
        assert.strictEqual(ref.provider, "fiber")
        assert.strictEqual(ref.mode, "batch")
        assert.strictEqual(ref.people, 3)
        assert.strictEqual(ref.charged, 12)
        assert.strictEqual(seen[0]!.url.href, `${base}/v1/contact-details/batch/start`)
        assert.deepStrictEqual(seen[0]!.body, {
          apiKey,
          personDetails: [ada, alan, grace].map((p) => ({ linkedinUrl: { value: urlOf(p) } })),
          enrichmentTypes: { getWorkEmails: true, getPersonalEmails: true, getPhoneNumbers: false }
        })
      }),
      client
    )
  })

  it.effect("refuses more than 2000 people and non-LinkedIn identifiers without calling Fiber", () => {
    const { client, seen } = fake(() => json({}, 500))
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const many = Array.from({ length: 2001 }, (_, i) => person(`p-${i}`))
        const tooMany = yield* Effect.flip(provider.submit(request(many)))
        assert.strictEqual(tooMany._tag, "InvalidRequest")
        const email = Either.getOrThrow(Identifier.parseEmail("ada@acme.io"))
        const wrongKind = yield* Effect.flip(
          provider.submit(request([new Person({ key: email.key, identifier: email })]))
        )
        assert.strictEqual(wrongKind._tag, "InvalidRequest")
        assert.strictEqual(seen.length, 0)
      }),
      client
    )
  })

  it.effect("maps 401, 402, 400 and a poll's 404, and never puts the key in an error", () => {
    const { client } = fake((req) => {
      switch (req.url.pathname) {
        case "/v1/contact-details/batch/start":
          return req.body.personDetails !== undefined && (req.body.personDetails as Array<unknown>).length === 1
            ? json({ message: `Invalid API key ${String(req.body.apiKey).slice(0, 3)}...` }, 401)
            : json({
              message: "Not enough credits",
              outOfCreditsAlert: {
                getMoreCreditsUrl: "https://fiber.ai/billing",
                message: "top up",
                availableCredits: 7
              }
            }, 402)
        case "/v1/contact-details/single":
          return json({ message: "Invalid request: linkedinUrl" }, 400)
        default:
          return json({ message: "Task not found" }, 404)
      }
    })
    return run(
      Effect.gen(function*() {
        const fiber = yield* FiberAiClient.FiberAiClient
        const provider = yield* ContactProvider
        const unauthorized = yield* Effect.flip(provider.submit(request([ada])))
        assert.strictEqual(unauthorized._tag, "Unauthorized")
        const credits = yield* Effect.flip(provider.submit(request([ada, alan])))
        assert.strictEqual(credits._tag, "InsufficientCredits")
        assert.strictEqual(credits._tag === "InsufficientCredits" ? credits.availableCredits : 0, 7)
        const invalid = yield* Effect.flip(fiber.single({ linkedinUrl: "ada" }))
        assert.strictEqual(invalid._tag, "InvalidRequest")
        const expired = yield* Effect.flip(provider.poll(jobRef()))
        assert.strictEqual(expired._tag, "ResultExpired")
        for (const error of [unauthorized, credits, invalid, expired]) {
          assert.notInclude(JSON.stringify(error), apiKey)
          assert.notInclude(String(error), apiKey)
        }
      }),
      client
    )
  })

  it.effect("keeps the key out of spans, logs, failures and the rendered options", () => {
    const { client } = fake((req, n) =>
      n === 1
        ? json({ message: `Invalid API key ${String(req.body.apiKey).slice(0, 3)}...` }, 401)
        : poll({ next: null })
    )
    const options = { apiKey: Redacted.make(apiKey), baseUrl: base }
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const failed = yield* observe(provider.submit(request([ada])))
        const polled = yield* observe(provider.poll(jobRef()))
        assert.isTrue(Exit.isFailure(failed.exit))
        assert.isTrue(Exit.isSuccess(polled.exit))
        // the provider's spans and the HTTP client's were recorded: there was something to leak
        assert.include(failed.spanNames, "fiber.batch/start")
        assert.isAbove(polled.spanNames.length, 1)
        for (const text of [failed.text, polled.text]) assert.notInclude(text, apiKey)
        const rendered = [JSON.stringify(options), String(options.apiKey), Inspectable.format(options)].join("\n")
        assert.notInclude(rendered, apiKey)
      }),
      client,
      options
    )
  })

  it.effect("honours Retry-After on a 429 before retrying", () => {
    const { client, seen } = fake((_, n) =>
      n === 1
        ? json({ message: "Too many requests" }, 429, { "retry-after": "5" })
        : poll({ done: true, next: null }, { numRemaining: 0, numCompleted: 4 })
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const fiber = yield* Effect.fork(provider.poll(jobRef()))
        yield* TestClock.adjust("4 seconds")
        assert.strictEqual(seen.length, 1)
        yield* TestClock.adjust("2 seconds")
        const status = yield* Fiber.join(fiber)
        assert.strictEqual(seen.length, 2)
        assert.strictEqual(status.state, "completed")
      }),
      client
    )
  })

  it.effect("retries a start after a 503 answer but not after a transport failure (Fiber has no idempotency)", () => {
    const started = json(
      envelope({ taskId: "task-1", numPeopleEnqueued: 1 }, { method: "charged-now", creditsCharged: 5 })
    )
    const answered = fake((_, n) => (n === 1 ? json({ message: "Internal server error" }, 503) : started.clone()))
    const lost = fake(() => "transport-error")
    return Effect.gen(function*() {
      const retried = yield* Effect.fork(
        run(Effect.flatMap(ContactProvider, (p) => p.submit(request([ada]))), answered.client)
      )
      yield* TestClock.adjust("2 seconds")
      const ref = yield* Fiber.join(retried)
      assert.strictEqual(ref.id, "task-1")
      assert.strictEqual(answered.seen.length, 2)

      const ambiguous = yield* Effect.fork(
        run(Effect.flip(Effect.flatMap(ContactProvider, (p) => p.submit(request([ada])))), lost.client)
      )
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(ambiguous)
      assert.strictEqual(error._tag, "ProviderUnavailable")
      assert.strictEqual(lost.seen.length, 1)
    })
  })

  it.effect("reports schema drift as MalformedResponse with the offending path", () => {
    const { client } = fake((req) =>
      req.url.pathname.endsWith("/batch/poll")
        ? json(
          envelope({
            overallStats: { ...stats(), numCompleted: "two" },
            done: false,
            failed: false,
            canceled: false,
            pageResults: []
          })
        )
        : json("{\"output\": {\"taskId\": \"t")
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const drift = yield* Effect.flip(provider.poll(jobRef()))
        assert.strictEqual(drift._tag, "MalformedResponse")
        assert.strictEqual(
          drift._tag === "MalformedResponse" ? drift.path : "",
          `["output"]["overallStats"]["numCompleted"]`
        )
        // the message names provider, endpoint, status and path, and never the key in a GET's query
        assert.match(
          drift.message,
          /^fiber POST \/v1\/contact-details\/batch\/poll \(200\): \["output"\]\["overallStats"\]\["numCompleted"\] /
        )
        const truncated = yield* Effect.flip(provider.submit(request([ada])))
        assert.strictEqual(truncated._tag, "MalformedResponse")
        assert.strictEqual(truncated._tag === "MalformedResponse" ? truncated.path : "", "(body)")
        assert.match(truncated.message, /^fiber POST \/v1\/contact-details\/batch\/start \(200\): \(body\) is not JSON/)
      }),
      client
    )
  })

  it.effect("maps poll stats and refunds to JobStatus; cancel then re-polls", () => {
    const { client, seen } = fake((req) =>
      req.url.pathname.endsWith("/cancel")
        ? json(envelope({ cancelledCount: 2, creditsRefunded: 10, message: "ok" }, {
          method: "credits-refunded",
          creditsRefunded: 10,
          message: "refunded"
        }))
        : seen.some((s) => s.url.pathname.endsWith("/cancel"))
        ? poll({ done: true, canceled: true }, { numCompleted: 1, numFailed: 1, numRemaining: 2 }, {
          // what this poll refunds (the failed row), beside the cancel's own 10
          method: "credits-refunded",
          creditsRefunded: 5,
          message: "refunded"
        })
        : poll({}, { numCompleted: 1, numRemaining: 3 })
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const running = yield* provider.poll(jobRef())
        assert.strictEqual(running.state, "running")
        assert.strictEqual(running.total, 4)
        assert.strictEqual(running.finished, 1)
        assert.strictEqual(running.charged, 20)
        assert.strictEqual(running.refunded, 0)
        assert.strictEqual(seen[0]!.body.take, 1)
        const canceled = yield* provider.cancel(jobRef())
        assert.strictEqual(canceled.state, "canceled")
        assert.strictEqual(canceled.refunded, 15)
        assert.isTrue(canceled.terminal)
        assert.deepStrictEqual(seen.map((s) => s.url.pathname.split("/").pop()), ["poll", "cancel", "poll"])
      }),
      client
    )
  })

  it.effect("layerConfig reads FIBER_API_KEY and FIBER_BASE_URL", () => {
    const { client, seen } = fake(() => poll({ done: true, next: null }, { numRemaining: 0, numFailed: 4 }))
    return Effect.gen(function*() {
      const fiber = yield* FiberAiClient.FiberAiClient
      yield* fiber.pollBatch({ taskId: "task-1" })
      assert.strictEqual(seen[0]!.url.href, "http://configured.test/v1/contact-details/batch/poll")
      assert.strictEqual(seen[0]!.body.apiKey, "from-env")
    }).pipe(
      Effect.provide(FiberAiClient.layerConfig().pipe(Layer.provide(client))),
      Effect.withConfigProvider(
        ConfigProvider.fromMap(new Map([["FIBER_API_KEY", "from-env"], ["FIBER_BASE_URL", "http://configured.test"]]))
      )
    )
  })
})

describe("FiberAi results", () => {
  const valid = { email: "ada@acme.io", type: "work", status: "valid" }
  const script = (answers: ReadonlyArray<Response>) => {
    const fakeFiber = fake((_, n) => answers[Math.min(n, answers.length) - 1]!.clone())
    return fakeFiber
  }

  /**
   * One task's results on the test clock, for the tests of when Fiber is polled: after each step's adjustment
   * it has been polled `polls` times in all; at the end `people` have come out, in order.
   */
  const pollsOver = (
    answers: ReadonlyArray<Response>,
    steps: ReadonlyArray<{ readonly after: Duration.DurationInput; readonly polls: number }>,
    people: ReadonlyArray<Person>,
    options: Partial<FiberAiClient.Options> = {}
  ) => {
    const { client, seen } = script(answers)
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const fiber = yield* Effect.fork(collect(provider.results(jobRef())))
        for (const step of steps) {
          yield* TestClock.adjust(step.after)
          assert.strictEqual(seen.length, step.polls)
        }
        const pages = yield* Fiber.join(fiber)
        assert.deepStrictEqual(outcomes(pages).map((o) => o.key), people.map((p) => p.key))
      }),
      client,
      options
    )
  }

  it.effect("waits per Polling, pages by cursor, and keys every row by re-parsing the echo", () => {
    const { client, seen } = script([
      poll({ next: null }),
      poll({
        rows: [
          row(ada, {
            emails: [valid, { email: "ada@gmail.com", type: "personal" }],
            phoneNumbers: [],
            exhaustive: false
          }),
          row(alan, null)
        ],
        next: "c2"
      }, { numCompleted: 1, numFailed: 1, numRemaining: 2 }),
      poll({ next: "c2" }, { numCompleted: 1, numFailed: 1, numRemaining: 2 }),
      poll({
        rows: [row(grace), row(ghost, { emails: [], phoneNumbers: [{ number: "(415) 555-0100", type: "mobile" }] })],
        done: true,
        next: "c4"
      }, { numCompleted: 2, numFailed: 1, numRejected: 1, numRemaining: 0 })
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const fiber = yield* Effect.fork(collect(provider.results(jobRef(["work_email", "personal_email"]))))
        yield* TestClock.adjust("30 seconds")
        const pages = yield* Fiber.join(fiber)
        assert.deepStrictEqual(pages.map((p) => p.cursor), ["c2", "c4"])
        // done, and the stats count 4 finished rows, all seen: no confirming poll from the final cursor
        assert.deepStrictEqual(seen.map((s) => s.body.cursor), [undefined, undefined, "c2", "c2"])
        assert.deepStrictEqual(seen.map((s) => s.body.take), [100, 100, 100, 100])
        // the final status rides on the last page: the caller settles without another poll
        const final = pages[pages.length - 1]!.final
        assert.strictEqual(final?.state, "completed")
        assert.strictEqual(final?.finished, 4)
        const all = outcomes(pages)
        assert.deepStrictEqual(all.map((o) => o._tag), ["Found", "NotFound", "Rejected", "Found"])
        assert.deepStrictEqual(all.map((o) => o.key), [ada.key, alan.key, grace.key, ghost.key])
        const found = all[0]!
        if (found._tag !== "Found") throw new Error("expected Found")
        assert.deepStrictEqual(found.emails.map((e) => [e.address, e.kind, e.verdict]), [
          ["ada@acme.io", "work", "valid"],
          ["ada@gmail.com", "personal", "unknown"]
        ])
        assert.strictEqual(found.provenance.cost, 4)
        assert.strictEqual(found.provenance.provider, "fiber")
        assert.strictEqual(found.provenance.endpoint, "/v1/contact-details/batch/poll")
        const notFound = all[1]!
        assert.strictEqual(notFound._tag === "NotFound" ? notFound.provenance.cost : -1, 0)
        const rejected = all[2]!
        assert.strictEqual(rejected._tag === "Rejected" ? rejected.provider : undefined, "fiber")
        const phoneOnly = all[3]!
        assert.strictEqual(phoneOnly._tag === "Found" ? phoneOnly.phones[0]!.number : "", "+14155550100")
        // phone was not asked: nothing billable delivered
        assert.strictEqual(phoneOnly._tag === "Found" ? phoneOnly.provenance.cost : -1, 0)
      }),
      client
    )
  })

  it.effect("after a short page, waits for a full page or the task's end at the pace the task has shown", () =>
    pollsOver(
      [
        poll({ rows: [row(ada)], next: "c1" }, { numCompleted: 1, numRemaining: 99 }),
        // 10 more finished in the 1 s since: 100 rows take 10 s, the 89 left take 8.9 s
        poll({ rows: [row(alan)], next: "c2" }, { numCompleted: 11, numRemaining: 89 }),
        poll({ rows: [row(grace)], done: true, next: null }, { numCompleted: 100, numRemaining: 0 })
      ],
      [
        { after: "1 second", polls: 2 },
        // a fixed schedule would poll again after 1 s; the pace says the end comes ~8.9 s later
        { after: "8 seconds", polls: 2 },
        { after: "1500 millis", polls: 3 }
      ],
      [ada, alan, grace]
    ))

  it.effect("a task just started is not polled before the first rows can be there", () => {
    const { client, seen } = script([
      // task 1: nothing yet at the policy's initial delay (1 s), rows at the next poll (1 s later, jittered)
      poll({ rows: [], next: null }),
      poll({ rows: [row(ada)], next: "c1" }, { numCompleted: 1, numRemaining: 1 }),
      poll({ rows: [row(alan)], done: true, next: null }, { numCompleted: 2, numRemaining: 0 }),
      // task 2, started after task 1 showed its first rows
      poll({ rows: [row(grace)], done: true, next: null }, { numCompleted: 1, numRemaining: 0 })
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const first = yield* Effect.fork(collect(provider.results(jobRef(undefined, yield* DateTime.now))))
        yield* TestClock.adjust("900 millis")
        assert.strictEqual(seen.length, 0)
        yield* TestClock.adjust("100 millis")
        assert.strictEqual(seen.length, 1)
        yield* TestClock.adjust("1300 millis")
        assert.strictEqual(seen.length, 2)
        yield* TestClock.adjust("1300 millis")
        assert.strictEqual(seen.length, 3)
        yield* Fiber.join(first)
        // task 1's rows came 1.8..2.2 s after its start: task 2 is first polled as late, not after 1 s
        const second = yield* Effect.fork(collect(provider.results(jobRef(undefined, yield* DateTime.now))))
        yield* TestClock.adjust("1700 millis")
        assert.strictEqual(seen.length, 3)
        yield* TestClock.adjust("600 millis")
        assert.strictEqual(seen.length, 4)
        const pages = yield* Fiber.join(second)
        assert.deepStrictEqual(outcomes(pages).map((o) => o.key), [grace.key])
      }),
      client
    )
  })

  it.effect("after a full page with less than a page more finished, waits for the pace, not at once", () =>
    pollsOver(
      [
        poll({ rows: [row(ada)], next: "c1" }, { numCompleted: 1, numRemaining: 9 }),
        // a full page (2): 3 more finished in 1 s, so 1 unread row, and the next full page is 1/3 s away
        poll({ rows: [row(alan), row(grace)], next: "c2" }, { numCompleted: 4, numRemaining: 6 }),
        poll({ rows: [row(ghost)], done: true, next: null }, { numCompleted: 4, numRemaining: 0 })
      ],
      [{ after: "1 second", polls: 2 }, { after: "300 millis", polls: 2 }, { after: "100 millis", polls: 3 }],
      [ada, alan, grace, ghost],
      { pageSize: 2 }
    ))

  it.effect("after a full page with another full page finished, polls again at once", () => {
    const { client, seen } = script([
      poll({ rows: [row(ada), row(alan)], next: "c1" }, { numCompleted: 4, numRemaining: 0 }),
      poll({ rows: [row(grace), row(ghost)], done: true, next: null }, { numCompleted: 4, numRemaining: 0 })
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const pages = yield* collect(provider.results(jobRef()))
        assert.strictEqual(seen.length, 2)
        assert.deepStrictEqual(outcomes(pages).map((o) => o.key), [ada.key, alan.key, grace.key, ghost.key])
      }),
      client,
      { pageSize: 2 }
    )
  })

  it.effect("a slow task is still polled at least every 6 schedule caps", () =>
    pollsOver(
      [
        poll({ rows: [row(ada)], next: "c1" }, { numCompleted: 1, numRemaining: 999 }),
        // one row a second: a full page would take 100 s, the end 998 s
        poll({ rows: [row(alan)], next: "c2" }, { numCompleted: 2, numRemaining: 998 }),
        poll({ rows: [row(grace)], done: true, next: null }, { numCompleted: 1000, numRemaining: 0 })
      ],
      [
        { after: "1 second", polls: 2 },
        // the test policy's cap is 4 s: at most 24 s to the next poll
        { after: "23 seconds", polls: 2 },
        { after: "1500 millis", polls: 3 }
      ],
      [ada, alan, grace]
    ))

  it.effect("a short last page is not trusted while the stats count rows not yet seen: one more poll", () => {
    const { client, seen } = script([
      poll({ rows: [row(ada)], next: "c1" }, { numCompleted: 1, numRemaining: 2 }),
      // done, but only 2 of the 3 finished rows have come: the page may have been capped below `take`
      poll({ rows: [row(alan)], done: true, next: "c2" }, { numCompleted: 3, numRemaining: 0 }),
      poll({ rows: [row(grace)], done: true, next: "c3" }, { numCompleted: 3, numRemaining: 0 })
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const fiber = yield* Effect.fork(collect(provider.results(jobRef())))
        yield* TestClock.adjust("30 seconds")
        const pages = yield* Fiber.join(fiber)
        assert.deepStrictEqual(outcomes(pages).map((o) => o.key), [ada.key, alan.key, grace.key])
        assert.deepStrictEqual(seen.map((s) => s.body.cursor), [undefined, "c1", "c2"])
        assert.strictEqual(pages[pages.length - 1]!.final?.finished, 3)
        assert.isTrue(pages.slice(0, -1).every((p) => p.final === undefined))
      }),
      client
    )
  })

  it.effect("resumes after a stored cursor", () => {
    const { client, seen } = script([
      poll({ rows: [row(grace)], done: true, next: "c4" }, { numRejected: 1, numCompleted: 3, numRemaining: 0 })
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const pages = yield* collect(provider.results(jobRef(), "c3"))
        assert.strictEqual(seen[0]!.body.cursor, "c3")
        assert.deepStrictEqual(outcomes(pages).map((o) => o.key), [grace.key])
      }),
      client
    )
  })

  it.effect("tolerates a null nextCursor that does not advance: nobody comes out twice", () => {
    const found = (p: Person) =>
      row(p, { emails: [{ email: `${p.key}@acme.io`, type: "work", status: "valid" }], phoneNumbers: [] })
    const { client, seen } = script([
      poll({ rows: [found(ada), found(alan)], next: null }),
      poll({ rows: [found(ada), found(alan)], next: null }),
      poll({ rows: [found(ada), found(alan), found(grace)], done: true, next: null })
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const fiber = yield* Effect.fork(collect(provider.results(jobRef())))
        yield* TestClock.adjust("30 seconds")
        const pages = yield* Fiber.join(fiber)
        assert.deepStrictEqual(outcomes(pages).map((o) => o.key), [ada.key, alan.key, grace.key])
        assert.strictEqual(seen.length, 3)
        assert.deepStrictEqual(pages.map((p) => p.cursor), [undefined, undefined])
      }),
      client
    )
  })

  it.effect("reads unknown enum values and missing statuses leniently", () => {
    const { client } = script([
      poll(
        {
          rows: [row(ada, {
            emails: [{ email: "ada@acme.io", type: "corporate", status: "catch_all" }, {
              email: "a@gmail.com",
              type: "personal"
            }],
            phoneNumbers: [{ number: "+44 20 7946 0958", type: "landline" }]
          })],
          done: true,
          next: "c1"
        },
        { numCompleted: 1, numRemaining: 0, totalPeopleToFetch: 1 },
        { method: "brand-new-method" }
      )
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const [found] = outcomes(yield* collect(provider.results(jobRef())))
        if (found?._tag !== "Found") throw new Error("expected Found")
        assert.deepStrictEqual(found.emails.map((e) => [e.kind, e.verdict]), [["unknown", "unknown"], [
          "personal",
          "unknown"
        ]])
        assert.deepStrictEqual(found.phones.map((p) => [p.number, p.kind]), [["+442079460958", "unknown"]])
        assert.strictEqual(found.provenance.cost, 5)
      }),
      client
    )
  })

  it.effect("emits the rows of a failed or canceled task, then fails with JobFailed / JobCanceled", () => {
    const failed = script([poll({ rows: [row(ada, null)], done: true, failed: true, next: "c1" })])
    const canceled = script([poll({ rows: [row(alan, null)], done: true, canceled: true, next: "c1" })])
    return Effect.gen(function*() {
      const seenFailed: Array<string> = []
      const errorFailed = yield* run(
        Effect.flip(Stream.runForEach(
          Stream.unwrap(Effect.map(ContactProvider, (p) => p.results(jobRef()))),
          (page) => Effect.sync(() => seenFailed.push(...page.results.map((o) => String(o.key))))
        )),
        failed.client
      )
      assert.strictEqual(errorFailed._tag, "JobFailed")
      assert.deepStrictEqual(seenFailed, [ada.key])
      const errorCanceled = yield* run(
        Effect.flip(collect(Stream.unwrap(Effect.map(ContactProvider, (p) => p.results(jobRef()))))),
        canceled.client
      )
      assert.strictEqual(errorCanceled._tag, "JobCanceled")
    })
  })

  it.effect("fails with JobTimedOut once the Polling deadline has passed, not before", () => {
    const { client, seen } = script([poll({ next: null })])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const fiber = yield* Effect.fork(collect(provider.results(jobRef())))
        yield* TestClock.adjust("50 seconds")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        const polls = seen.length
        assert.isAbove(polls, 5)
        yield* TestClock.adjust("20 seconds")
        const exit = yield* Fiber.await(fiber)
        assert.strictEqual(exit._tag, "Failure")
        const error = yield* Effect.flip(Fiber.join(fiber))
        assert.strictEqual(error._tag, "JobTimedOut")
      }),
      client
    )
  })
})

describe("FiberAi gates, sync and exhaustive", () => {
  it.effect("paces calls through the per-endpoint rate-limit gate", () => {
    const { client, seen } = fake(() => poll({ next: null }))
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const fiber = yield* Effect.fork(Effect.all([1, 2, 3].map(() => provider.poll(jobRef())), { concurrency: 3 }))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(seen.length, 2)
        yield* TestClock.adjust("60 seconds")
        yield* Fiber.join(fiber)
        assert.strictEqual(seen.length, 3)
      }),
      client,
      { limits: { "batch/poll": [{ limit: 2, interval: "1 minute" }] } }
    )
  })

  it.effect("counts a sliding window from completion: no window of the provider's ever sees more than the limit", () => {
    const arrivals: Array<number> = []
    const { client } = fake(() => poll({ next: null }))
    // the provider's view: when each request arrived; answers come back with latency
    const slow = Layer.succeed(
      HttpClient.HttpClient,
      HttpClient.make((request) =>
        Effect.gen(function*() {
          arrivals.push(yield* Clock.currentTimeMillis)
          const inner = yield* Effect.provide(HttpClient.HttpClient, client)
          const response = yield* Effect.orDie(inner.execute(request))
          yield* Effect.sleep(arrivals.length % 3 === 0 ? "7 seconds" : "1 second")
          return response
        })
      )
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const polls = (n: number) =>
          Effect.fork(Effect.all(Array.from({ length: n }, () => provider.poll(jobRef())), { concurrency: n }))
        // one call early, then a burst late in the first minute: a fixed window would let the burst spill into
        // the next minute at once, putting 9 into one sliding minute
        const first = yield* polls(1)
        yield* TestClock.adjust("50 seconds")
        const rest = yield* polls(19)
        for (let i = 0; i < 40; i++) yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(first)
        yield* Fiber.join(rest)
        assert.strictEqual(arrivals.length, 20)
        for (const at of arrivals) {
          assert.isAtMost(arrivals.filter((t) => t > at - 60_000 && t <= at).length, 5)
        }
        // and it is not stingy either: all 20 went through within five minutes
        assert.isAtMost(arrivals[arrivals.length - 1]!, 5 * 60_000)
      }),
      slow,
      { limits: { "batch/poll": [{ limit: 5, interval: "1 minute" }] } }
    )
  })

  it("documents the per-endpoint limits", () => {
    assert.deepStrictEqual(
      Object.fromEntries(Object.entries(FiberAiClient.defaultLimits).map(([e, w]) => [e, w[0]!.limit])),
      {
        "batch/start": 30,
        "batch/poll": 240,
        "batch/cancel": 60,
        "exhaustive/start": 60,
        "exhaustive/poll": 240,
        single: 200
      }
    )
  })

  it.effect("enrichSync calls /single per person and maps each answer (bad people fail alone)", () => {
    const { client, seen } = fake((req) => {
      const url = String(req.body.linkedinUrl)
      if (url === urlOf(ghost)) return json({ message: "Invalid request: linkedinUrl" }, 400)
      const profile = url === urlOf(ada)
        ? {
          emails: [{ email: "ada@acme.io", type: "work", status: "valid" }],
          phoneNumbers: [{ number: "+14155550100", type: "mobile" }],
          status: "completed",
          lowQualityEmails: [{ email: "ada@old.io", type: "work", status: "valid" }]
        }
        : url === urlOf(alan)
        ? { emails: [], phoneNumbers: [], status: "completed" }
        : { emails: [], phoneNumbers: [], status: "failed", error: "could not resolve" }
      return json(
        envelope({ profile, done: true }, { method: "charged-now", creditsCharged: url === urlOf(ada) ? 5 : 0 })
      )
    })
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const results = yield* provider.enrichSync(request([ada, alan, grace, ghost]))
        assert.strictEqual(seen.length, 4)
        assert.isTrue(seen.every((s) => s.url.pathname === "/v1/contact-details/single" && s.body.apiKey === apiKey))
        assert.deepStrictEqual(results.map((o) => o._tag), ["Found", "NotFound", "Failed", "Failed"])
        const found = results[0]!
        if (found._tag !== "Found") throw new Error("expected Found")
        assert.deepStrictEqual(found.emails.map((e) => [e.address, e.verdict]), [
          ["ada@acme.io", "valid"],
          ["ada@old.io", "risky"]
        ])
        assert.strictEqual(found.provenance.mode, "sync")
        assert.strictEqual(found.provenance.cost, 5)
        const tooMany = yield* Effect.flip(
          provider.enrichSync(request(Array.from({ length: 11 }, (_, i) => person(`s-${i}`))))
        )
        assert.strictEqual(tooMany._tag, "InvalidRequest")
      }),
      client
    )
  })

  it.effect("enrichSync refuses a non-LinkedIn person up front, like submit (it used to answer Rejected)", () => {
    const { client, seen } = fake(() => json({ message: "unexpected" }, 500))
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const email = Either.getOrThrow(Identifier.parseEmail("ada@acme.io"))
        const error = yield* Effect.flip(
          provider.enrichSync(request([ada, new Person({ key: email.key, identifier: email })]))
        )
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.strictEqual(seen.length, 0)
      }),
      client
    )
  })

  it.effect("enrichSync fails as a whole when the key is refused for everyone", () => {
    const { client } = fake(() => json({ message: "Invalid API key" }, 401))
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const error = yield* Effect.flip(provider.enrichSync(request([ada, alan])))
        assert.strictEqual(error._tag, "Unauthorized")
      }),
      client
    )
  })

  it.effect("exhaustive: starts, polls per Polling until done, keeps low-quality emails apart and never valid", () => {
    const pending = (status: string) =>
      json(envelope({ profile: { emails: [], phoneNumbers: [], status }, done: false }, {
        method: "charging-later",
        message: "later"
      }))
    const { client, seen } = fake((req, n) => {
      if (req.url.pathname.endsWith("/exhaustive/start")) {
        return json(envelope({ taskId: "ex-1" }, { method: "charging-later", message: "later" }))
      }
      if (n <= 3) return pending(n === 2 ? "started" : "live-enriching")
      return json(envelope({
        profile: {
          emails: [{ email: "ada@acme.io", type: "work", status: "valid" }],
          phoneNumbers: [],
          status: "completed",
          exhaustive: true,
          lowQualityEmails: [
            { email: "ada1@acme.io", type: "work", status: "valid" },
            { email: "ada2@acme.io", type: "work", status: "invalid" },
            { email: "ada3@gmail.com", type: "personal" }
          ]
        },
        done: true
      }, { method: "charged-for-async-process", creditsCharged: 5, message: "charged" }))
    })
    return run(
      Effect.gen(function*() {
        const fiber = yield* FiberAiClient.FiberAiClient
        const running = yield* Effect.fork(fiber.exhaustive("ada", ["work_email", "personal_email"]))
        yield* TestClock.adjust("30 seconds")
        const result = yield* Fiber.join(running)
        assert.deepStrictEqual(seen[0]!.body, {
          apiKey,
          linkedinUrl: "ada",
          enrichmentType: { getWorkEmails: true, getPersonalEmails: true, getPhoneNumbers: false }
        })
        assert.strictEqual(seen.length, 4)
        assert.strictEqual(result.status, "completed")
        assert.strictEqual(result.creditsCharged, 5)
        assert.deepStrictEqual(result.emails.map((e) => e.verdict), ["valid"])
        assert.deepStrictEqual(result.lowQualityEmails.map((e) => e.verdict), ["risky", "invalid", "risky"])
      }),
      client
    )
  })

  it.effect("exhaustive: a failed reveal is JobFailed", () => {
    const { client } = fake((req) =>
      req.url.pathname.endsWith("/start")
        ? json(envelope({ taskId: "ex-2" }, { method: "charging-later", message: "later" }))
        : json(
          envelope({ profile: { emails: [], phoneNumbers: [], status: "failed", error: "no vendor" }, done: true })
        )
    )
    return run(
      Effect.gen(function*() {
        const fiber = yield* FiberAiClient.FiberAiClient
        const error = yield* Effect.flip(fiber.exhaustive("https://www.linkedin.com/in/ada", ["phone"]))
        assert.strictEqual(error._tag, "JobFailed")
        assert.include(error.message, "no vendor")
      }),
      client
    )
  })
})

describe("FiberAi credits over a task's polls", () => {
  const found = (p: Person) =>
    row(p, { emails: [{ email: `${p.key}@acme.io`, type: "work", status: "valid" }], phoneNumbers: [] })
  const refunded = (creditsRefunded: number) => ({ method: "credits-refunded", creditsRefunded, message: "refunded" })
  const free = { method: "free", message: "Polling is free" }

  /** A start for 118 unique people answering `chargeInfo`, then `polls` in turn (the last one repeated). */
  const task = (start: unknown, polls: ReadonlyArray<Response>) => {
    let n = 0
    return fake((req) =>
      req.url.pathname.endsWith("/batch/start")
        ? json(envelope({ taskId: "task-9", numPeopleEnqueued: 118, numDuplicatesSkipped: 0 }, start))
        : polls[Math.min(n++, polls.length - 1)]!.clone()
    )
  }

  const finalOf = (pages: ReadonlyArray<ResultPage>) => {
    const final = pages[pages.length - 1]!.final
    if (final === undefined) throw new Error("no final status on the last page")
    return final
  }

  it.effect("charging-later at start, charged-for-async-process when done: books the charge, not the estimate", () => {
    const { client } = task({ method: "charging-later", message: "Credits are charged when the task completes" }, [
      poll({ next: null }, {}, free),
      poll({ rows: [found(ada), found(alan)], next: "c2" }, { numCompleted: 2, numRemaining: 2 }, free),
      poll({ rows: [found(grace), found(ghost)], done: true, next: "c4" }, { numCompleted: 4, numRemaining: 0 }, {
        method: "charged-for-async-process",
        creditsCharged: 195,
        message: "Charged for the data delivered"
      })
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request([ada, alan, grace, ghost]))
        // no figure from Fiber yet: the price list's, and said so
        assert.strictEqual(ref.charged, 590)
        assert.isTrue(ref.estimated)
        const before = yield* provider.poll(ref)
        assert.strictEqual(before.charged, 590)
        assert.isTrue(before.estimated)
        const fiber = yield* Effect.fork(collect(provider.results(ref)))
        yield* TestClock.adjust("30 seconds")
        const final = finalOf(yield* Fiber.join(fiber))
        assert.strictEqual(final.state, "completed")
        assert.strictEqual(final.charged, 195)
        assert.strictEqual(final.refunded, 0)
        assert.isFalse(final.estimated)
      }),
      client
    )
  })

  it.effect("charging-later, then a charge of 0 for a task that delivered nothing: books 0, not the estimate", () => {
    const { client } = task({ method: "charging-later", message: "later" }, [
      poll({ rows: [row(ada, null), row(alan, null)], done: true, next: null }, { numFailed: 4, numRemaining: 0 }, {
        method: "charged-for-async-process",
        creditsCharged: 0,
        message: "Nothing delivered"
      })
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request([ada, alan]))
        const fiber = yield* Effect.fork(collect(provider.results(ref)))
        yield* TestClock.adjust("30 seconds")
        const final = finalOf(yield* Fiber.join(fiber))
        assert.strictEqual(final.charged, 0)
        assert.isFalse(final.estimated)
      }),
      client
    )
  })

  it.effect("a refund reported on one poll is kept when later pages say free", () => {
    const { client } = task({ method: "charged-now", creditsCharged: 590 }, [
      poll({ rows: [found(ada)], next: "c1" }, { numCompleted: 1, numRemaining: 3 }, free),
      poll({ rows: [row(alan, null), row(grace)], next: "c3" }, { numCompleted: 1, numFailed: 1, numRejected: 1 }, {
        ...refunded(90)
      }),
      poll({ rows: [found(ghost)], done: true, next: "c4" }, { numCompleted: 2, numFailed: 1, numRejected: 1 }, free)
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request([ada, alan, grace, ghost]))
        assert.strictEqual(ref.charged, 590)
        assert.isFalse(ref.estimated)
        const fiber = yield* Effect.fork(collect(provider.results(ref)))
        yield* TestClock.adjust("30 seconds")
        const final = finalOf(yield* Fiber.join(fiber))
        assert.strictEqual(final.charged - final.refunded, 500)
        assert.isFalse(final.estimated)
        // a status check afterwards (a poll saying free) still knows the refund
        const status = yield* provider.poll(ref)
        assert.strictEqual(status.charged - status.refunded, 500)
      }),
      client
    )
  })

  it.effect("a stream resumed after a crash keeps the refunds the earlier polls reported, via its cursor", () => {
    const answers = [
      poll({ rows: [found(ada)], next: "c1" }, { numCompleted: 1, numRemaining: 3 }, refunded(40)),
      poll({ rows: [row(alan, null)], next: "c2" }, { numCompleted: 1, numFailed: 1, numRemaining: 2 }, refunded(50)),
      poll({ rows: [found(grace), found(ghost)], done: true, next: "c4" }, { numCompleted: 3, numFailed: 1 }, free)
    ]
    const before = task({ method: "charged-now", creditsCharged: 590 }, answers)
    const after = fake((_, n) => answers[Math.min(n + 1, 2)]!.clone())
    return Effect.gen(function*() {
      const [ref, cursor] = yield* run(
        Effect.gen(function*() {
          const provider = yield* ContactProvider
          const ref = yield* provider.submit(request([ada, alan, grace, ghost]))
          const fiber = yield* Effect.fork(collect(Stream.take(provider.results(ref), 2)))
          yield* TestClock.adjust("30 seconds")
          const head = yield* Fiber.join(fiber)
          return [ref, head[1]!.cursor] as const
        }),
        before.client
      )
      // a new process: nothing but the JobRef and the stored cursor
      const final = yield* run(
        Effect.gen(function*() {
          const provider = yield* ContactProvider
          const fiber = yield* Effect.fork(collect(provider.results(ref, cursor)))
          yield* TestClock.adjust("30 seconds")
          return finalOf(yield* Fiber.join(fiber))
        }),
        after.client
      )
      // Fiber is asked from its own cursor
      assert.strictEqual(after.seen[0]!.body.cursor, "c2")
      assert.strictEqual(final.charged, 590)
      assert.strictEqual(final.refunded, 90)
    })
  })

  it.effect("refunds reported by consecutive polls, each rising, are all booked: each answer's own figure", () => {
    // the reading that took a poll's figure for the task's running total booked 10 here
    const { client } = task({ method: "charged-now", creditsCharged: 590 }, [
      poll({ rows: [row(ada, null)], next: "c1" }, { numFailed: 1, numRemaining: 3 }, refunded(5)),
      poll({ rows: [row(alan, null)], next: "c2" }, { numFailed: 2, numRemaining: 2 }, refunded(10)),
      poll({ rows: [found(grace), found(ghost)], done: true, next: "c4" }, { numCompleted: 2, numFailed: 2 }, free)
    ])
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request([ada, alan, grace, ghost]))
        const fiber = yield* Effect.fork(collect(provider.results(ref)))
        yield* TestClock.adjust("60 seconds")
        const final = finalOf(yield* Fiber.join(fiber))
        assert.strictEqual(final.refunded, 15)
        assert.strictEqual(final.charged, 590)
      }),
      client
    )
  })

  it.effect("a cancel's refund is counted once, beside the refunds polls reported one at a time", () => {
    const { client, seen } = fake((req) =>
      req.url.pathname.endsWith("/cancel")
        ? json(envelope({ cancelledCount: 2, creditsRefunded: 10, message: "ok" }, refunded(10)))
        : seen.some((s) => s.url.pathname.endsWith("/cancel"))
        ? poll({ done: true, canceled: true }, { numCompleted: 1, numFailed: 1, numRemaining: 2 }, free)
        : poll({}, { numFailed: 1, numCompleted: 1, numRemaining: 2 }, refunded(5))
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const running = yield* provider.poll(jobRef())
        assert.strictEqual(running.refunded, 5)
        const canceled = yield* provider.cancel(jobRef())
        assert.strictEqual(canceled.state, "canceled")
        assert.strictEqual(canceled.charged, 20)
        assert.strictEqual(canceled.refunded, 15)
      }),
      client
    )
  })
})
