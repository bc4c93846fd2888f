/**
 * The metrics and spans a provider call and a waterfall run leave: what an OTLP exporter would send. Effect's
 * metric registry is global, so each test uses provider names of its own.
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Backoff from "../src/Backoff.js"
import * as Budget from "../src/Budget.js"
import { Email, makePhone } from "../src/Contact.js"
import { ContactProviders, Person } from "../src/ContactProvider.js"
import * as Identifier from "../src/Identifier.js"
import * as ProviderHttp from "../src/internal/providerHttp.js"
import * as Journal from "../src/Journal.js"
import * as ProviderMetrics from "../src/ProviderMetrics.js"
import * as RateLimits from "../src/RateLimits.js"
import { type Known, makeInMemory } from "../src/testing.js"
import * as Waterfall from "../src/Waterfall.js"
import { fakeHttp, json } from "./utils/fakeHttp.js"
import { observe } from "./utils/telemetry.js"

const count = (metric: Metric.Metric.Counter<number>, tags: Record<string, string>) =>
  Effect.map(
    Metric.value(Object.entries(tags).reduce((m, [key, value]) => Metric.tagged(m, key, value), metric)),
    (state) => state.count
  )

describe("ProviderMetrics", () => {
  it.effect("an HTTP call answered 429 then 200: two requests by status, one 429, one retry, two latencies", () =>
    Effect.gen(function*() {
      const provider = "metrics-http"
      const fake = fakeHttp((_, n) => n === 1 ? json({ message: "slow down" }, 429) : json({ ok: true }))
      const http = ProviderHttp.make(fake.client, {
        provider,
        baseUrl: "http://provider.test",
        decorate: (request) => request,
        gates: yield* RateLimits.make({})
      })
      const call = yield* Effect.fork(http.json("start", HttpClientRequest.post("/v1/start"), Schema.Unknown))
      // the retry waits out the backoff on the test clock
      yield* TestClock.adjust("1 minute")
      const response = yield* Fiber.join(call)
      assert.deepStrictEqual(response.body, { ok: true })
      assert.strictEqual(fake.seen.length, 2)

      const tags = { provider, endpoint: "start" }
      assert.strictEqual(yield* count(ProviderMetrics.requests, { ...tags, status: "429" }), 1)
      assert.strictEqual(yield* count(ProviderMetrics.requests, { ...tags, status: "200" }), 1)
      assert.strictEqual(yield* count(ProviderMetrics.rateLimited, tags), 1)
      assert.strictEqual(yield* count(ProviderMetrics.retries, { ...tags, reason: "RateLimited" }), 1)
      const latency = yield* Metric.value(
        ProviderMetrics.latency.pipe(Metric.tagged("provider", provider), Metric.tagged("endpoint", "start"))
      )
      assert.strictEqual(latency.count, 2)
    }).pipe(Effect.scoped, Effect.provideService(Backoff.Backoff, { base: "1 second", max: "5 seconds", times: 3 })))

  it.effect("a transport failure is a request with status error, and its retry names ProviderUnavailable", () =>
    Effect.gen(function*() {
      const provider = "metrics-transport"
      const fake = fakeHttp((_, n) => n === 1 ? "transport-error" : json({ ok: true }))
      const http = ProviderHttp.make(fake.client, {
        provider,
        baseUrl: "http://provider.test",
        decorate: (request) => request,
        gates: yield* RateLimits.make({})
      })
      const call = yield* Effect.fork(http.json("poll", HttpClientRequest.get("/v1/poll"), Schema.Unknown))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(call)
      const tags = { provider, endpoint: "poll" }
      assert.strictEqual(yield* count(ProviderMetrics.requests, { ...tags, status: "error" }), 1)
      assert.strictEqual(yield* count(ProviderMetrics.requests, { ...tags, status: "200" }), 1)
      assert.strictEqual(yield* count(ProviderMetrics.rateLimited, tags), 0)
      assert.strictEqual(yield* count(ProviderMetrics.retries, { ...tags, reason: "ProviderUnavailable" }), 1)
    }).pipe(Effect.scoped, Effect.provideService(Backoff.Backoff, { base: "1 second", max: "5 seconds", times: 3 })))

  it.effect("a waterfall run: chunks by state, people asked and found per field, credits; spans carry no identifier", () =>
    Effect.gen(function*() {
      const people = Array.from({ length: 12 }, (_, i) => {
        const identifier = Either.getOrThrow(Identifier.parseLinkedIn(`https://www.linkedin.com/in/metrics-${i}`))
        return new Person({ key: identifier.key, identifier })
      })
      // first: work emails of 0-5; second: phones of everyone even
      const first = yield* makeInMemory({
        name: "metrics-first",
        maxBatch: 5,
        costPerPerson: 2,
        directory: new Map<Identifier.PersonKey, Known>(
          people.slice(0, 6).map((p, i) => [p.key, {
            emails: [new Email({ address: `m${i}@acme.io`, kind: "work", verdict: "valid" })],
            phones: []
          }])
        )
      })
      const second = yield* makeInMemory({
        name: "metrics-second",
        maxBatch: 10,
        costPerPerson: 1,
        estimatedCharges: true,
        directory: new Map<Identifier.PersonKey, Known>(
          people.filter((_, i) => i % 2 === 0).map((p, i) => [p.key, {
            emails: [],
            phones: [makePhone(`+1415555${String(1000 + i)}`, "mobile")]
          }])
        )
      })
      const observed = yield* observe(
        Waterfall.runCollecting({
          runId: "run-metrics",
          people,
          providers: ["metrics-first", "metrics-second"],
          fields: ["work_email", "phone"]
        }).pipe(
          Effect.provide(Layer.mergeAll(
            Layer.succeed(ContactProviders, ContactProviders.fromServices([first.service, second.service])),
            Journal.layerMemory,
            Budget.layer(undefined)
          ))
        )
      )
      assert.isTrue(observed.exit._tag === "Success", observed.text)

      const a = { provider: "metrics-first" }
      const b = { provider: "metrics-second" }
      // 12 people in chunks of 5: 3 chunks recorded, submitted and finished at the first provider
      for (const state of ["recorded", "submitted", "finished"]) {
        assert.strictEqual(yield* count(ProviderMetrics.chunks, { ...a, state }), 3, state)
      }
      assert.strictEqual(yield* count(ProviderMetrics.chunks, { ...a, state: "failed" }), 0)
      assert.strictEqual(yield* count(ProviderMetrics.peopleAsked, { ...a, field: "work_email" }), 12)
      assert.strictEqual(yield* count(ProviderMetrics.peopleAsked, { ...a, field: "phone" }), 12)
      assert.strictEqual(yield* count(ProviderMetrics.peopleFound, { ...a, field: "work_email" }), 6)
      assert.strictEqual(yield* count(ProviderMetrics.peopleFound, { ...a, field: "phone" }), 0)
      // everyone still misses a phone, 6 people a work email: the second is asked for what each misses
      assert.strictEqual(yield* count(ProviderMetrics.peopleAsked, { ...b, field: "phone" }), 12)
      assert.strictEqual(yield* count(ProviderMetrics.peopleAsked, { ...b, field: "work_email" }), 6)
      assert.strictEqual(yield* count(ProviderMetrics.peopleFound, { ...b, field: "phone" }), 6)
      // credits as the run booked them; the second provider's are estimates
      const [sa, sb] = observed.exit._tag === "Success" ? observed.exit.value.providers : []
      assert.strictEqual(yield* count(ProviderMetrics.creditsCharged, a), sa!.credits)
      assert.strictEqual(yield* count(ProviderMetrics.creditsEstimated, a), 0)
      assert.strictEqual(yield* count(ProviderMetrics.creditsCharged, b), sb!.credits)
      assert.strictEqual(yield* count(ProviderMetrics.creditsEstimated, b), sb!.estimatedCredits)
      assert.isAbove(sb!.estimatedCredits, 0)

      assert.include(observed.spanNames, "enrich.waterfall")
      assert.include(observed.spanNames, "enrich.stage")
      // one span per chunk, as many as were finished
      const finished = (yield* count(ProviderMetrics.chunks, { ...a, state: "finished" })) +
        (yield* count(ProviderMetrics.chunks, { ...b, state: "finished" }))
      assert.strictEqual(observed.spanNames.filter((n) => n === "enrich.chunk").length, finished)
      assert.include(observed.text, "run-metrics")
      assert.notMatch(observed.text, /linkedin|metrics-\d|@acme\.io|\+1415/i, "an identifier or contact leaked")
    }))
})
