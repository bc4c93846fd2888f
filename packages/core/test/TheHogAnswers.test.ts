import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { ContactProvider, JobRef } from "../src/ContactProvider.js"
import * as TheHogClient from "../src/TheHogClient.js"
import * as TheHogProvider from "../src/TheHogProvider.js"
import { fakeHttp, json, type Seen } from "./utils/fakeHttp.js"
import { fastPolling, noRetries, person, request } from "./utils/thehog.js"

const layers = (client: HttpClient.HttpClient) =>
  TheHogProvider.layer.pipe(
    Layer.provide(
      TheHogClient.layer({
        accessKey: Redacted.make("ak"),
        secretKey: Redacted.make("sk"),
        baseUrl: "http://thehog.test"
      })
    ),
    Layer.provide(Layer.succeed(HttpClient.HttpClient, client))
  )

const ada = person("linkedin", "https://linkedin.com/in/ada-lovelace")
const grace = person("email", "grace@hopper.dev")

const done = (id: string, extra: object = {}) => ({
  id,
  status: "succeeded",
  progress: 100,
  result: {
    items: [
      {
        identifier: { linkedin_url: "https://www.linkedin.com/in/ada-lovelace" },
        status: "success",
        data: { contact: { email: ["ada@acme.io"] } }
      },
      { identifier: { email: "grace@hopper.dev" }, status: "failed", error: { message: "No contact data found" } }
    ]
  },
  error: null,
  ...extra
})

/** The documented 202 (Shapes-B) with this `meta`. */
const full = (id: string, meta: object) => ({
  id,
  operationId: id,
  status: "queued",
  pollUrl: `/api/operations/${id}`,
  meta
})

/** Submits ada + grace to a fake TheHog answering the 202 with `accepted`, then reads the results. */
const roundTrip = (
  accepted: unknown,
  poll: (seen: Seen) => Response = (s) => json(done(s.url.pathname.split("/").pop()!))
) =>
  Effect.gen(function*() {
    const { client, seen } = fakeHttp((s) => s.method === "POST" ? json(accepted, 202) : poll(s))
    const fiber = yield* Effect.gen(function*() {
      const provider = yield* ContactProvider
      const ref = yield* provider.submit(request([ada, grace]))
      const pages = yield* Stream.runCollect(provider.results(ref))
      const status = yield* provider.poll(ref)
      return { ref, status, outcomes: Chunk.toReadonlyArray(pages).flatMap((p) => p.results) }
    }).pipe(Effect.provide(layers(client)), noRetries, fastPolling, Effect.either, Effect.fork)
    yield* TestClock.adjust("10 seconds")
    return { result: yield* Fiber.join(fiber), seen }
  })

describe("TheHog 202 job reference (issue 13, defect 1)", () => {
  it.effect("an acceptance with only `id` is polled at GET /api/enrichments/:id and read", () =>
    Effect.gen(function*() {
      const { result, seen } = yield* roundTrip({ id: "op_1", status: "queued" })
      assert.isTrue(Either.isRight(result), String(Either.isLeft(result) && result.left.message))
      if (Either.isLeft(result)) return
      assert.strictEqual(result.right.ref.id, "op_1")
      assert.deepStrictEqual(result.right.outcomes.map((o) => [o._tag, o.key]), [
        ["Found", ada.key],
        ["NotFound", grace.key]
      ])
      assert.strictEqual(seen[1]!.url.href, "http://thehog.test/api/enrichments/op_1")
    }))

  it.effect("an acceptance with only `operationId` is polled and read", () =>
    Effect.gen(function*() {
      const { result, seen } = yield* roundTrip({ operationId: "op_2" })
      assert.isTrue(Either.isRight(result), String(Either.isLeft(result) && result.left.message))
      if (Either.isLeft(result)) return
      assert.strictEqual(result.right.ref.id, "op_2")
      assert.strictEqual(result.right.outcomes.length, 2)
      assert.strictEqual(seen[1]!.url.href, "http://thehog.test/api/enrichments/op_2")
    }))

  it.effect("an acceptance with only a pollUrl (relative or absolute) polls it", () =>
    Effect.gen(function*() {
      for (const pollUrl of ["/api/operations/op_3", "https://developer.thehog.ai/api/operations/op_3"]) {
        const { result, seen } = yield* roundTrip({ pollUrl })
        assert.isTrue(Either.isRight(result), String(Either.isLeft(result) && result.left.message))
        if (Either.isLeft(result)) return
        assert.strictEqual(result.right.ref.id, "op_3")
        assert.strictEqual(result.right.outcomes.length, 2)
        assert.strictEqual(seen[1]!.url.href, "http://thehog.test/api/operations/op_3")
      }
    }))

  it.effect("an acceptance without meta or pollUrl, with id and operationId, is read", () =>
    Effect.gen(function*() {
      const { result } = yield* roundTrip({ id: "op_4", operationId: "op_4", status: "queued" })
      assert.isTrue(Either.isRight(result), String(Either.isLeft(result) && result.left.message))
      if (Either.isRight(result)) assert.strictEqual(result.right.outcomes.length, 2)
    }))

  it.effect("an acceptance naming no job at all is MalformedResponse naming the endpoint and path", () =>
    Effect.gen(function*() {
      const { result, seen } = yield* roundTrip({ status: "queued", meta: { requestId: "req-1" } })
      assert.isTrue(Either.isLeft(result))
      if (Either.isRight(result)) return
      assert.strictEqual(result.left._tag, "MalformedResponse")
      assert.match(result.left.message, /^thehog POST \/api\/enrichments \(202\): \["id"\] is missing/)
      assert.strictEqual(seen.length, 1)
    }))
})

describe("TheHog credits as reported, estimates marked (issue 13, defect 3)", () => {
  it.effect("no meta.cost: the price-list figure, marked estimated on the job, its status and each outcome", () =>
    Effect.gen(function*() {
      const { result } = yield* roundTrip({
        id: "op_5",
        operationId: "op_5",
        status: "queued",
        pollUrl: "/api/operations/op_5",
        meta: { requestId: "req-5" }
      })
      assert.isTrue(Either.isRight(result))
      if (Either.isLeft(result)) return
      const { outcomes, ref, status } = result.right
      // work_email (1) + phone (2), two people
      assert.strictEqual(ref.charged, 6)
      assert.isTrue(ref.estimated)
      assert.strictEqual(status.charged, 6)
      assert.isTrue(status.estimated)
      for (const outcome of outcomes) {
        if (outcome._tag !== "Found" && outcome._tag !== "NotFound") assert.fail(outcome._tag)
        else {
          assert.strictEqual(outcome.provenance.cost, 3)
          assert.isTrue(outcome.provenance.estimated)
        }
      }
    }))

  it.effect("meta.cost.actual is booked as reported, not estimated", () =>
    Effect.gen(function*() {
      const { result } = yield* roundTrip({
        id: "op_6",
        operationId: "op_6",
        status: "queued",
        pollUrl: "/api/operations/op_6",
        meta: { requestId: "req-6", cost: { estimated: 6, actual: 4 } }
      })
      assert.isTrue(Either.isRight(result))
      if (Either.isLeft(result)) return
      const { outcomes, ref, status } = result.right
      assert.strictEqual(ref.charged, 4)
      assert.isFalse(ref.estimated)
      assert.strictEqual(status.charged, 4)
      assert.isFalse(status.estimated)
      for (const outcome of outcomes) {
        if (outcome._tag !== "Found" && outcome._tag !== "NotFound") assert.fail(outcome._tag)
        else {
          assert.strictEqual(outcome.provenance.cost, 2)
          assert.isFalse(outcome.provenance.estimated)
        }
      }
    }))

  it.effect("a failed operation is charged nothing unless TheHog reported a charge", () =>
    Effect.gen(function*() {
      const failed = (s: Seen, extra: object = {}) =>
        json({
          id: s.url.pathname.split("/").pop(),
          status: "failed",
          progress: 100,
          result: null,
          error: { message: "upstream down" },
          ...extra
        })
      const unreported = yield* roundTrip(
        {
          id: "op_7",
          operationId: "op_7",
          status: "queued",
          pollUrl: "/api/operations/op_7",
          meta: { requestId: "r" }
        },
        (s) => failed(s)
      )
      // results fail with JobFailed; the status reports no charge
      assert.isTrue(Either.isLeft(unreported.result))
      if (Either.isLeft(unreported.result)) assert.strictEqual(unreported.result.left._tag, "JobFailed")
      const { client } = fakeHttp((s) =>
        s.method === "POST"
          ? json(full("op_7", { requestId: "r" }), 202)
          : failed(s)
      )
      const status = yield* Effect.flatMap(ContactProvider, (p) =>
        Effect.flatMap(p.submit(request([ada, grace])), (ref) => p.poll(ref))).pipe(
          Effect.provide(layers(client)),
          noRetries
        )
      assert.strictEqual(status.state, "failed")
      assert.strictEqual(status.charged, 0)
      // TheHog reported the charge at submission: it stands
      const { client: reported } = fakeHttp((s) =>
        s.method === "POST"
          ? json(full("op_8", { requestId: "r", cost: { estimated: 6, actual: 6 } }), 202)
          : failed(s)
      )
      const charged = yield* Effect.flatMap(
        ContactProvider,
        (p) =>
          Effect.flatMap(p.submit(request([ada, grace])), (ref) => p.poll(ref))
      ).pipe(
        Effect.provide(layers(reported)),
        noRetries
      )
      assert.strictEqual(charged.state, "failed")
      assert.strictEqual(charged.charged, 6)
      assert.isFalse(charged.estimated)
      // ...and so does one reported on the failed operation itself
      const { client: onPoll } = fakeHttp((s) =>
        s.method === "POST"
          ? json(full("op_9", { requestId: "r" }), 202)
          : failed(s, { meta: { requestId: "p", cost: { estimated: 6, actual: 2 } } })
      )
      const polled = yield* Effect.flatMap(ContactProvider, (p) =>
        Effect.flatMap(p.submit(request([ada, grace])), (ref) =>
          p.poll(ref))).pipe(
          Effect.provide(layers(onPoll)),
          noRetries
        )
      assert.strictEqual(polled.charged, 2)
      assert.isFalse(polled.estimated)
    }))

  it.effect("a sync answer without meta.cost is an estimate; with it, as reported", () =>
    Effect.gen(function*() {
      const sync = (meta: object) =>
        Effect.flatMap(ContactProvider, (p) => p.enrichSync(request([ada]))).pipe(
          Effect.provide(layers(fakeHttp(() => json({ data: { contact: { email: ["ada@acme.io"] } }, meta })).client)),
          noRetries
        )
      const [estimated] = yield* sync({ requestId: "s1" })
      assert.strictEqual(estimated?._tag, "Found")
      if (estimated?._tag === "Found") {
        assert.strictEqual(estimated.provenance.cost, 3)
        assert.isTrue(estimated.provenance.estimated)
      }
      const [reported] = yield* sync({ requestId: "s2", cost: { estimated: 3, actual: 1 } })
      if (reported?._tag === "Found") {
        assert.strictEqual(reported.provenance.cost, 1)
        assert.isFalse(reported.provenance.estimated)
      } else assert.fail("not found")
    }))
})

describe("TheHog job references kept from before the meta schema", () => {
  it.effect("a ledger's string-map meta is still polled and read: an operation, and an answer kept whole", () =>
    Effect.gen(function*() {
      const { client, seen } = fakeHttp((s) => json(done(s.url.pathname.split("/").pop()!)))
      const ref = (id: string, meta: Record<string, string>) =>
        new JobRef({
          provider: "thehog",
          id,
          mode: "batch",
          submittedAt: DateTime.unsafeMake(0),
          people: 2,
          fields: ["work_email"],
          charged: 2,
          meta
        })
      const answer = { data: { contact: { email: ["ada@acme.io"] } }, meta: { requestId: "req-s" } }
      const { answered, operation } = yield* Effect.gen(function*() {
        const provider = yield* ContactProvider
        const read = (r: JobRef) =>
          Effect.map(
            Stream.runCollect(provider.results(r)),
            (pages) => Chunk.toReadonlyArray(pages).flatMap((p) => p.results)
          )
        return {
          operation: yield* read(
            ref("op_L", { pollUrl: "/api/operations/op_L", requestId: "r", replayed: "true", replayedCost: "2" })
          ),
          answered: yield* read(
            ref("sync:req-s", {
              sync: JSON.stringify({ identifier: { linkedin_url: "https://www.linkedin.com/in/ada-lovelace" }, answer })
            })
          )
        }
      }).pipe(Effect.provide(layers(client)), noRetries, fastPolling)
      assert.deepStrictEqual(operation.map((o) => o._tag), ["Found", "NotFound"])
      assert.strictEqual(seen[0]!.url.href, "http://thehog.test/api/operations/op_L")
      assert.deepStrictEqual(answered.map((o) => [o._tag, o.key]), [["Found", ada.key]])
      assert.strictEqual(seen.length, 1)
    }))
})
