import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as ConfigProvider from "effect/ConfigProvider"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Backoff from "../src/Backoff.js"
import { ContactProvider, JobRef } from "../src/ContactProvider.js"
import * as Identifier from "../src/Identifier.js"
import { pollPath } from "../src/internal/thehog/polling.js"
import type { ProviderOutcome } from "../src/PersonResult.js"
import * as Polling from "../src/Polling.js"
import type * as TheHogApi from "../src/TheHogApi.js"
import * as TheHogClient from "../src/TheHogClient.js"
import * as TheHogProvider from "../src/TheHogProvider.js"
import { fakeHttp, json, type Seen } from "./utils/fakeHttp.js"
import { observe } from "./utils/telemetry.js"
import { fastPolling, noRetries, person, request } from "./utils/thehog.js"

const secret = "sk_test_super_secret"
const access = "ak_test_access"

const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => json(body, status, headers)

/** A fake TheHog: `respond` sees each request (1-based number) and answers. */
const fake = (respond: (seen: Seen, n: number) => Response) => {
  const { client, seen } = fakeHttp(respond)
  return { seen, client }
}

const layers = (client: HttpClient.HttpClient, options: Partial<TheHogClient.Options> = {}) => {
  const raw = TheHogClient.layer({
    accessKey: Redacted.make(access),
    secretKey: Redacted.make(secret),
    baseUrl: "http://thehog.test",
    ...options
  }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, client)))
  return TheHogProvider.layer.pipe(Layer.provideMerge(raw))
}

const ada = person("linkedin", "https://linkedin.com/in/Ada-Lovelace/")
const grace = person("email", "grace@hopper.dev")

const accepted = (id: string, pollUrl = `/api/operations/${id}`, actual = 3) => ({
  id,
  operationId: id,
  status: "queued",
  pollUrl,
  meta: { requestId: "req-1", cost: { estimated: actual, actual } }
})

const item = (identifier: TheHogApi.PersonIdentifier, emails: Array<string>, phones: Array<string> = []) => ({
  identifier,
  status: "success",
  data: { contact: { email: emails, phone: phones } }
})
const failedItem = (identifier: TheHogApi.PersonIdentifier, message: string) => ({
  identifier,
  status: "failed",
  error: { message }
})

/** A JobRef's meta, decoded as the provider reads it. */
const metaOf = (ref: JobRef) => Schema.decodeUnknownSync(TheHogProvider.JobMeta)(ref.meta)
const operationMeta = (ref: JobRef) => {
  const meta = metaOf(ref)
  if (meta._tag !== "Operation") throw new Error(`not an operation: ${meta._tag}`)
  return meta
}

const jobRef = (id: string, people: number, meta: typeof TheHogProvider.JobMeta.Encoded = { _tag: "Operation" }) =>
  new JobRef({
    provider: "thehog",
    id,
    mode: "batch",
    submittedAt: DateTime.unsafeMake(0),
    people,
    fields: ["work_email", "personal_email", "phone"],
    charged: people * 3,
    meta
  })

const collect = <E>(
  stream: Stream.Stream<{ readonly results: ReadonlyArray<ProviderOutcome>; readonly cursor: string | undefined }, E>
) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

describe("TheHog client", () => {
  it.effect("submits identifiers with the keys, the chunk's Idempotency-Key and contact fields; 202 → JobRef", () =>
    Effect.gen(function*() {
      const { client, seen } = fake(() =>
        reply(202, accepted("op_1", "https://developer.thehog.ai/api/operations/op_1"))
      )
      const ref = yield* Effect.gen(function*() {
        const provider = yield* ContactProvider
        return yield* provider.submit(request([ada, grace]))
      }).pipe(Effect.provide(layers(client)), noRetries)
      assert.strictEqual(ref.id, "op_1")
      assert.strictEqual(ref.mode, "batch")
      assert.strictEqual(ref.charged, 3)
      assert.strictEqual(
        operationMeta(ref).pollUrl,
        "https://developer.thehog.ai/api/operations/op_1"
      )
      const sent = seen[0]!
      assert.strictEqual(sent.method, "POST")
      assert.strictEqual(sent.url.href, "http://thehog.test/api/enrichments")
      assert.strictEqual(sent.headers["x-access-key"], access)
      assert.strictEqual(sent.headers["x-secret-key"], secret)
      assert.strictEqual(sent.headers["idempotency-key"], "thehog-chunk-1")
      assert.deepStrictEqual(sent.body, {
        identifiers: [{ linkedin_url: "https://www.linkedin.com/in/ada-lovelace" }, { email: "grace@hopper.dev" }],
        fields: ["contact.email", "contact.phone"]
      })
    }))

  it.effect("a replayed 202 reports what this submit paid: 0 when replayed at once, the cost after a retry", () =>
    Effect.gen(function*() {
      const submit = (client: HttpClient.HttpClient, retries: number) =>
        Effect.flatMap(ContactProvider, (provider) => provider.submit(request([ada, grace]))).pipe(
          Effect.provide(layers(client)),
          Effect.provideService(Backoff.Backoff, { base: "1 millis", max: "1 millis", times: retries })
        )
      // Idempotent-Replayed header on the first attempt: an earlier submit paid
      const byHeader = fake(() =>
        reply(202, accepted("op_1"), { "idempotent-replayed": "true", "x-request-id": "req-1" })
      )
      const first = yield* submit(byHeader.client, 0)
      assert.strictEqual(first.charged, 0)
      assert.strictEqual(operationMeta(first).replayed, true)
      assert.strictEqual(operationMeta(first).replayedCost, 3)
      // no such header, but the stored body carries the first request's id, not this one's
      const byRequestId = fake(() => reply(202, accepted("op_1"), { "x-request-id": "req-2" }))
      assert.strictEqual((yield* submit(byRequestId.client, 0)).charged, 0)
      // a fresh answer (matching request ids) is paid as usual
      const fresh = fake(() => reply(202, accepted("op_1"), { "x-request-id": "req-1" }))
      const paid = yield* submit(fresh.client, 0)
      assert.strictEqual(paid.charged, 3)
      assert.strictEqual(operationMeta(paid).replayed, false)
      // a replay after our own attempt went unanswered: that attempt may be the one TheHog charged
      const afterRetry = fake((_, n) =>
        n === 1
          ? reply(503, { message: "upstream" })
          : reply(202, accepted("op_1"), { "idempotent-replayed": "true" })
      )
      const retrying = yield* Effect.fork(submit(afterRetry.client, 2))
      yield* TestClock.adjust("1 second")
      const retried = yield* Fiber.join(retrying)
      assert.strictEqual(afterRetry.seen.length, 2)
      assert.strictEqual(retried.charged, 3)
      assert.strictEqual(operationMeta(retried).replayed, true)
    }))

  it.effect("answers one LinkedIn person synchronously (200) with verified emails sorted by domain", () =>
    Effect.gen(function*() {
      const { client, seen } = fake(() =>
        reply(200, {
          data: { contact: { email: ["Ada@Acme.io", "ada@gmail.com"], phone: ["(415) 555-0100"] } },
          meta: { requestId: "req-9", cost: { estimated: 3, actual: 3 } }
        })
      )
      const outcomes = yield* Effect.flatMap(ContactProvider, (p) => p.enrichSync(request([ada]))).pipe(
        Effect.provide(layers(client)),
        noRetries
      )
      assert.strictEqual(outcomes.length, 1)
      const found = outcomes[0]!
      assert.strictEqual(found._tag, "Found")
      if (found._tag !== "Found") return
      assert.strictEqual(found.key, ada.key)
      // work_email and phone were asked: the personal (free-mail) address is not kept
      assert.deepStrictEqual(found.emails.map((e) => [e.address, e.kind, e.verdict]), [[
        "ada@acme.io",
        "work",
        "valid"
      ]])
      assert.deepStrictEqual(found.phones.map((p) => p.number), ["+14155550100"])
      assert.strictEqual(found.provenance.mode, "sync")
      assert.strictEqual(found.provenance.cost, 3)
      assert.deepStrictEqual(seen[0]!.body, {
        identifier: { linkedin_url: "https://www.linkedin.com/in/ada-lovelace" },
        fields: ["contact.email", "contact.phone"]
      })
      assert.strictEqual(seen[0]!.headers["idempotency-key"], "thehog-chunk-1:single")
    }))

  it.effect("falls back to the async answer for a single non-LinkedIn person in enrichSync", () =>
    Effect.gen(function*() {
      const { client, seen } = fake((s) =>
        s.method === "POST"
          ? reply(202, accepted("op_2"))
          : reply(200, {
            id: "op_2",
            status: "succeeded",
            progress: 100,
            result: { items: [item({ email: "grace@hopper.dev" }, ["grace@navy.mil"])] },
            error: null
          })
      )
      const fiber = yield* Effect.flatMap(ContactProvider, (p) => p.enrichSync(request([grace]))).pipe(
        Effect.provide(layers(client)),
        noRetries,
        fastPolling,
        Effect.fork
      )
      yield* TestClock.adjust("10 seconds")
      const outcomes = yield* Fiber.join(fiber)
      assert.deepStrictEqual(outcomes.map((o) => [o._tag, o.key]), [["Found", grace.key]])
      assert.deepStrictEqual(seen[0]!.body, {
        identifiers: [{ email: "grace@hopper.dev" }],
        fields: ["contact.email", "contact.phone"]
      })
      assert.strictEqual(seen[1]!.url.href, "http://thehog.test/api/operations/op_2")
    }))

  it.effect("maps error statuses to the error family, with validation details", () =>
    Effect.gen(function*() {
      const nest = (statusCode: number, message: string, extra: object = {}) => ({
        statusCode,
        error: "x",
        message,
        path: "/api/enrichments",
        requestId: "r",
        timestamp: "2025-01-01T00:00:00.000Z",
        ...extra
      })
      const cases: Array<[Response, string]> = [
        [
          reply(
            400,
            nest(400, "Validation failed", {
              errors: [{ property: "fields", message: "fields must be a non-empty array" }]
            })
          ),
          "InvalidRequest"
        ],
        [reply(401, nest(401, "Invalid or missing authentication credentials")), "Unauthorized"],
        [reply(403, nest(403, "Not enough credits on this plan")), "InsufficientCredits"],
        [reply(429, nest(429, "Rate limit exceeded. Please slow down and retry.")), "RateLimited"],
        [reply(503, nest(503, "Service temporarily unavailable")), "ProviderUnavailable"]
      ]
      for (const [response, tag] of cases) {
        const { client } = fake(() => response.clone())
        const error = yield* Effect.flip(
          Effect.flatMap(TheHogClient.TheHogClient, (c) =>
            c.enrich({ identifiers: [{ email: "a@b.co" }], fields: ["contact.email"] }))
            .pipe(Effect.provide(layers(client)), noRetries)
        )
        assert.strictEqual(error._tag, tag)
        if (error._tag === "InvalidRequest") {
          assert.include(error.message, "fields: fields must be a non-empty array")
          assert.strictEqual(error.status, 400)
        }
      }
    }))

  it.effect("an unknown operation is ResultExpired; a poll 429 without Retry-After waits one poll window", () =>
    Effect.gen(function*() {
      const { client } = fake((s) =>
        s.url.href.endsWith("op_gone")
          ? reply(404, {
            statusCode: 404,
            error: "Not Found",
            message: "Operation op_gone not found",
            path: "",
            requestId: "",
            timestamp: ""
          })
          : reply(429, {
            statusCode: 429,
            error: "Too Many Requests",
            message: "Rate limit exceeded",
            path: "",
            requestId: "",
            timestamp: ""
          })
      )
      const run = <A, E>(f: (c: TheHogClient.TheHogClient.Service) => Effect.Effect<A, E>) =>
        Effect.flip(Effect.flatMap(TheHogClient.TheHogClient, f).pipe(Effect.provide(layers(client)), noRetries))
      const gone = yield* run((c) => c.getOperation("op_gone"))
      assert.strictEqual(gone._tag, "ResultExpired")
      const limited = yield* run((c) => c.getEnrichment("op_busy"))
      assert.strictEqual(limited._tag, "RateLimited")
      if (limited._tag === "RateLimited") assert.strictEqual(limited.retryAfterMillis, 10_000)
    }))

  it.effect("honours Retry-After before retrying a 429", () =>
    Effect.gen(function*() {
      const { client, seen } = fake((_, n) =>
        n === 1 ? reply(429, { message: "slow down" }, { "retry-after": "5" }) : reply(202, accepted("op_3"))
      )
      const fiber = yield* Effect.flatMap(ContactProvider, (p) => p.submit(request([ada]))).pipe(
        Effect.provide(layers(client)),
        Effect.provideService(Backoff.Backoff, { base: "10 millis", max: "1 second", times: 3 }),
        Effect.fork
      )
      yield* TestClock.adjust("4 seconds")
      assert.strictEqual(seen.length, 1)
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None")
      yield* TestClock.adjust("2 seconds")
      const ref = yield* Fiber.join(fiber)
      assert.strictEqual(ref.id, "op_3")
      assert.strictEqual(seen.length, 2)
      // the retry carries the same key: TheHog replays the first operation instead of charging again
      assert.strictEqual(seen[1]!.headers["idempotency-key"], seen[0]!.headers["idempotency-key"])
    }))

  it.effect("reports schema drift as MalformedResponse with the offending path", () =>
    Effect.gen(function*() {
      const { client } = fake(() =>
        reply(200, { id: "op_4", status: "succeeded", result: { items: [{ status: "success", data: {} }] } })
      )
      const error = yield* Effect.flip(
        Effect.flatMap(TheHogClient.TheHogClient, (c) => c.getOperation("op_4")).pipe(
          Effect.provide(layers(client)),
          noRetries
        )
      )
      assert.strictEqual(error._tag, "MalformedResponse")
      if (error._tag === "MalformedResponse") {
        assert.strictEqual(error.endpoint, "GET /api/operations/op_4")
        assert.match(error.path, /^\["result"\]/)
        assert.match(error.message, /^thehog GET \/api\/operations\/op_4 \(200\): \["result"\]/)
      }
      const { client: notJson } = fake(() => reply(202, "{\"id\":\"op_5\",\"operat"))
      const truncated = yield* Effect.flip(
        Effect.flatMap(ContactProvider, (p) => p.submit(request([ada]))).pipe(
          Effect.provide(layers(notJson)),
          noRetries
        )
      )
      assert.strictEqual(truncated._tag, "MalformedResponse")
    }))

  it.effect("keeps the keys out of errors, and registers their header names as redacted", () =>
    Effect.gen(function*() {
      const { client, seen } = fake(() =>
        reply(401, { statusCode: 401, error: "Unauthorized", message: "Invalid or missing authentication credentials" })
      )
      const { error, names, rendered } = yield* Effect.gen(function*() {
        const error = yield* Effect.flip(
          Effect.flatMap(ContactProvider, (p) => p.submit(request([ada])))
        )
        const names = yield* FiberRef.get(Headers.currentRedactedNames)
        // what a logger prints of the request (loggers render with the fiber's redacted names)
        const lines: Array<string> = []
        yield* Effect.log("sent", seen[0]!.request).pipe(
          Effect.provide(Logger.add(Logger.make(({ message }) => lines.push(JSON.stringify(message)))))
        )
        return { error, names, rendered: lines.join("\n") }
      }).pipe(Effect.provide(layers(client)), noRetries)
      assert.strictEqual(error._tag, "Unauthorized")
      const text = JSON.stringify(error) + String(error) + error.message
      assert.notInclude(text, secret)
      assert.notInclude(text, access)
      assert.includeMembers([...names], ["x-access-key", "x-secret-key"])
      assert.notInclude(rendered, secret)
      assert.notInclude(rendered, access)
      assert.include(rendered, "x-secret-key")
    }))
})

describe("TheHog telemetry", () => {
  it.effect("keeps both keys out of spans, logs, failures and the rendered options", () =>
    Effect.gen(function*() {
      const { client } = fake((_, n) =>
        n === 1
          ? reply(401, { statusCode: 401, message: "Invalid credentials" })
          : reply(200, { id: "op_7", status: "queued" })
      )
      const options = { accessKey: Redacted.make(access), secretKey: Redacted.make(secret) }
      const [failed, polled] = yield* Effect.flatMap(TheHogClient.TheHogClient, (hog) =>
        Effect.all([
          observe(Effect.flatMap(ContactProvider, (p) => p.submit(request([ada])))),
          observe(hog.getOperation("op_7"))
        ])).pipe(Effect.provide(layers(client)), noRetries)
      assert.isTrue(Exit.isFailure(failed.exit))
      assert.isTrue(Exit.isSuccess(polled.exit))
      assert.include(failed.spanNames, "thehog.enrich")
      assert.include(polled.spanNames, "thehog.poll")
      // no HTTP client span records URLs or headers
      for (const text of [failed.text, polled.text]) {
        assert.notInclude(text, secret)
        assert.notInclude(text, access)
        assert.notInclude(text, "url.full")
        assert.notInclude(text, "x-secret-key")
      }
      const rendered = [JSON.stringify(options), String(options.secretKey), Inspectable.format(options)].join("\n")
      assert.notInclude(rendered, secret)
    }))
})

describe("TheHog configuration and odd answers", () => {
  it.effect("reads keys and base URL from THEHOG_* (base URL defaults to the real host)", () =>
    Effect.gen(function*() {
      const { client, seen } = fake(() => reply(202, accepted("op_c")))
      const run = (env: Record<string, string>) =>
        Effect.flatMap(
          TheHogClient.TheHogClient,
          (c) => c.enrich({ identifiers: [{ email: "a@b.co" }], fields: ["contact.email"] })
        )
          .pipe(
            Effect.provide(
              TheHogClient.layerConfig().pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, client)))
            ),
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
            noRetries
          )
      yield* run({ THEHOG_ACCESS_KEY: "ak_env", THEHOG_SECRET_KEY: "sk_env" })
      assert.strictEqual(seen[0]!.url.href, "https://developer.thehog.ai/api/enrichments")
      assert.strictEqual(seen[0]!.headers["x-secret-key"], "sk_env")
      yield* run({
        THEHOG_ACCESS_KEY: "ak_env",
        THEHOG_SECRET_KEY: "sk_env",
        THEHOG_BASE_URL: "http://sim.local/thehog"
      })
      assert.strictEqual(seen[1]!.url.href, "http://sim.local/thehog/api/enrichments")
      const missing = yield* Effect.flip(run({ THEHOG_ACCESS_KEY: "ak_env" }))
      assert.include(String(missing), "THEHOG_SECRET_KEY")
    }))

  it.effect("keeps a 200 answer to a submit in the JobRef, so its results survive a restart", () =>
    Effect.gen(function*() {
      const { client, seen } = fake(() =>
        reply(200, { data: { contact: { email: ["ada@acme.io"] } }, meta: { requestId: "req-s" } })
      )
      const { pages, ref, status } = yield* Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request([ada], ["work_email"]))
        // through the ledger: encoded and decoded again
        const back = Schema.decodeSync(JobRef)(Schema.encodeSync(JobRef)(ref))
        return { ref, status: yield* provider.poll(back), pages: yield* collect(provider.results(back)) }
      }).pipe(Effect.provide(layers(client)), noRetries)
      assert.strictEqual(ref.mode, "sync")
      assert.strictEqual(ref.charged, 1)
      assert.strictEqual(status.state, "completed")
      assert.deepStrictEqual(pages.flatMap((p) => p.results).map((o) => [o._tag, o.key]), [["Found", ada.key]])
      assert.strictEqual(seen.length, 1)
    }))
})

describe("TheHog polling and limits", () => {
  it.effect("polls with the Polling schedule and gives up with JobTimedOut at the deadline", () =>
    Effect.gen(function*() {
      const { client, seen } = fake(() => reply(200, { id: "op_6", status: "processing", progress: 10 }))
      const fiber = yield* Effect.flatMap(ContactProvider, (p) => collect(p.results(jobRef("op_6", 2)))).pipe(
        Effect.provide(layers(client)),
        noRetries,
        fastPolling,
        Effect.flip,
        Effect.fork
      )
      yield* TestClock.adjust("30 seconds")
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None")
      yield* TestClock.adjust("31 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "JobTimedOut")
      // exponential from 1 s capped at 5 s: well under one poll a second, well over a handful
      assert.isAbove(seen.length, 8)
      assert.isBelow(seen.length, 30)
    }))

  it.effect("paces polls by the reported progress: a few polls, and the end seen soon after it", () =>
    Effect.gen(function*() {
      // a job that processes from 0 to 40 s of the test clock, reporting its progress as TheHog does (0-99)
      let now = 0
      const endsAt = 40_000
      const items = [item({ linkedin_url: "https://www.linkedin.com/in/ada-lovelace" }, ["ada@acme.io"])]
      const done = { id: "op_p", status: "succeeded", progress: 100, result: { items }, error: null }
      const { client, seen } = fake(() =>
        now >= endsAt
          ? reply(200, done)
          : reply(200, { id: "op_p", status: "processing", progress: Math.floor((now / endsAt) * 100), result: null })
      )
      const clocked = HttpClient.tapRequest(client, () => Effect.map(Clock.currentTimeMillis, (t) => void (now = t)))
      const fiber = yield* Effect.flatMap(ContactProvider, (p) => collect(p.results(jobRef("op_p", 1)))).pipe(
        Effect.provide(layers(clocked)),
        noRetries,
        Effect.provideService(Polling.Polling, {
          initialDelay: "1 second",
          maxDelay: "5 seconds",
          deadline: "10 minutes"
        }),
        Effect.fork
      )
      let seenDoneAt: number | undefined
      for (let t = 0; t < 60 && seenDoneAt === undefined; t++) {
        yield* TestClock.adjust("1 second")
        if ((yield* Fiber.poll(fiber))._tag === "Some") seenDoneAt = yield* Clock.currentTimeMillis
      }
      const pages = yield* Fiber.join(fiber)
      assert.strictEqual(pages.flatMap((page) => page.results).length, 1)
      // the policy's own delays (1 s, 1.5 s, ... capped at 5 s) would poll about ten times in 40 s
      assert.isAtMost(seen.length, 5)
      assert.isDefined(seenDoneAt)
      assert.isAtMost(seenDoneAt!, endsAt + 5_000)
    }))

  it.effect("gates polls client-side: at most 5 in 10 s and 30 in any minute (TheHog's poll bucket)", () =>
    Effect.gen(function*() {
      const { client, seen } = fake(() => reply(200, { id: "op_7", status: "queued" }))
      const fiber = yield* Effect.flatMap(TheHogClient.TheHogClient, (c) =>
        Effect.forEach(
          Array.from({ length: 40 }, () => c.getOperation("op_7")),
          (e) => e,
          { concurrency: "unbounded" }
        )).pipe(Effect.provide(layers(client)), noRetries, Effect.fork)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(seen.length, 5)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(seen.length, 10)
      yield* TestClock.adjust("49 seconds")
      // six 10-second windows in the first minute, and no more than the minute's 30
      assert.strictEqual(seen.length, 30)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(seen.length, 35)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      assert.strictEqual(seen.length, 40)
    }))

  it.effect("pages results by index into result.items and resumes after a cursor", () =>
    Effect.gen(function*() {
      const people = Array.from({ length: 60 }, (_, i) => ({ linkedin_url: `https://www.linkedin.com/in/p-${i}` }))
      const items = people.map((identifier, i) =>
        i % 10 === 1
          ? failedItem(identifier, "No contact data found")
          : i % 10 === 2
          ? failedItem(identifier, "Upstream provider timeout")
          : i % 10 === 3
          ? failedItem(identifier, "Unsupported LinkedIn URL: only /in/ profile URLs are supported")
          : item(identifier, [`p${i}@acme.io`])
      )
      const { client } = fake(() =>
        reply(200, { id: "op_8", status: "partial_success", progress: 100, result: { items }, error: null })
      )
      const { all, rest } = yield* Effect.gen(function*() {
        const provider = yield* ContactProvider
        const all = yield* collect(provider.results(jobRef("op_8", 60)))
        const rest = yield* collect(provider.results(jobRef("op_8", 60), all[0]!.cursor))
        return { all, rest }
      }).pipe(Effect.provide(layers(client)), noRetries, fastPolling)
      assert.deepStrictEqual(all.map((p) => [p.results.length, p.cursor]), [[25, "25"], [25, "50"], [10, undefined]])
      const outcomes = all.flatMap((p) => p.results)
      const keys = outcomes.map((o) => o.key)
      assert.strictEqual(new Set(keys).size, 60)
      assert.strictEqual(keys[0], "linkedin:in/p-0")
      assert.deepStrictEqual(outcomes.slice(0, 4).map((o) => o._tag), ["Found", "NotFound", "Failed", "Rejected"])
      const notFound = outcomes[1]!
      if (notFound._tag === "NotFound") assert.strictEqual(notFound.provenance.cost, 3)
      assert.deepStrictEqual(rest.flatMap((p) => p.results).map((o) => o.key), keys.slice(25))
    }))

  it.effect("tolerates undocumented statuses: `completed`, unknown terminal with a result, unknown item status", () =>
    Effect.gen(function*() {
      const identifier = { linkedin_url: "https://www.linkedin.com/in/ada-lovelace" }
      const answers = [
        { id: "op_9", status: "waiting_on_upstream", progress: null, result: null },
        { id: "op_9", status: "done", result: [{ ...item(identifier, ["ada@acme.io"]), status: "verified" }] }
      ]
      const { client, seen } = fake((_, n) => reply(200, answers[Math.min(n, answers.length) - 1]))
      const fiber = yield* Effect.gen(function*() {
        const provider = yield* ContactProvider
        const first = yield* provider.poll(jobRef("op_9", 1))
        const pages = yield* collect(provider.results(jobRef("op_9", 1)))
        return { first, pages }
      }).pipe(Effect.provide(layers(client)), noRetries, fastPolling, Effect.fork)
      yield* TestClock.adjust("5 seconds")
      const { first, pages } = yield* Fiber.join(fiber)
      assert.strictEqual(first.state, "running")
      assert.deepStrictEqual(pages.flatMap((p) => p.results).map((o) => o._tag), ["Found"])
      assert.strictEqual(seen.length, 2)
      const { client: legacy } = fake(() => reply(200, { id: "op_10", status: "completed", result: { items: [] } }))
      const status = yield* Effect.flatMap(ContactProvider, (p) => p.poll(jobRef("op_10", 0))).pipe(
        Effect.provide(layers(legacy)),
        noRetries
      )
      assert.strictEqual(status.state, "completed")
    }))

  it.effect("a failed operation fails the stream with JobFailed", () =>
    Effect.gen(function*() {
      const { client } = fake(() =>
        reply(200, { id: "op_11", status: "failed", progress: 100, result: null, error: { message: "upstream down" } })
      )
      const error = yield* Effect.flatMap(ContactProvider, (p) => collect(p.results(jobRef("op_11", 3)))).pipe(
        Effect.provide(layers(client)),
        noRetries,
        fastPolling,
        Effect.flip
      )
      assert.strictEqual(error._tag, "JobFailed")
    }))
})

describe("TheHog helpers", () => {
  it("reads relative and absolute poll URLs, never leaving the configured host; else polls /api/enrichments/:id", () => {
    const job = (pollUrl: string | undefined) => ({ id: "op 1", pollUrl })
    assert.strictEqual(
      pollPath("https://developer.thehog.ai", job("/api/operations/op_1")),
      "/api/operations/op_1"
    )
    assert.strictEqual(
      pollPath("https://developer.thehog.ai", job("https://developer.thehog.ai/api/enrichments/op_1")),
      "/api/enrichments/op_1"
    )
    assert.strictEqual(
      pollPath("http://127.0.0.1:9/thehog", job("http://127.0.0.1:9/thehog/api/operations/op_1")),
      "/api/operations/op_1"
    )
    assert.strictEqual(
      pollPath("http://proxy.local", job("https://evil.example/api/operations/op_1")),
      "/api/operations/op_1"
    )
    // no (usable) pollUrl: the poll the guide documents for a job reference, `GET /api/enrichments/:id`
    assert.strictEqual(pollPath("", job(undefined)), "/api/enrichments/op%201")
    assert.strictEqual(pollPath("", job("https://elsewhere.example/not-api")), "/api/enrichments/op%201")
  })

  it("prices per person per attempt and declares its capabilities", () => {
    assert.strictEqual(TheHogProvider.capabilities.cost.maxPerPerson(["work_email"], "batch"), 1)
    assert.strictEqual(TheHogProvider.capabilities.cost.maxPerPerson(["work_email", "personal_email"], "batch"), 1)
    assert.strictEqual(TheHogProvider.capabilities.cost.maxPerPerson(["phone"], "sync"), 2)
    assert.strictEqual(TheHogProvider.capabilities.cost.maxPerPerson(["work_email", "phone"], "batch"), 3)
    assert.deepStrictEqual(TheHogProvider.capabilities.identifierKinds, ["linkedin", "email", "x", "github"])
    assert.strictEqual(TheHogProvider.capabilities.maxBatch, 100)
    assert.deepStrictEqual(TheHogProvider.capabilities.sync, { maxBatch: 1 })
    assert.strictEqual(TheHogProvider.capabilities.resubmitSafety, "idempotency-key")
    assert.deepStrictEqual(TheHogProvider.requestFieldsOf(["personal_email"]), ["contact.email"])
    assert.deepStrictEqual(TheHogProvider.requestFieldsOf(["phone"]), ["contact.phone"])
  })

  it("re-parses every echoed identifier kind to our PersonKey", () => {
    const keyOf = (identifier: TheHogApi.PersonIdentifier) =>
      Either.map(TheHogProvider.fromWire(identifier), (i) => i.key)
    assert.deepStrictEqual(keyOf({ linkedin_url: "linkedin.com/in/Ada-Lovelace?x=1" }), Either.right(ada.key))
    assert.deepStrictEqual(keyOf({ email: "Grace@Hopper.dev" }), Either.right(grace.key))
    assert.deepStrictEqual(keyOf({ x_handle: "@Jack" }), Either.right(Identifier.PersonKey.make("x:jack")))
    assert.deepStrictEqual(
      keyOf({ github_username: "Octo-Cat" }),
      Either.right(Identifier.PersonKey.make("github:octo-cat"))
    )
    for (const identifier of [ada, grace]) {
      assert.deepStrictEqual(keyOf(TheHogProvider.toWire(identifier.identifier)), Either.right(identifier.key))
    }
  })
})
