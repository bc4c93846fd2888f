/**
 * The Fiber simulator's routes: every request is counted, may meet an injected fault, must pass the guards
 * (body, key, rate limit, schema), and is then handled; the reply may be spoiled by a body fault on its way out.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { FiberAiApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { cancelBatch, pollBatch, startBatch } from "./batch.js"
import { pollExhaustive, startExhaustive } from "./exhaustive.js"
import { faultsOf, injectedFault, respond } from "./faults.js"
import { admit, type Contract } from "./guards.js"
import type { Call, Reply } from "./replies.js"
import { single } from "./single.js"
import type { Simulation } from "./state.js"

const route = <A, I>(
  sim: Simulation,
  contract: Contract<A, I>,
  handler: (sim: Simulation, call: Call<A>) => Reply
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const { env } = sim
    const request = yield* HttpServerRequest.HttpServerRequest
    const now = yield* env.now
    env.counters.request(`fiber:${contract.endpoint}`)
    const f = faultsOf(env)
    const fault = injectedFault(env, contract.endpoint, f, env.nextRequestNumber("fiber"))
    if (fault !== undefined) return respond(env, fault, f)
    const raw = yield* Effect.orElseSucceed(request.json, () => undefined)
    const admitted = admit(env, sim.settings, contract, raw, now)
    return respond(env, Either.isLeft(admitted) ? admitted.left : handler(sim, admitted.right), f)
  })

export const router = (sim: Simulation): HttpRouter.HttpRouter<never, never> =>
  HttpRouter.empty.pipe(
    HttpRouter.post(
      FiberAiApi.paths["batch/start"],
      route(
        sim,
        { endpoint: "batch/start", schema: FiberAiApi.StartBatchRequest, nested: "enrichmentTypes" },
        startBatch
      )
    ),
    HttpRouter.post(
      FiberAiApi.paths["batch/poll"],
      route(sim, { endpoint: "batch/poll", schema: FiberAiApi.PollBatchRequest }, pollBatch)
    ),
    HttpRouter.post(
      FiberAiApi.paths["batch/cancel"],
      route(sim, { endpoint: "batch/cancel", schema: FiberAiApi.CancelBatchRequest }, cancelBatch)
    ),
    HttpRouter.post(
      FiberAiApi.paths["exhaustive/start"],
      route(
        sim,
        { endpoint: "exhaustive/start", schema: FiberAiApi.ExhaustiveStartRequest, nested: "enrichmentType" },
        startExhaustive
      )
    ),
    HttpRouter.post(
      FiberAiApi.paths["exhaustive/poll"],
      route(sim, { endpoint: "exhaustive/poll", schema: FiberAiApi.ExhaustivePollRequest }, pollExhaustive)
    ),
    HttpRouter.post(
      FiberAiApi.paths.single,
      route(sim, { endpoint: "single", schema: FiberAiApi.SingleRequest, nested: "enrichmentType" }, single)
    )
  )
