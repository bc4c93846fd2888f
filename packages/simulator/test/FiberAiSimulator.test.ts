import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { FiberAiApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { credentials } from "../src/Credentials.js"
import type { Env, EnvOptions } from "../src/Env.js"
import * as FiberAiSimulator from "../src/fiber/FiberAiSimulator.js"
import type { TruePerson } from "../src/Universe.js"
import { decodeStrict, send, withSimulator as serve } from "./utils/harness.js"

const apiKey = credentials.fiber.apiKey

/** Serves the simulator under `/fiber` on loopback for `body` (provider time follows the TestClock). */
const withSimulator = <A, E>(
  envOptions: EnvOptions,
  options: FiberAiSimulator.Options,
  body: (env: Env) => Effect.Effect<A, E, HttpClient.HttpClient>
) => serve("/fiber", (env) => FiberAiSimulator.make(env, options), { universe: { size: 300 }, ...envOptions }, body)

const post = (endpoint: FiberAiApi.Endpoint, body: unknown) =>
  send(HttpClientRequest.post(`/fiber${FiberAiApi.paths[endpoint]}`).pipe(HttpClientRequest.bodyUnsafeJson(body)))

const decode = decodeStrict

const urls = (people: ReadonlyArray<TruePerson>) => people.map((p) => ({ linkedinUrl: { value: p.linkedinUrl } }))

const start = (people: ReadonlyArray<{ linkedinUrl: { value: string } }>, extra: Record<string, unknown> = {}) =>
  post("batch/start", { apiKey, personDetails: people, ...extra })

const pollTask = (taskId: string, extra: Record<string, unknown> = {}) =>
  post("batch/poll", { apiKey, taskId, ...extra })

const checkInvariant = (stats: FiberAiApi.OverallStats) =>
  assert.strictEqual(
    stats.totalPeopleToFetch,
    stats.numCompleted + stats.numFailed + stats.numRemaining + stats.numRejected,
    JSON.stringify(stats)
  )

/** People of the universe by what Fiber knows of them. */
const pick = (env: Env) => {
  const people = env.universe.people
  const knows = (p: TruePerson) => env.universe.knowledge("fiber", p)
  return {
    everything: people.find((p) => {
      const k = knows(p)
      return k.workEmail !== undefined && k.personalEmail !== undefined && k.phone !== undefined
    })!,
    workOnly: people.find((p) => {
      const k = knows(p)
      return k.workEmail !== undefined && k.personalEmail === undefined && k.phone === undefined
    })!,
    nothing: people.find((p) => {
      const k = knows(p)
      return k.workEmail === undefined && k.personalEmail === undefined && k.phone === undefined
    })!,
    any: (n: number) => people.slice(0, n)
  }
}

describe("Fiber simulator: auth, caps and warnings", () => {
  it.effect("refuses a missing or wrong apiKey with 401 {message}", () =>
    withSimulator({}, {}, (env) =>
      Effect.gen(function*() {
        const people = urls(pick(env).any(1))
        const missing = yield* post("batch/start", { personDetails: people })
        assert.strictEqual(missing.status, 401)
        assert.include(decode(FiberAiApi.ErrorBody, missing).message, "API key")
        const wrong = yield* post("batch/poll", { apiKey: "nope", taskId: "x" })
        assert.strictEqual(wrong.status, 401)
        assert.strictEqual(env.counters.netCredits("fiber"), 0)
      })))

  it.effect("validates the start body: 1..2000 people, the published URL pattern, at least one type", () =>
    withSimulator({}, {}, (env) =>
      Effect.gen(function*() {
        const many = Array.from({ length: 2001 }, (_, i) => ({ linkedinUrl: { value: env.universe.ghostUrl(i) } }))
        const tooMany = yield* start(many)
        assert.strictEqual(tooMany.status, 400)
        assert.include(decode(FiberAiApi.ErrorBody, tooMany).message, "personDetails")
        assert.strictEqual((yield* start([])).status, 400)
        const bare = yield* start([{ linkedinUrl: { value: "jake" } }])
        assert.strictEqual(bare.status, 400)
        assert.include(decode(FiberAiApi.ErrorBody, bare).message, "personDetails.0.linkedinUrl.value")
        assert.strictEqual((yield* start([{ linkedinUrl: { value: "HTTPS://LinkedIn.com/in/jake" } }])).status, 400)
        const none = yield* start(urls(pick(env).any(1)), {
          enrichmentTypes: { getWorkEmails: false, getPersonalEmails: false, getPhoneNumbers: false }
        })
        assert.strictEqual(none.status, 400)
        const full = yield* start(many.slice(0, 2000))
        assert.strictEqual(full.status, 200)
        assert.strictEqual(decode(FiberAiApi.StartBatchResponse, full).output.numPeopleEnqueued, 2000)
      })))

  it.effect("skips duplicates by slug without charging them, charges the rest upfront, warns on unknown keys", () =>
    withSimulator({}, {}, (env) =>
      Effect.gen(function*() {
        const [a, b] = pick(env).any(2) as [TruePerson, TruePerson]
        const answer = yield* start([
          { linkedinUrl: { value: a.linkedinUrl } },
          { linkedinUrl: { value: `${a.linkedinUrl.replace("https://www.", "http://uk.")}/?trk=x` } },
          { linkedinUrl: { value: a.linkedinUrl.replace(a.slug, a.slug.toUpperCase()) } },
          { linkedinUrl: { value: b.linkedinUrl } }
        ], {
          enrichmentTypes: { getWorkEmails: true, getPersonalEmails: false, getPhoneNumbers: true, getX: 1 },
          foo: 1
        })
        assert.strictEqual(answer.status, 200)
        const body = decode(FiberAiApi.StartBatchResponse, answer)
        assert.strictEqual(body.output.numPeopleEnqueued, 2)
        assert.strictEqual(body.output.numDuplicatesSkipped, 2)
        assert.deepStrictEqual(body.chargeInfo, { method: "charged-now", creditsCharged: 10 })
        assert.deepStrictEqual(body.advice, [])
        assert.deepStrictEqual(body.warnings?.map((w) => w.field), ["foo", "enrichmentTypes.getX"])
        assert.strictEqual(env.counters.netCredits("fiber"), 10)
        assert.strictEqual(env.counters.submissionsOf("fiber", `in/${a.slug}`), 1)
        assert.strictEqual(env.counters.requestsTo("fiber:batch/start"), 1)
        const poll = decode(FiberAiApi.PollBatchResponse, yield* pollTask(body.output.taskId))
        assert.strictEqual(poll.output.overallStats.numDuplicates, 2)
        assert.strictEqual(poll.output.overallStats.totalPeopleToFetch, 2)
      })))

  it.effect("answers 402 with outOfCreditsAlert when the balance is short, charging nothing", () =>
    withSimulator({}, { credits: 9 }, (env) =>
      Effect.gen(function*() {
        const answer = yield* start(urls(pick(env).any(2)))
        assert.strictEqual(answer.status, 402)
        const body = decode(FiberAiApi.ErrorBody, answer)
        assert.strictEqual(body.outOfCreditsAlert?.availableCredits, 9)
        assert.strictEqual(env.counters.netCredits("fiber"), 0)
        const fits = yield* start(urls(pick(env).any(1)))
        assert.strictEqual(fits.status, 200)
        // below the low-credit threshold: the charge carries an alert
        const info = decode(FiberAiApi.StartBatchResponse, fits).chargeInfo
        assert.strictEqual("lowCreditAlert" in info ? info.lowCreditAlert?.availableCredits : -1, 4)
      })))
})

describe("Fiber simulator: batch poll and cancel", () => {
  const timing = { healMillis: 1_000, firstResultMillis: 10_000, perPersonMillis: 1_000 }

  it.effect("progresses with provider time, pages by cursor, keeps the stats invariant and refunds undelivered data", () =>
    // the figures as running totals (not the default), which these assertions read
    withSimulator({}, { ...timing, charges: { reports: "running-total" } }, (env) =>
      Effect.gen(function*() {
        const { everything, nothing, workOnly } = pick(env)
        const people = [
          everything.linkedinUrl,
          "https://www.linkedin.com/in/unresolvable-someone",
          workOnly.linkedinUrl,
          nothing.linkedinUrl,
          env.universe.ghostUrl(1)
        ]
        const started = decode(
          FiberAiApi.StartBatchResponse,
          yield* start(people.map((value) => ({ linkedinUrl: { value } })))
        )
        const taskId = started.output.taskId
        assert.strictEqual(FiberAiApi.chargedBy(started.chargeInfo), 25)

        const first = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId))
        assert.deepStrictEqual(first.output.pageResults, [])
        assert.strictEqual(first.output.nextCursor, null)
        assert.isFalse(first.output.done)
        assert.strictEqual(first.output.overallStats.numRemaining, 5)
        assert.strictEqual(first.chargeInfo.method, "free")

        yield* TestClock.adjust("2 seconds")
        const healed = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId, { take: 2 }))
        assert.strictEqual(healed.output.pageResults.length, 1)
        assert.isFalse("outputs" in healed.output.pageResults[0]!)
        assert.strictEqual(healed.output.overallStats.numRejected, 1)
        checkInvariant(healed.output.overallStats)
        const cursor1 = healed.output.nextCursor!
        assert.isString(cursor1)

        // nothing new yet: the position is echoed
        const idle = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId, { take: 2, cursor: cursor1 }))
        assert.deepStrictEqual(idle.output.pageResults, [])
        assert.strictEqual(idle.output.nextCursor, cursor1)

        yield* TestClock.adjust("30 seconds")
        const page2 = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId, { take: 2, cursor: cursor1 }))
        assert.isTrue(page2.output.done)
        assert.strictEqual(page2.output.pageResults.length, 2)
        const again = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId, { take: 2, cursor: cursor1 }))
        assert.deepStrictEqual(again.output.pageResults, page2.output.pageResults)
        const page3 = decode(
          FiberAiApi.PollBatchResponse,
          yield* pollTask(taskId, { take: 2, cursor: page2.output.nextCursor })
        )
        assert.strictEqual(page3.output.pageResults.length, 2)
        const end = decode(
          FiberAiApi.PollBatchResponse,
          yield* pollTask(taskId, { take: 2, cursor: page3.output.nextCursor })
        )
        assert.deepStrictEqual(end.output.pageResults, [])

        const rows = [...healed.output.pageResults, ...page2.output.pageResults, ...page3.output.pageResults]
        assert.deepStrictEqual(rows.map((r) => r.inputs.linkedinUrl.value).sort(), [...people].sort())
        const byUrl = new Map(rows.map((r) => [r.inputs.linkedinUrl.value, r]))
        const full = byUrl.get(everything.linkedinUrl)!.outputs!
        assert.deepStrictEqual(full.emails.map((e) => e.type), ["work", "personal"])
        assert.strictEqual(full.phoneNumbers[0]!.number, everything.phone)
        assert.strictEqual(byUrl.get(nothing.linkedinUrl)!.outputs, null)
        assert.strictEqual(byUrl.get(env.universe.ghostUrl(1))!.outputs, null)
        assert.deepStrictEqual(byUrl.get(workOnly.linkedinUrl)!.outputs!.emails.map((e) => e.type), ["work"])

        const stats = end.output.overallStats
        assert.deepStrictEqual(stats, {
          totalPeopleToFetch: 5,
          numCompleted: 2,
          numFailed: 2,
          numRemaining: 0,
          numRejected: 1,
          numDuplicates: 0
        })
        // refunds: rejected 5 + two failed 10 + work-only keeps 2 of 5 → 3; everything delivered → 0
        assert.deepStrictEqual(end.chargeInfo, {
          method: "credits-refunded",
          creditsRefunded: 18,
          message: "Credits refunded so far for undelivered data in this task"
        })
        assert.strictEqual(env.counters.refunded.get("fiber"), 18)
        assert.strictEqual(env.counters.netCredits("fiber"), 7)
      })))

  it.effect("refuses take > 100, unknown tasks, foreign cursors and another key's task", () =>
    withSimulator({}, { apiKeys: [apiKey, "other-org-key"] }, (env) =>
      Effect.gen(function*() {
        const taskId = decode(FiberAiApi.StartBatchResponse, yield* start(urls(pick(env).any(2)))).output.taskId
        assert.strictEqual((yield* pollTask(taskId, { take: 101 })).status, 400)
        assert.strictEqual((yield* pollTask(taskId, { take: 0 })).status, 400)
        assert.strictEqual((yield* pollTask("bt_nope")).status, 404)
        assert.strictEqual((yield* pollTask(taskId, { cursor: btoa("bt_other:1") })).status, 400)
        assert.strictEqual((yield* post("batch/poll", { apiKey: "other-org-key", taskId })).status, 404)
        assert.strictEqual((yield* post("batch/cancel", { apiKey, taskId: "bt_nope" })).status, 404)
      })))

  it.effect("cancel refunds the unclaimed people; polls then say done and canceled", () =>
    // the figures as running totals (not the default), which these assertions read
    withSimulator({}, { ...timing, charges: { reports: "running-total" } }, (env) =>
      Effect.gen(function*() {
        const taskId = decode(FiberAiApi.StartBatchResponse, yield* start(urls(pick(env).any(10)))).output.taskId
        yield* TestClock.adjust("13500 millis")
        const cancel = decode(FiberAiApi.CancelBatchResponse, yield* post("batch/cancel", { apiKey, taskId }))
        const poll = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId))
        const stats = poll.output.overallStats
        assert.isTrue(poll.output.done && poll.output.canceled && !poll.output.failed)
        assert.isAbove(cancel.output.cancelledCount, 0)
        assert.isBelow(cancel.output.cancelledCount, 10)
        assert.strictEqual(stats.numRemaining, cancel.output.cancelledCount)
        assert.strictEqual(poll.output.pageResults.length, 10 - cancel.output.cancelledCount)
        checkInvariant(stats)
        assert.strictEqual(cancel.output.creditsRefunded, 5 * cancel.output.cancelledCount)
        assert.strictEqual(FiberAiApi.refundedBy(cancel.chargeInfo), cancel.output.creditsRefunded)
        yield* TestClock.adjust("1 minute")
        const later = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId))
        assert.strictEqual(later.output.pageResults.length, 10 - cancel.output.cancelledCount)
        assert.strictEqual(FiberAiApi.refundedBy(later.chargeInfo), env.counters.refunded.get("fiber"))
        const twice = decode(FiberAiApi.CancelBatchResponse, yield* post("batch/cancel", { apiKey, taskId }))
        assert.strictEqual(twice.output.cancelledCount, 0)
        assert.strictEqual(FiberAiApi.refundedBy(later.chargeInfo), env.counters.refunded.get("fiber"))
      })))
})

describe("Fiber simulator: the other documented chargeInfo shapes", () => {
  const timing = { healMillis: 1_000, firstResultMillis: 10_000, perPersonMillis: 1_000 }
  const methods = (answers: ReadonlyArray<FiberAiApi.PollBatchResponse>) => answers.map((a) => a.chargeInfo.method)

  /** The people of the refunds test above: 25 charged upfront, 18 refunded, 7 delivered. */
  const cast = (env: Env) => {
    const { everything, nothing, workOnly } = pick(env)
    return [
      everything.linkedinUrl,
      "https://www.linkedin.com/in/unresolvable-someone",
      workOnly.linkedinUrl,
      nothing.linkedinUrl,
      env.universe.ghostUrl(1)
    ].map((value) => ({ linkedinUrl: { value } }))
  }

  it.effect("billing on completion: charging-later, then the poll that sees the task done charges what it delivered", () =>
    withSimulator(
      {},
      { ...timing, charges: { billing: "on-completion", reports: "running-total" } },
      (env) =>
        Effect.gen(function*() {
          const started = decode(FiberAiApi.StartBatchResponse, yield* start(cast(env)))
          assert.strictEqual(started.chargeInfo.method, "charging-later")
          assert.strictEqual(env.counters.netCredits("fiber"), 0)
          const taskId = started.output.taskId
          const running = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId))
          yield* TestClock.adjust("30 seconds")
          const done = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId))
          const again = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId))
          assert.isTrue(done.output.done)
          assert.deepStrictEqual(methods([running, done, again]), [
            "free",
            "charged-for-async-process",
            "charged-for-async-process"
          ])
          assert.strictEqual(FiberAiApi.chargedBy(done.chargeInfo), 7)
          assert.strictEqual(FiberAiApi.chargedBy(again.chargeInfo), 7, "a running total: repeated, charged once")
          assert.strictEqual(env.counters.charged.get("fiber"), 7)
          assert.strictEqual(env.counters.refunded.get("fiber") ?? 0, 0)
        })
    ))

  it.effect("reported once: each refund or charge comes on the poll that pays it, later polls say free", () =>
    Effect.gen(function*() {
      for (const billing of ["upfront", "on-completion"] as const) {
        yield* withSimulator({}, { ...timing, charges: { billing, reports: "once" } }, (env) =>
          Effect.gen(function*() {
            const taskId = decode(FiberAiApi.StartBatchResponse, yield* start(cast(env))).output.taskId
            yield* TestClock.adjust("30 seconds")
            const done = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId, { take: 2 }))
            const page2 = decode(
              FiberAiApi.PollBatchResponse,
              yield* pollTask(taskId, { take: 2, cursor: done.output.nextCursor })
            )
            assert.deepStrictEqual(methods([done, page2]), [
              billing === "upfront" ? "credits-refunded" : "charged-for-async-process",
              "free"
            ])
            assert.strictEqual(
              billing === "upfront" ? FiberAiApi.refundedBy(done.chargeInfo) : FiberAiApi.chargedBy(done.chargeInfo),
              billing === "upfront" ? 18 : 7
            )
            assert.strictEqual(env.counters.netCredits("fiber"), 7)
          }))
      }
    }))
})

describe("Fiber simulator: rate limits and faults", () => {
  it.effect("answers 429 {message} past 30 starts a minute, with no rate-limit headers, and recovers", () =>
    withSimulator({}, {}, (env) =>
      Effect.gen(function*() {
        const one = urls(pick(env).any(1))
        for (let i = 0; i < 30; i++) assert.strictEqual((yield* start(one)).status, 200)
        const limited = yield* start(one)
        assert.strictEqual(limited.status, 429)
        assert.include(decode(FiberAiApi.ErrorBody, limited).message, "30 requests per 1 minute")
        assert.isUndefined(limited.headers["retry-after"])
        assert.isUndefined(limited.headers["x-ratelimit-remaining"])
        assert.strictEqual(env.counters.rateLimited.get("fiber:batch/start"), 1)
        assert.strictEqual(env.counters.netCredits("fiber"), 150)
        yield* TestClock.adjust("61 seconds")
        assert.strictEqual((yield* start(one)).status, 200)
      })))

  it.effect("5xx bursts and 429 storms strike before anything is started or charged", () =>
    withSimulator(
      {
        faults: { fiber: { serverErrorBurst: { from: 1, length: 2 }, rateLimitStorm: { from: 3, length: 2 } } }
      },
      {},
      (env) =>
        Effect.gen(function*() {
          const one = urls(pick(env).any(1))
          const statuses = []
          for (let i = 0; i < 5; i++) statuses.push((yield* start(one)).status)
          assert.deepStrictEqual(statuses.map((s) => (s >= 500 ? 500 : s)), [500, 500, 429, 429, 200])
          assert.strictEqual(env.counters.netCredits("fiber"), 5)
          assert.strictEqual(env.counters.totalRateLimited("fiber:"), 2)
        })
    ))

  it.effect("malformed, truncated and unknown-enum bodies", () =>
    withSimulator({ faults: { fiber: { malformedRate: 1 } } }, {}, (env) =>
      Effect.gen(function*() {
        const answer = yield* start(urls(pick(env).any(1)))
        assert.strictEqual(answer.status, 200)
        assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(FiberAiApi.StartBatchResponse)(answer.json)))
      })).pipe(
        Effect.zipRight(withSimulator({ faults: { fiber: { truncatedRate: 1 } } }, {}, (env) =>
          Effect.gen(function*() {
            const answer = yield* start(urls(pick(env).any(1)))
            assert.strictEqual(answer.status, 200)
            assert.isUndefined(answer.json)
          }))),
        Effect.zipRight(
          withSimulator({ faults: { fiber: { unknownEnumRate: 1 } } }, {}, (env) =>
            Effect.gen(function*() {
              const answer = yield* post("single", { apiKey, linkedinUrl: pick(env).everything.slug })
              const body = answer.json as { output: { profile: { emails: Array<{ type: string }> } } }
              assert.strictEqual(body.output.profile.emails[0]!.type, "corporate")
              // the lenient schemas read them; the strict literals would not
              const decoded = decode(FiberAiApi.SingleResponse, answer)
              assert.strictEqual(decoded.output.profile.emails[0]!.type, "unknown")
              assert.strictEqual(decoded.output.profile.phoneNumbers[0]!.type, "unknown")
              assert.strictEqual(decoded.output.profile.status, "unrecognized")
            }))
        )
      ))

  it.effect("failJobRate ends a task failed midway and refunds everyone unprocessed", () =>
    withSimulator(
      { faults: { fiber: { failJobRate: 1 } } },
      { firstResultMillis: 1_000, perPersonMillis: 1_000 },
      (env) =>
        Effect.gen(function*() {
          const taskId = decode(FiberAiApi.StartBatchResponse, yield* start(urls(pick(env).any(6)))).output.taskId
          yield* TestClock.adjust("1 minute")
          const poll = decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId))
          assert.isTrue(poll.output.done && poll.output.failed)
          const stats = poll.output.overallStats
          assert.strictEqual(stats.numRemaining, 3)
          assert.strictEqual(poll.output.pageResults.length, 3)
          checkInvariant(stats)
          assert.isAtLeast(env.counters.refunded.get("fiber") ?? 0, 15)
        })
    ))

  it.effect("slowJobFactor stretches the job in provider time", () =>
    withSimulator(
      { faults: { fiber: { slowJobFactor: 10 } } },
      { firstResultMillis: 1_000, perPersonMillis: 100 },
      (env) =>
        Effect.gen(function*() {
          const taskId = decode(FiberAiApi.StartBatchResponse, yield* start(urls(pick(env).any(2)))).output.taskId
          yield* TestClock.adjust("5 seconds")
          assert.strictEqual(decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId)).output.pageResults.length, 0)
          yield* TestClock.adjust("20 seconds")
          assert.isTrue(decode(FiberAiApi.PollBatchResponse, yield* pollTask(taskId)).output.done)
        })
    ))
})

describe("Fiber simulator: exhaustive and single", () => {
  it.effect("exhaustive moves started → live-enriching → grabbing-contact-info → completed and bills once when done", () =>
    withSimulator({}, { exhaustiveMillis: 10_000 }, (env) =>
      Effect.gen(function*() {
        const person = env.universe.people.find((p) => {
          const k = env.universe.knowledge("fiber", p)
          return k.workEmail?.verdict === "risky" && k.phone !== undefined
        })!
        const started = decode(
          FiberAiApi.ExhaustiveStartResponse,
          yield* post("exhaustive/start", { apiKey, linkedinUrl: person.slug })
        )
        assert.strictEqual(started.chargeInfo.method, "charging-later")
        const taskId = started.output.taskId
        const statuses: Array<string> = []
        let last: FiberAiApi.ExhaustivePollResponse | undefined
        for (let i = 0; i < 6; i++) {
          last = decode(FiberAiApi.ExhaustivePollResponse, yield* post("exhaustive/poll", { apiKey, taskId }))
          statuses.push(last.output.profile.status)
          yield* TestClock.adjust("2500 millis")
        }
        assert.deepStrictEqual(statuses, [
          "started",
          "live-enriching",
          "live-enriching",
          "grabbing-contact-info",
          "completed",
          "completed"
        ])
        const profile = last!.output.profile
        assert.isTrue(last!.output.done)
        assert.deepStrictEqual(profile.lowQualityEmails?.map((e) => [e.email, e.status]), [[person.workEmail, "risky"]])
        assert.isFalse(profile.emails.some((e) => e.email === person.workEmail))
        const charged = FiberAiApi.chargedBy(last!.chargeInfo)
        assert.strictEqual(last!.chargeInfo.method, "charged-for-async-process")
        assert.isAtLeast(charged, 4)
        assert.strictEqual(env.counters.charged.get("fiber"), charged)
        assert.strictEqual((yield* post("exhaustive/poll", { apiKey, taskId: "ex_nope" })).status, 404)
      })))

  it.effect("an unresolvable exhaustive reveal fails without charge", () =>
    withSimulator({}, { exhaustiveMillis: 10_000 }, (env) =>
      Effect.gen(function*() {
        const taskId = decode(
          FiberAiApi.ExhaustiveStartResponse,
          yield* post("exhaustive/start", { apiKey, linkedinUrl: "https://www.linkedin.com/in/unresolvable-x" })
        ).output.taskId
        yield* TestClock.adjust("5 seconds")
        const poll = decode(FiberAiApi.ExhaustivePollResponse, yield* post("exhaustive/poll", { apiKey, taskId }))
        assert.isTrue(poll.output.done)
        assert.strictEqual(poll.output.profile.status, "failed")
        assert.isString(poll.output.profile.error)
        assert.strictEqual(env.counters.netCredits("fiber"), 0)
      })))

  it.effect("single answers synchronously for a URL or a bare slug and bills what it delivered", () =>
    withSimulator({}, {}, (env) =>
      Effect.gen(function*() {
        const { everything, nothing, workOnly } = pick(env)
        const full = decode(FiberAiApi.SingleResponse, yield* post("single", { apiKey, linkedinUrl: everything.slug }))
        assert.isTrue(full.output.done)
        assert.strictEqual(full.output.profile.status, "completed")
        assert.strictEqual(full.output.profile.emails.length, 2)
        assert.deepStrictEqual(full.chargeInfo, { method: "charged-now", creditsCharged: 5 })
        const work = decode(
          FiberAiApi.SingleResponse,
          yield* post("single", { apiKey, linkedinUrl: workOnly.linkedinUrl, validateEmails: false })
        )
        assert.strictEqual(FiberAiApi.chargedBy(work.chargeInfo), 2)
        assert.isUndefined(work.output.profile.emails[0]!.status)
        const empty = decode(
          FiberAiApi.SingleResponse,
          yield* post("single", { apiKey, linkedinUrl: nothing.linkedinUrl })
        )
        assert.strictEqual(empty.output.profile.emails.length + empty.output.profile.phoneNumbers.length, 0)
        assert.strictEqual(FiberAiApi.chargedBy(empty.chargeInfo), 0)
        assert.strictEqual(env.counters.netCredits("fiber"), 7)
        assert.strictEqual(env.counters.requestsTo("fiber:single"), 3)
        assert.strictEqual((yield* post("single", { apiKey, linkedinUrl: "a b" })).status, 400)
      })))
})
