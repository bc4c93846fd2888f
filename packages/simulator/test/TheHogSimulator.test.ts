import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { TheHogApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { credentials } from "../src/Credentials.js"
import type { Env, EnvOptions } from "../src/Env.js"
import * as TheHogSimulator from "../src/thehog/TheHogSimulator.js"
import { type Answer, decodeStrict, send, withSimulator as serve } from "./utils/harness.js"

const auth = { "x-access-key": credentials.thehog.accessKey, "x-secret-key": credentials.thehog.secretKey }

/** Serves the simulator under `/thehog` on loopback for `body` (provider time follows the TestClock). */
const withSimulator = <A, E>(
  envOptions: EnvOptions,
  options: TheHogSimulator.Options,
  body: (env: Env) => Effect.Effect<A, E, HttpClient.HttpClient>
) => serve("/thehog", (env) => TheHogSimulator.make(env, options), { universe: { size: 200 }, ...envOptions }, body)

const call = (
  method: "GET" | "POST",
  path: string,
  options: { readonly body?: unknown; readonly headers?: Record<string, string> } = {}
) => {
  let request = method === "GET" ? HttpClientRequest.get(`/thehog${path}`) : HttpClientRequest.post(`/thehog${path}`)
  request = HttpClientRequest.setHeaders(request, options.headers ?? auth)
  if (options.body !== undefined) request = HttpClientRequest.bodyUnsafeJson(request, options.body)
  return send(request)
}

const decode = decodeStrict

/** The 202 as Shapes-B documents it (what the simulator sends by default): every part present. */
const Documented202 = Schema.Struct({
  ...TheHogApi.Accepted.fields,
  id: Schema.String,
  operationId: Schema.String,
  status: TheHogApi.OperationStatus,
  pollUrl: Schema.String,
  meta: TheHogApi.Meta
})

const enrich = (body: unknown, headers: Record<string, string> = auth) =>
  call("POST", "/api/enrichments", { body, headers })

const both = ["contact.email", "contact.phone"]

describe("TheHog simulator: POST /api/enrichments", () => {
  it.effect("refuses missing or wrong keys with a NestJS 401 and an X-Request-Id", () =>
    withSimulator({}, {}, (env) =>
      Effect.gen(function*() {
        const missing = yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both }, {})
        assert.strictEqual(missing.status, 401)
        const body = decode(TheHogApi.ErrorBody, missing)
        assert.strictEqual(body.message, "Invalid or missing authentication credentials")
        assert.strictEqual(body.error, "Unauthorized")
        assert.strictEqual(body.path, "/api/enrichments")
        assert.strictEqual(body.requestId, missing.headers["x-request-id"])
        const wrong = yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both }, {
          ...auth,
          "x-secret-key": "sk_wrong"
        })
        assert.strictEqual(wrong.status, 401)
        assert.strictEqual(env.counters.requestsTo("thehog:enrichments"), 2)
        assert.strictEqual(env.counters.netCredits("thehog"), 0)
      })))

  it.effect("validates the body: exactly one of identifier/identifiers, ≤ 100, fields from the allow-list", () =>
    withSimulator({}, {}, (env) =>
      Effect.gen(function*() {
        const issues = (answer: Answer) => {
          assert.strictEqual(answer.status, 400)
          const body = decode(TheHogApi.ErrorBody, answer)
          assert.strictEqual(body.message, "Validation failed")
          return (body.errors ?? []).map((e) => e.property)
        }
        const url = env.universe.people[0]!.linkedinUrl
        assert.deepStrictEqual(
          issues(yield* enrich({ identifier: { linkedin_url: url }, identifiers: [], fields: both })),
          [
            "identifier"
          ]
        )
        assert.deepStrictEqual(issues(yield* enrich({ fields: both })), ["identifier"])
        const many = Array.from({ length: 101 }, (_, i) => ({ email: `p${i}@acme.io` }))
        assert.deepStrictEqual(issues(yield* enrich({ identifiers: many, fields: both })), ["identifiers"])
        assert.deepStrictEqual(issues(yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: [] })), ["fields"])
        assert.deepStrictEqual(
          issues(yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: ["contact.email", "company_name"] })),
          ["fields"]
        )
        assert.deepStrictEqual(
          issues(yield* enrich({ identifiers: [{ email: "a@b.co", x_handle: "ab" }, { nope: 1 }], fields: both })),
          ["identifiers.0", "identifiers.1"]
        )
        assert.strictEqual(env.counters.netCredits("thehog"), 0)
        const ok = yield* enrich({ identifiers: many.slice(0, 100), fields: ["contact.email"] })
        assert.strictEqual(ok.status, 202)
        assert.strictEqual(env.counters.netCredits("thehog"), 100)
      })))

  it.effect("answers a single LinkedIn contact-only request synchronously, charging per field", () =>
    withSimulator({}, {}, (env) =>
      Effect.gen(function*() {
        const person = env.universe.people.find((p) => {
          const k = env.universe.knowledge("thehog", p)
          return k.workEmail?.verdict === "valid" && k.phone !== undefined
        })!
        const answer = yield* enrich({ identifier: { linkedin_url: person.linkedinUrl }, fields: both })
        assert.strictEqual(answer.status, 200)
        const body = decode(TheHogApi.SyncResponse, answer)
        assert.include(body.data.contact!.email ?? [], person.workEmail)
        assert.deepStrictEqual(body.data.contact!.phone, [person.phone])
        assert.strictEqual(body.meta.requestId, answer.headers["x-request-id"])
        assert.deepStrictEqual(body.meta.cost, { estimated: 3, actual: 3 })
        assert.strictEqual(env.counters.netCredits("thehog"), 3)
        assert.strictEqual(env.counters.submissionsOf("thehog", `linkedin_url:${person.linkedinUrl}`), 1)
        // only the asked field comes back; a ghost is an empty answer, still charged (per attempt)
        const ghost = yield* enrich({
          identifier: { linkedin_url: env.universe.ghostUrl(1) },
          fields: ["contact.phone"]
        })
        assert.deepStrictEqual(decode(TheHogApi.SyncResponse, ghost).data, { contact: { phone: [] } })
        assert.strictEqual(env.counters.netCredits("thehog"), 5)
        // signals, or any non-LinkedIn single identifier, go async
        const signals = yield* enrich({
          identifier: { linkedin_url: person.linkedinUrl },
          fields: ["contact.email", "signals"]
        })
        assert.strictEqual(signals.status, 202)
        const email = yield* enrich({ identifier: { email: person.workEmail }, fields: ["contact.email"] })
        assert.strictEqual(email.status, 202)
      })))

  it.effect("replays an Idempotency-Key per organisation: same status and body, no new job, no new charge", () =>
    withSimulator({}, {
      keys: [
        { ...credentials.thehog, org: "org_a" },
        { accessKey: "ak_other", secretKey: "sk_other", org: "org_b" }
      ]
    }, (env) =>
      Effect.gen(function*() {
        const people = env.universe.people.slice(0, 3).map((p) => ({ linkedin_url: p.linkedinUrl }))
        const headers = { ...auth, "idempotency-key": "chunk-1" }
        const first = yield* enrich({ identifiers: people, fields: both }, headers)
        const again = yield* enrich({ identifiers: people, fields: both }, headers)
        assert.strictEqual(first.status, 202)
        assert.strictEqual(again.status, 202)
        assert.strictEqual(again.text, first.text)
        assert.strictEqual(again.headers["idempotent-replayed"], "true")
        assert.notStrictEqual(again.headers["x-request-id"], first.headers["x-request-id"])
        assert.strictEqual(env.counters.netCredits("thehog"), 9)
        assert.deepStrictEqual(env.counters.resubmitted("thehog"), [])
        // the same key with another body is refused
        const other = yield* enrich({ identifiers: people.slice(0, 1), fields: both }, headers)
        assert.strictEqual(other.status, 422)
        // another organisation has its own keys
        const orgB = yield* enrich({ identifiers: people, fields: both }, {
          "x-access-key": "ak_other",
          "x-secret-key": "sk_other",
          "idempotency-key": "chunk-1"
        })
        assert.strictEqual(orgB.status, 202)
        assert.notStrictEqual(decode(Documented202, orgB).id, decode(Documented202, first).id)
        assert.strictEqual(env.counters.netCredits("thehog"), 18)
        // sync answers are replayed too
        const single = { identifier: people[0], fields: both }
        const syncHeaders = { ...auth, "idempotency-key": "single-1" }
        const s1 = yield* enrich(single, syncHeaders)
        const s2 = yield* enrich(single, syncHeaders)
        assert.strictEqual(s1.status, 200)
        assert.strictEqual(s2.status, 200)
        assert.strictEqual(s2.text, s1.text)
        assert.strictEqual(env.counters.netCredits("thehog"), 21)
      })))
})

describe("TheHog simulator: operations", () => {
  it.effect("moves queued → processing → partial_success with provider time; both poll paths agree", () =>
    withSimulator(
      {},
      { queuedMillis: 2_000, processingMillis: 4_000, perItemMillis: 0 },
      (env) =>
        Effect.gen(function*() {
          const person = env.universe.people[5]!
          const identifiers = [
            { linkedin_url: `linkedin.com/in/${person.slug.toUpperCase()}/` },
            { email: person.workEmail },
            { x_handle: `@${person.xHandle}` },
            { github_username: person.github },
            { linkedin_url: env.universe.ghostUrl(3) },
            { linkedin_url: "https://www.linkedin.com/company/acme" }
          ]
          const submitted = yield* enrich({ identifiers, fields: ["contact.email", "contact.phone", "profile"] })
          const accepted = decode(Documented202, submitted)
          assert.strictEqual(accepted.id, accepted.operationId)
          assert.strictEqual(accepted.status, "queued")
          assert.strictEqual(accepted.pollUrl, `/api/operations/${accepted.id}`)
          const poll = (path: string) => Effect.map(call("GET", path), (a) => decode(TheHogApi.Operation, a))
          const queued = yield* poll(accepted.pollUrl)
          assert.deepStrictEqual([queued.status, queued.progress, queued.result], ["queued", 0, null])
          yield* TestClock.adjust("4 seconds")
          const processing = yield* poll(`/api/enrichments/${accepted.id}`)
          assert.strictEqual(processing.status, "processing")
          assert.strictEqual(processing.progress, 50)
          yield* TestClock.adjust("3 seconds")
          const done = yield* poll(accepted.pollUrl)
          const same = yield* poll(`/api/enrichments/${accepted.id}`)
          assert.deepStrictEqual(done, same)
          assert.strictEqual(done.status, "partial_success")
          const items = done.result!.items
          // identifiers are echoed verbatim, in order
          assert.deepStrictEqual(items.map((i) => i.identifier), identifiers)
          assert.deepStrictEqual(items.map((i) => i.status), [
            "success",
            "success",
            "success",
            "success",
            "failed",
            "failed"
          ])
          assert.deepStrictEqual(items[0]!.data, items[1]!.data)
          assert.strictEqual(items[0]!.data!.profile!.company, person.company)
          assert.strictEqual(items[4]!.error!.message, "Person not found")
          assert.match(items[5]!.error!.message, TheHogApi.unsupportedPattern)
          // 6 identifiers × (1 + 2); profile is free
          assert.strictEqual(env.counters.netCredits("thehog"), 18)
          assert.strictEqual(env.counters.requestsTo("thehog:operations/:id"), 2)
          assert.strictEqual(env.counters.requestsTo("thehog:enrichments/:id"), 2)
        })
    ))

  it.effect("404s an unknown operation and another organisation's", () =>
    withSimulator({}, {
      keys: [
        { ...credentials.thehog, org: "org_a" },
        { accessKey: "ak_other", secretKey: "sk_other", org: "org_b" }
      ]
    }, () =>
      Effect.gen(function*() {
        const missing = yield* call("GET", "/api/operations/op_nope")
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(decode(TheHogApi.ErrorBody, missing).error, "Not Found")
        const accepted = decode(Documented202, yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both }))
        const foreign = yield* call("GET", accepted.pollUrl, {
          headers: { "x-access-key": "ak_other", "x-secret-key": "sk_other" }
        })
        assert.strictEqual(foreign.status, 404)
      })))

  it.effect("gives an absolute pollUrl (under the mount) and the enrichments path on request", () =>
    withSimulator({}, { absolutePollUrl: true, pollPath: "enrichments" }, () =>
      Effect.gen(function*() {
        const accepted = decode(Documented202, yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both }))
        assert.match(accepted.pollUrl, /^http:\/\/[^/]+\/thehog\/api\/enrichments\/op_/)
        const path = new URL(accepted.pollUrl).pathname.replace(/^\/thehog/, "")
        assert.strictEqual((yield* call("GET", path)).status, 200)
      })))
})

describe("TheHog simulator: limits and faults", () => {
  it.effect("shares a 30/minute poll bucket per organisation and a global limit, with the standard 429 body", () =>
    withSimulator({}, { globalLimit: 40 }, (env) =>
      Effect.gen(function*() {
        const accepted = decode(Documented202, yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both }))
        const statuses: Array<number> = []
        for (let i = 0; i < 31; i++) {
          statuses.push((yield* call("GET", i % 2 === 0 ? accepted.pollUrl : `/api/enrichments/${accepted.id}`)).status)
        }
        assert.deepStrictEqual(statuses.filter((s) => s === 200).length, 30)
        const limited = yield* call("GET", accepted.pollUrl)
        assert.strictEqual(limited.status, 429)
        const body = decode(TheHogApi.ErrorBody, limited)
        assert.strictEqual(body.message, "Rate limit exceeded. Please slow down and retry.")
        assert.isUndefined(limited.headers["retry-after"])
        // submits are not polls, but the global window (40) is now spent: 1 + 32 polls + 7 submits
        for (let i = 0; i < 7; i++) {
          assert.strictEqual((yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both })).status, 202)
        }
        assert.strictEqual((yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both })).status, 429)
        assert.strictEqual(env.counters.totalRateLimited("thehog"), 3)
        yield* TestClock.adjust("61 seconds")
        assert.strictEqual((yield* call("GET", accepted.pollUrl)).status, 200)
      })))

  it.effect("injects 5xx bursts and 429 storms by request number", () =>
    withSimulator(
      {
        faults: { thehog: { serverErrorBurst: { from: 2, length: 2 }, rateLimitStorm: { from: 5, length: 1 } } }
      },
      {},
      (env) =>
        Effect.gen(function*() {
          const statuses: Array<number> = []
          for (let i = 0; i < 6; i++) {
            statuses.push((yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both })).status)
          }
          assert.deepStrictEqual(statuses, [202, 503, 503, 202, 429, 202])
          assert.strictEqual(env.counters.netCredits("thehog"), 9)
        })
    ))

  it.effect("fails jobs, slows them, and sends malformed, truncated and unknown-enum bodies on request", () =>
    withSimulator({ faults: { thehog: { failJobRate: 1, slowJobFactor: 3 } } }, {
      queuedMillis: 1_000,
      processingMillis: 1_000,
      perItemMillis: 0
    }, (env) =>
      Effect.gen(function*() {
        const accepted = decode(Documented202, yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both }))
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(decode(TheHogApi.Operation, yield* call("GET", accepted.pollUrl)).status, "processing")
        yield* TestClock.adjust("2 seconds")
        const failed = decode(TheHogApi.Operation, yield* call("GET", accepted.pollUrl))
        assert.strictEqual(failed.status, "failed")
        assert.isString(failed.error?.message)

        env.faults.thehog = { malformedRate: 1 }
        const malformed = yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both })
        assert.strictEqual(malformed.status, 202)
        assert.throws(() => decode(Documented202, malformed))

        env.faults.thehog = { truncatedRate: 1 }
        const truncated = yield* call("GET", accepted.pollUrl)
        assert.isUndefined(truncated.json)

        env.faults.thehog = { unknownEnumRate: 1 }
        const ok = decode(Documented202, yield* enrich({ identifiers: [{ email: "a@b.co" }], fields: both }))
        const early = yield* call("GET", ok.pollUrl)
        assert.strictEqual((early.json as { status: string }).status, "waiting_on_upstream")
        assert.strictEqual(decode(TheHogApi.Operation, early).status, "unknown")
        yield* TestClock.adjust("10 seconds")
        const late = yield* call("GET", ok.pollUrl)
        assert.strictEqual((late.json as { status: string }).status, "done")
        assert.strictEqual(decode(TheHogApi.Operation, late).result!.items.length, 1)
      })))

  it.effect("fails a share of items with an upstream error when asked", () =>
    withSimulator(
      { seed: 3 },
      { itemFailureRate: 0.5, queuedMillis: 0, processingMillis: 0, perItemMillis: 0 },
      (env) =>
        Effect.gen(function*() {
          const identifiers = env.universe.people.slice(0, 40).map((p) => ({ linkedin_url: p.linkedinUrl }))
          const accepted = decode(Documented202, yield* enrich({ identifiers, fields: both }))
          yield* TestClock.adjust("1 millis")
          const done = decode(TheHogApi.Operation, yield* call("GET", accepted.pollUrl))
          const upstream = done.result!.items.filter((i) => i.error?.message === "Upstream provider timeout")
          assert.isAbove(upstream.length, 5)
          assert.isBelow(upstream.length, 35)
          assert.strictEqual(done.status, "partial_success")
        })
    ))
})
