import * as ExperimentalRateLimiter from "@effect/experimental/RateLimiter"
import * as ExperimentalRedis from "@effect/experimental/RateLimiter/Redis"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Backoff, CrustdataClient, FiberAiClient, Polling, RateLimits, RateLimitStore } from "@enrich/core"
import { CrustdataApi } from "@enrich/core/wire"
import { serve } from "@enrich/simulator/node"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Providers from "../src/Providers.js"
import * as RedisRateLimit from "../src/RedisRateLimit.js"
import { redisUrl, uniquePrefix } from "./utils/redis.js"

/** The largest number of `starts` inside any half-open window [t, t + interval). */
const busiestWindow = (starts: ReadonlyArray<number>, interval: number): number =>
  Math.max(0, ...starts.map((t) => starts.filter((s) => s >= t && s < t + interval).length))

/** A store on its own connection, as another process would have, closed with the scope. */
const store = (prefix: string, options: Partial<RedisRateLimit.Options> = {}) =>
  RedisRateLimit.make({ url: Redacted.make(redisUrl!), prefix, ...options }).pipe(Effect.orDie)

describe.skipIf(redisUrl === undefined)(
  redisUrl === undefined ? "RedisRateLimit (skipped: REDIS_URL is not set)" : "RedisRateLimit",
  () => {
    it.live(
      "two stores (two connections) sharing a window of N never let more than N through in any window",
      () =>
        Effect.gen(function*() {
          const prefix = uniquePrefix()
          const limits: RateLimits.Limits = { single: [{ limit: 4, interval: "300 millis" }] }
          const a = yield* (yield* store(prefix)).gates("fiber", limits)
          const b = yield* (yield* store(prefix)).gates("fiber", limits)
          const starts: Array<number> = []
          const request = Effect.suspend(() => {
            starts.push(Date.now())
            return Effect.sleep(`${Math.floor(Math.random() * 20)} millis`)
          })
          yield* Effect.all(
            Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? a : b).gate("single")(request)),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(starts.length, 24)
          assert.isAtMost(busiestWindow(starts, 300), 4, "a window saw more than N requests across the two stores")
          // and the window is used: N at once, not one at a time
          assert.strictEqual(busiestWindow(starts, 300), 4)
        }).pipe(Effect.scoped),
      30_000
    )

    it.live(
      "a slot held by a dead holder lapses after its lease; a live holder keeps it by renewing",
      () =>
        Effect.gen(function*() {
          const prefix = uniquePrefix()
          const lease = 400
          const deadScope = yield* Scope.make()
          const dead = yield* store(prefix, { lease: `${lease} millis` }).pipe(Scope.extend(deadScope))
          const alive = yield* store(prefix, { lease: `${lease} millis`, slotPoll: "50 millis" })
          const deadSlots = yield* dead.slots("crustdata", "active-jobs", 1).pipe(Scope.extend(deadScope))
          const aliveSlots = yield* alive.slots("crustdata", "active-jobs", 1)
          yield* deadSlots.acquire("job-1")
          const waiting = yield* Effect.fork(aliveSlots.acquire("job-2"))
          // three leases long, the holder renews: the slot stays taken
          yield* Effect.sleep(`${3 * lease} millis`)
          assert.isNull(waiting.unsafePoll(), "a renewed slot was taken by another holder")
          // the holder dies: no release, no renewal
          const died = Date.now()
          yield* Scope.close(deadScope, Exit.void)
          yield* Fiber.join(waiting)
          const waited = Date.now() - died
          assert.isAtLeast(waited, lease / 3, "the slot came back before its lease could have lapsed")
          assert.isAtMost(waited, lease + 1_000, "the slot did not come back within its lease")
        }).pipe(Effect.scoped),
      30_000
    )

    it.live(
      "a request in flight in a dead process frees its place in the window after its lease and interval",
      () =>
        Effect.gen(function*() {
          const prefix = uniquePrefix()
          const lease = 300
          const interval = 200
          const limits: RateLimits.Limits = { single: [{ limit: 1, interval: `${interval} millis` }] }
          const deadScope = yield* Scope.make()
          const dead = yield* store(prefix, { lease: `${lease} millis` }).pipe(Scope.extend(deadScope))
          const deadGates = yield* dead.gates("fiber", limits).pipe(Scope.extend(deadScope))
          const alive = yield* (yield* store(prefix, { lease: `${lease} millis` })).gates("fiber", limits)
          // the dead process's request never completes
          const started = yield* Deferred.make<void>()
          const hanging = yield* Effect.fork(
            deadGates.gate("single")(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
          )
          yield* Deferred.await(started)
          const waiting = yield* Effect.fork(alive.gate("single")(Effect.sync(() => Date.now())))
          // while its process lives the request keeps its place, renewed, far beyond one lease and interval
          yield* Effect.sleep(`${3 * (lease + interval)} millis`)
          assert.isNull(waiting.unsafePoll(), "a request still in flight lost its place in the window")
          const died = Date.now()
          yield* Scope.close(deadScope, Exit.void)
          const admitted = yield* Fiber.join(waiting)
          assert.isAtLeast(admitted - died, interval, "the place came back before the request's interval was over")
          assert.isAtMost(
            admitted - died,
            lease + interval + 1_000,
            "the place did not come back within lease + interval"
          )
          yield* Fiber.interrupt(hanging)
        }).pipe(Effect.scoped),
      30_000
    )

    it.live(
      "a released slot is free at once for another process; at most max holders meanwhile",
      () =>
        Effect.gen(function*() {
          const prefix = uniquePrefix()
          const a = yield* (yield* store(prefix, { slotPoll: "50 millis" })).slots("crustdata", "active-jobs", 2)
          const b = yield* (yield* store(prefix, { slotPoll: "50 millis" })).slots("crustdata", "active-jobs", 2)
          yield* a.acquire("1")
          yield* b.acquire("1")
          yield* a.acquire("1")
          const third = yield* Effect.fork(b.acquire("2"))
          yield* Effect.sleep("300 millis")
          assert.isNull(third.unsafePoll(), "a third holder while two slots were held")
          yield* a.release("1")
          yield* Fiber.join(third)
        }).pipe(Effect.scoped),
      30_000
    )

    it.live(
      "slots go in arrival order across processes: a process that frees one does not take it back first",
      () =>
        Effect.gen(function*() {
          const prefix = uniquePrefix()
          const a = yield* (yield* store(prefix, { slotPoll: "50 millis" })).slots("crustdata", "active-jobs", 1)
          const b = yield* (yield* store(prefix, { slotPoll: "50 millis" })).slots("crustdata", "active-jobs", 1)
          yield* a.acquire("1")
          const first = yield* Effect.fork(b.acquire("1"))
          yield* Effect.sleep("150 millis")
          // asks after b, in the process that frees the slot (woken at once by its own release)
          const second = yield* Effect.fork(a.acquire("2"))
          yield* Effect.sleep("150 millis")
          yield* a.release("1")
          yield* Fiber.join(first)
          yield* Effect.sleep("300 millis")
          assert.isNull(second.unsafePoll(), "the later waiter got the slot ahead of the earlier one")
          yield* b.release("1")
          yield* Fiber.join(second)
        }).pipe(Effect.scoped),
      30_000
    )

    it.live("a waiter that gives up leaves the queue at once", () =>
      Effect.gen(function*() {
        const prefix = uniquePrefix()
        // a lease much longer than the test: only leaving the queue can let the next waiter through
        const options = { slotPoll: "50 millis", lease: "1 minute" } as const
        const a = yield* (yield* store(prefix, options)).slots("crustdata", "active-jobs", 1)
        const b = yield* (yield* store(prefix, options)).slots("crustdata", "active-jobs", 1)
        yield* a.acquire("1")
        const quitter = yield* Effect.fork(b.acquire("1"))
        yield* Effect.sleep("100 millis")
        const next = yield* Effect.fork(a.acquire("2"))
        yield* Effect.sleep("100 millis")
        yield* Fiber.interrupt(quitter)
        yield* a.release("1")
        yield* Fiber.join(next)
      }).pipe(Effect.scoped), 30_000)

    // Fiber's `/single`: 200/minute; the simulator runs 12× faster, so 200 per 5 real seconds.
    const timeScale = 12
    const perClient = 150

    /** Fiber clients, each built under its own store, all sending `perClient` calls at once to one simulator. */
    const clientsAt = (stores: ReadonlyArray<RateLimitStore.Service>, perClient: number, scale = timeScale) =>
      Effect.gen(function*() {
        const served = yield* serve({ timeScale: scale })
        const clients = yield* Effect.forEach(stores, (s) =>
          FiberAiClient.make({
            apiKey: Redacted.make("sim-fiber-key"),
            baseUrl: `${served.url}/fiber`,
            limits: RateLimits.scale(FiberAiClient.defaultLimits, scale)
          }).pipe(Effect.provide(RateLimitStore.layer(s))))
        const people = served.simulators.env.universe.people
        yield* Effect.all(
          clients.flatMap((client, c) =>
            Array.from(
              { length: perClient },
              (_, i) => Effect.either(client.single({ linkedinUrl: people[c * perClient + i]!.linkedinUrl }))
            )
          ),
          { concurrency: "unbounded" }
        ).pipe(
          // a 429 is counted by the simulator and not retried, so the counts are the clients' own
          Effect.provideService(Backoff.Backoff, { base: "10 millis", max: "10 millis", times: 0 })
        )
        const counters = served.simulators.env.counters
        return { requests: counters.requestsTo("fiber:single"), limited: counters.totalRateLimited("fiber:") }
      }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.scoped)

    it.live(
      "two Fiber clients with separate Redis stores at the documented limit: 0 429s from the simulator",
      () =>
        Effect.gen(function*() {
          const prefix = uniquePrefix()
          const shared = yield* clientsAt([yield* store(prefix), yield* store(prefix)], perClient)
          assert.strictEqual(shared.requests, 2 * perClient)
          assert.strictEqual(shared.limited, 0, "the simulator answered 429s to clients sharing Redis")
          // the same two clients, each with its own memory store: together they overrun the window
          const apart = yield* clientsAt([RateLimitStore.memory, RateLimitStore.memory], perClient)
          assert.isAbove(apart.limited, 0, "two memory stores stayed within the provider's limit without sharing")
        }).pipe(Effect.scoped),
      60_000
    )

    /** Crustdata clients, each under its own store, each running `jobs` batch jobs at once to completion. */
    const crustdataAt = (stores: ReadonlyArray<RateLimitStore.Service>, jobs: number) =>
      Effect.gen(function*() {
        const scale = 60
        const served = yield* serve({ timeScale: scale })
        const people = served.simulators.env.universe.people
        const clients = yield* Effect.forEach(stores, (s) =>
          CrustdataClient.make({
            apiKey: Redacted.make("sim-crustdata-key"),
            baseUrl: `${served.url}/crustdata`,
            limits: RateLimits.scale(CrustdataClient.defaultLimits, scale)
          }).pipe(Effect.provide(RateLimitStore.layer(s))))
        const done = yield* Effect.all(
          clients.flatMap((client, c) =>
            Array.from({ length: jobs }, (_, j) =>
              Effect.flatMap(
                client.submitJob({
                  professional_network_profile_urls: [people[c * jobs + j]!.linkedinUrl],
                  fields: [CrustdataApi.batchFields[0]!]
                }),
                (job) => client.awaitCompletion(job.batch_id)
              ))
          ),
          { concurrency: "unbounded" }
        ).pipe(Effect.provideService(Polling.Polling, Providers.simulatorPolling(scale)))
        return {
          completed: done.filter((status) => status.status === "completed").length,
          refused: served.simulators.env.counters.totalRateLimited("crustdata:")
        }
      }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.scoped)

    it.live(
      "two Crustdata clients with separate Redis stores share the account's 5 active jobs: no refusal",
      () =>
        Effect.gen(function*() {
          const prefix = uniquePrefix()
          const shared = yield* crustdataAt([yield* store(prefix), yield* store(prefix)], 6)
          assert.deepStrictEqual(shared, { completed: 12, refused: 0 })
          // each with its own memory store, both take 5: the account refuses some submits (they wait and retry)
          const apart = yield* crustdataAt([RateLimitStore.memory, RateLimitStore.memory], 6)
          assert.strictEqual(apart.completed, 12)
          assert.isAbove(apart.refused, 0, "two memory stores stayed within the account's cap without sharing")
        }).pipe(Effect.scoped),
      120_000
    )

    it.live(
      "measured: @effect/experimental's fixed-window and token-bucket stores let bursts through (429s)",
      () =>
        Effect.gen(function*() {
          // one client, two windows' worth of calls at once (200/minute, a minute is 2 s here): each store must
          // spread them over the windows
          const calls = 400
          const scale = 30
          const ours = yield* clientsAt([yield* store(uniquePrefix())], calls, scale)
          const fixed = yield* clientsAt([yield* experimental("fixed-window", uniquePrefix())], calls, scale)
          const bucket = yield* clientsAt([yield* experimental("token-bucket", uniquePrefix())], calls, scale)
          yield* Effect.log(
            `429s of ${calls} calls at Fiber's /single limit: sliding window (ours) ${ours.limited}, ` +
              `@effect/experimental fixed-window ${fixed.limited}, token-bucket ${bucket.limited}`
          )
          assert.strictEqual(ours.limited, 0, "our sliding window drew 429s")
          // a full bucket goes out at once, then refills during the same sliding window: about a window's worth over
          assert.isAbove(bucket.limited, calls / 4, "the token bucket stayed within the sliding window")
        }).pipe(Effect.scoped),
      120_000
    )
  }
)

/**
 * @effect/experimental's RateLimiter over its own Redis store, as a RateLimitStore: the measurement behind
 * RedisRateLimit's choice (its windows are counted at the start of a request, fixed-window or token-bucket).
 */
const experimental = (algorithm: "fixed-window" | "token-bucket", prefix: string) =>
  Effect.gen(function*() {
    const url = new URL(redisUrl!)
    // the store's connection lives in the caller's scope
    const redisStore = yield* ExperimentalRedis.make({ host: url.hostname, port: Number(url.port || 6379), prefix })
    const limiter = yield* ExperimentalRateLimiter.make.pipe(
      Effect.provideService(ExperimentalRateLimiter.RateLimiterStore, redisStore)
    )
    const service: RateLimitStore.Service = {
      gates: (provider, limits) =>
        Effect.succeed({
          gate: (endpoint) => (effect) =>
            (limits[endpoint] ?? []).reduce(
              (gated, window, i) =>
                Effect.zipRight(
                  Effect.flatMap(
                    Effect.orDie(limiter.consume({
                      key: `${provider}:${endpoint}:${i}`,
                      limit: window.limit,
                      window: window.interval,
                      algorithm,
                      onExceeded: "delay"
                    })),
                    ({ delay }) => Effect.sleep(delay)
                  ),
                  gated
                ),
              effect
            )
        }),
      slots: RateLimitStore.memory.slots
    }
    return service
  })
