import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as CrustdataClient from "../src/CrustdataClient.js"
import * as FiberAiClient from "../src/FiberAiClient.js"
import * as Polling from "../src/Polling.js"
import type * as RateLimits from "../src/RateLimits.js"
import * as RateLimitStore from "../src/RateLimitStore.js"
import * as TheHogClient from "../src/TheHogClient.js"
import { fakeHttp, json } from "./utils/fakeHttp.js"

/** The largest number of `starts` inside any half-open window [t, t + interval). */
const busiestWindow = (starts: ReadonlyArray<number>, interval: number): number =>
  Math.max(0, ...starts.map((t) => starts.filter((s) => s >= t && s < t + interval).length))

describe("RateLimitStore (memory)", () => {
  it.effect("is the default store: a sliding window counted from completion, N per interval", () =>
    Effect.gen(function*() {
      const store = yield* RateLimitStore.RateLimitStore
      const gates = yield* store.gates("fiber", { single: [{ limit: 3, interval: "1 minute" }] })
      const starts: Array<number> = []
      // each request is in flight for 10 seconds
      const request = Effect.zipRight(
        Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => starts.push(now))),
        Effect.sleep("10 seconds")
      )
      const all = yield* Effect.fork(Effect.all(Array.from({ length: 7 }, () => gates.gate("single")(request)), {
        concurrency: "unbounded"
      }))
      yield* TestClock.adjust("5 minutes")
      yield* Fiber.join(all)
      // three at once; each next one an interval after a slot's request completed (10 s + 60 s)
      assert.deepStrictEqual(starts, [0, 0, 0, 70_000, 70_000, 70_000, 140_000])
      assert.isAtMost(busiestWindow(starts, 60_000), 3)
    }).pipe(Effect.scoped))

  it.effect("a wait at a full gate can be stopped even inside an uninterruptible send; the send itself cannot", () =>
    Effect.gen(function*() {
      const store = yield* RateLimitStore.RateLimitStore
      const gates = yield* store.gates("fiber", { start: [{ limit: 1, interval: "1 minute" }] })
      yield* gates.gate("start")(Effect.void)
      // the window is full for a minute: the next send waits at the gate, and is stopped there
      const waiting = yield* Effect.fork(Effect.uninterruptible(gates.gate("start")(Effect.succeed("sent"))))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(waiting)
      assert.isTrue(Exit.isInterrupted(yield* Fiber.await(waiting)))
      // once through the gate, the send runs to its end although it is interrupted
      yield* TestClock.adjust("1 minute")
      let ended = false
      const sending = yield* Effect.fork(
        Effect.uninterruptible(
          gates.gate("start")(
            Effect.sleep("5 seconds").pipe(Effect.ensuring(Effect.sync(() => {
              ended = true
            })))
          )
        )
      )
      yield* TestClock.adjust("1 second")
      const stopping = yield* Effect.fork(Fiber.interrupt(sending))
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(stopping)
      assert.isTrue(ended)
    }).pipe(Effect.scoped))

  it.effect("slots: at most max holders, a holder counted once, release harmless when repeated", () =>
    Effect.gen(function*() {
      const slots = yield* RateLimitStore.memorySlots(2)
      yield* slots.acquire("a")
      yield* slots.acquire("a")
      yield* slots.acquire("b")
      const c = yield* Effect.fork(slots.acquire("c"))
      yield* TestClock.adjust("1 hour")
      assert.isNull(c.unsafePoll(), "a third holder got a slot while two were held")
      yield* slots.release("a")
      yield* slots.release("a")
      yield* Fiber.join(c)
      // "a" gave back one slot only: "d" waits for "b" or "c"
      const d = yield* Effect.fork(slots.acquire("d"))
      yield* TestClock.adjust("1 hour")
      assert.isNull(d.unsafePoll())
      yield* slots.release("b")
      yield* Fiber.join(d)
    }))

  it.effect("slots: an interrupted wait takes no slot", () =>
    Effect.gen(function*() {
      const slots = yield* RateLimitStore.memorySlots(1)
      yield* slots.acquire("a")
      const waiting = yield* Effect.fork(slots.acquire("b"))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(waiting)
      yield* slots.release("a")
      yield* slots.acquire("c")
      yield* slots.release("b")
      const d = yield* Effect.fork(slots.acquire("d"))
      yield* TestClock.adjust("1 second")
      assert.isNull(d.unsafePoll(), "releasing a holder that never got a slot freed someone else's")
    }))
})

/** A store that records what the clients ask of it, and answers from the memory store. */
const recording = () => {
  const asked: Array<string> = []
  const store: RateLimitStore.Service = {
    gates: (provider, limits) => {
      asked.push(`gates ${provider} ${Object.keys(limits).sort().join(",")}`)
      return RateLimitStore.memory.gates(provider, limits)
    },
    slots: (provider, name, max) => {
      asked.push(`slots ${provider} ${name} ${max}`)
      return RateLimitStore.memory.slots(provider, name, max)
    }
  }
  return { asked, layer: RateLimitStore.layer(store) }
}

const names = (limits: RateLimits.Limits) => Object.keys(limits).sort().join(",")

describe("clients take their limits from the RateLimitStore", () => {
  it.effect("Fiber, Crustdata and TheHog ask the provided store for their gates and slots", () => {
    const { asked, layer } = recording()
    const http = fakeHttp(() => json({})).layer
    return Effect.gen(function*() {
      yield* FiberAiClient.make({ apiKey: Redacted.make("k") })
      yield* CrustdataClient.make({ apiKey: Redacted.make("k") })
      yield* TheHogClient.make({ accessKey: Redacted.make("a"), secretKey: Redacted.make("s") })
      assert.deepStrictEqual(asked, [
        `gates fiber ${names(FiberAiClient.defaultLimits)}`,
        `gates crustdata ${names(CrustdataClient.defaultLimits)}`,
        "slots crustdata active-jobs 5",
        `gates thehog ${names(TheHogClient.defaultLimits)}`
      ])
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(layer, http)))
  })

  it.effect("two Crustdata clients over one shared store never hold more active jobs together than the cap", () => {
    // a store shared as two processes share Redis: one pool of slots per (provider, name)
    const pools = new Map<string, RateLimitStore.Slots>()
    const shared: RateLimitStore.Service = {
      gates: RateLimitStore.memory.gates,
      slots: (provider, name, max) =>
        Effect.suspend(() => {
          const known = pools.get(`${provider}/${name}`)
          if (known !== undefined) return Effect.succeed(known)
          return Effect.tap(RateLimitStore.memorySlots(max), (slots) => pools.set(`${provider}/${name}`, slots))
        })
    }
    let n = 0
    const job = (id: string, status: string) => ({
      batch_id: id,
      status,
      entity: "person",
      action: "contact_enrich",
      identifier_count: 1,
      entities_requested: 1,
      status_url: `/batch/${id}`
    })
    const http = fakeHttp((req) =>
      req.method === "POST"
        ? json(job(`job-${++n}`, "pending"))
        : json(job(req.url.pathname.split("/")[2]!, "processing"))
    ).layer
    const body = { professional_network_profile_urls: ["https://linkedin.com/in/ada"], fields: ["business_email"] }
    // the account's cap in this test: two active jobs
    const options = { apiKey: Redacted.make("k"), baseUrl: "http://crust.test", maxActiveJobs: 2 }
    return Effect.gen(function*() {
      const a = yield* CrustdataClient.make(options)
      const b = yield* CrustdataClient.make(options)
      yield* a.submitJob(body)
      yield* b.submitJob(body)
      const third = yield* Effect.fork(a.submitJob(body))
      const fourth = yield* Effect.fork(b.submitJob(body))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(n, 2, "a third job was submitted while two were active across the two clients")
      yield* Fiber.interrupt(third)
      yield* Fiber.interrupt(fourth)
    }).pipe(
      Effect.scoped,
      Effect.provideService(Polling.Polling, { initialDelay: "1 second", maxDelay: "4 seconds", deadline: "1 hour" }),
      Effect.provide(Layer.merge(RateLimitStore.layer(shared), http))
    )
  })
})
