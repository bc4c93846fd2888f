import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Backoff from "../src/Backoff.js"
import { ProviderUnavailable } from "../src/EnrichmentError.js"
import * as ProviderHttp from "../src/internal/providerHttp.js"
import * as RateLimits from "../src/RateLimits.js"

/** Fails every time with `error`; counts the attempts. */
const failing = (error: ProviderUnavailable) => {
  let attempts = 0
  return { effect: Effect.suspend(() => (attempts++, Effect.fail(error))), attempts: () => attempts }
}

describe("Backoff", () => {
  it.effect("retries an unreachable provider only briefly, a 5xx the whole policy", () =>
    Effect.gen(function*() {
      const policy: Backoff.RetryPolicy = { base: "500 millis", max: "60 seconds", times: 8 }
      const down = failing(
        new ProviderUnavailable({ provider: "p", endpoint: "e", message: "refused", unreachable: true })
      )
      const busy = failing(new ProviderUnavailable({ provider: "p", endpoint: "e", status: 503, message: "busy" }))
      const fibers = yield* Effect.all([
        Effect.fork(Backoff.retryTransient(down.effect)),
        Effect.fork(Backoff.retryTransient(busy.effect))
      ]).pipe(Effect.provideService(Backoff.Backoff, policy))
      yield* TestClock.adjust("10 minutes")
      for (const fiber of fibers) yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(down.attempts(), 4, "the first try and 3 retries")
      assert.strictEqual(busy.attempts(), 9, "the first try and 8 retries")
    }))

  it.live("a closed port is an unreachable provider, said in one line", () =>
    Effect.gen(function*() {
      const http = ProviderHttp.make(yield* HttpClient.HttpClient, {
        provider: "fiber",
        baseUrl: "http://127.0.0.1:1",
        decorate: (request) => request,
        gates: yield* RateLimits.make({})
      })
      const error = yield* Effect.flip(http.json("start", HttpClientRequest.post("/v1/start"), Schema.Unknown))
      assert.strictEqual(error._tag, "ProviderUnavailable")
      if (error._tag === "ProviderUnavailable") {
        assert.isTrue(error.unreachable)
        assert.include(error.message, "cannot connect to fiber (ECONNREFUSED)")
      }
    }).pipe(
      Effect.scoped,
      Effect.provideService(Backoff.Backoff, { base: "1 millis", max: "5 millis", times: 8 }),
      Effect.provide(NodeHttpClient.layerUndici)
    ))
})
