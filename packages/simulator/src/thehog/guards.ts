/**
 * What every API request goes through around its handler: a request id, counting, injected faults (503 bursts,
 * 429 storms), the key pair, the organisation's global rate window, and the answer sent through `respond`. A
 * defect answers like a crashing NestJS app (500) rather than dropping the connection.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { TheHogApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import { errorReply, type Reply, respond } from "./replies.js"
import type { Sim } from "./sim.js"
import type { Key } from "./TheHogSimulator.js"

/** An admitted request, as its handler sees it. */
export interface Call {
  readonly request: HttpServerRequest.HttpServerRequest
  readonly org: string
  readonly requestId: string
  readonly now: number
  readonly path: string
  readonly params: Readonly<Record<string, string | undefined>>
}

export const serve = (sim: Sim, endpoint: string, handler: (call: Call) => Effect.Effect<Reply>) =>
  Effect.gen(function*() {
    const { env, settings } = sim
    const request = yield* HttpServerRequest.HttpServerRequest
    const params = yield* HttpRouter.params
    const requestId = sim.sequences.nextRequestId()
    const now = yield* env.now
    const path = request.url.split("?")[0]!
    env.counters.request(`thehog:${endpoint}`)
    const f = sim.faults()
    const n = env.nextRequestNumber("thehog")
    const limited = () => {
      env.counters.limited(`thehog:${endpoint}`)
      return errorReply(429, TheHogApi.messages.rateLimited, path, requestId, now)
    }
    let reply: Reply | undefined
    const burst = f.serverErrorBurst
    if (
      (burst !== undefined && n >= burst.from && n < burst.from + burst.length) || env.chance(f.serverErrorRate)
    ) {
      reply = errorReply(503, "Service temporarily unavailable", path, requestId, now)
    }
    const storm = f.rateLimitStorm
    if (
      reply === undefined &&
      ((storm !== undefined && n >= storm.from && n < storm.from + storm.length) || env.chance(f.rateLimitRate))
    ) {
      reply = limited()
    }
    let key: Key | undefined
    if (reply === undefined) {
      const access = request.headers[TheHogApi.headers.accessKey]
      const secret = request.headers[TheHogApi.headers.secretKey]
      key = settings.keys.find((k) => k.accessKey === access && k.secretKey === secret)
      if (key === undefined) reply = errorReply(401, TheHogApi.messages.unauthorized, path, requestId, now)
    }
    if (reply === undefined && key !== undefined) {
      if (!env.window(`thehog:global:${key.org}`, settings.globalLimit, 60_000).admit(now).allowed) reply = limited()
    }
    if (reply === undefined && key !== undefined) {
      reply = yield* handler({ request, org: key.org, requestId, now, path, params })
      if (reply.status === 429) env.counters.limited(`thehog:${endpoint}`)
    }
    return respond(env, reply!, requestId, f)
  }).pipe(
    // a bug in the simulator answers like a crashing NestJS app rather than dropping the connection
    Effect.catchAllDefect((defect) =>
      Effect.map(sim.env.now, (now) =>
        HttpServerResponse.unsafeJson(
          errorReply(500, `Internal server error: ${String(defect)}`.slice(0, 300), endpoint, "", now).body,
          { status: 500 }
        ))
    )
  )
