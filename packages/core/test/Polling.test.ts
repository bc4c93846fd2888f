import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as Polling from "../src/Polling.js"

const policy = { initialDelay: "1 second", maxDelay: "5 seconds", deadline: "10 minutes" } as const

/** Polls `status` (given the test clock's time) until it reports `done`, counting the polls. */
const waitFor = (status: (now: number) => { readonly done: boolean; readonly progress?: number }) =>
  Effect.gen(function*() {
    let polls = 0
    const fiber = yield* Polling.awaitTerminal(
      Effect.map(Clock.currentTimeMillis, (now) => {
        polls++
        return status(now)
      }),
      { isTerminal: (s) => s.done, provider: "test", jobId: "job", progress: (s) => s.progress }
    ).pipe(Effect.provideService(Polling.Polling, policy), Effect.fork)
    let seenAt: number | undefined
    for (let t = 0; t < 120 && seenAt === undefined; t++) {
      yield* TestClock.adjust("1 second")
      if ((yield* Fiber.poll(fiber))._tag === "Some") seenAt = yield* Clock.currentTimeMillis
    }
    return { polls, seenAt }
  })

describe("Polling", () => {
  it("the time to a job's end at its pace, a tenth more; unknown without two sightings or movement", () => {
    assert.isUndefined(Polling.millisToEnd(undefined, { at: 1_000, done: 0.1 }))
    assert.isUndefined(Polling.millisToEnd({ at: 1_000, done: 0.5 }, { at: 2_000, done: 0.5 }))
    assert.isUndefined(Polling.millisToEnd({ at: 1_000, done: 0.6 }, { at: 2_000, done: 0.5 }))
    // 10 % a second, 50 % left: 5 s, and a tenth more
    assert.closeTo(Polling.millisToEnd({ at: 1_000, done: 0.4 }, { at: 2_000, done: 0.5 })!, 5_500, 1e-6)
    // a provider reporting past the end: poll again at once (the caller clamps to the policy's floor)
    assert.strictEqual(Polling.millisToEnd({ at: 1_000, done: 0.9 }, { at: 2_000, done: 1.2 }), 0)
  })

  it.effect("a job whose progress moves evenly is polled a few times and seen done soon after its end", () =>
    Effect.gen(function*() {
      const endsAt = 60_000
      const { polls, seenAt } = yield* waitFor((now) =>
        now >= endsAt ? { done: true } : { done: false, progress: now / endsAt }
      )
      // the policy alone (1 s, 1.5 s, ... then every 5 s) would poll about fifteen times in a minute
      assert.isAtMost(polls, 6)
      assert.isAtMost(seenAt!, endsAt + 5_000)
    }))

  it.effect("without a progress reading the policy's own delays stand", () =>
    Effect.gen(function*() {
      const endsAt = 60_000
      const { polls, seenAt } = yield* waitFor((now) => ({ done: now >= endsAt }))
      assert.isAbove(polls, 10)
      // within one capped delay (5 s) of the end, plus the jitter
      assert.isAtMost(seenAt!, endsAt + 6_000)
    }))

  it.effect("progress that stalls never puts a poll off beyond four times the policy's cap", () =>
    Effect.gen(function*() {
      // moves to 50 % in 10 s, then reports 50 % until it suddenly ends at 40 s: seen within 4 × 5 s of it
      const endsAt = 40_000
      const { seenAt } = yield* waitFor((now) =>
        now >= endsAt ? { done: true } : { done: false, progress: Math.min(0.5, now / 20_000) }
      )
      assert.isAtMost(seenAt!, endsAt + 20_000)
    }))
})
