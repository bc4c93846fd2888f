/**
 * The one way simulator tests serve a simulator: a fresh `Env`, the provider's router mounted where
 * `Simulators.make` mounts it, on loopback (`NodeHttpServer.layerTest`, whose HttpClient already prefixes the
 * server address, so clients use base URLs such as "/fiber"), test-sized polling and retry policies, and raw
 * answers for tests of the wire.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import { Backoff, Polling } from "@enrich/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { type Env, type EnvOptions, makeEnv } from "../../src/Env.js"

/** Serves the router `make` builds for a fresh `Env` under `mount`, for the duration of `body`. */
export const withSimulator = <A, E, R>(
  mount: "/fiber" | "/crustdata" | "/thehog",
  make: (env: Env) => Effect.Effect<HttpRouter.HttpRouter<never, never>, never, HttpClient.HttpClient>,
  envOptions: EnvOptions,
  body: (env: Env) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, HttpClient.HttpClient | HttpServer.HttpServer>> =>
  Effect.gen(function*() {
    const env = yield* makeEnv(envOptions)
    const served = Layer.unwrapEffect(
      Effect.map(make(env), (router) => HttpServer.serve(HttpRouter.empty.pipe(HttpRouter.mount(mount, router))))
    ).pipe(Layer.provideMerge(NodeHttpServer.layerTest))
    return yield* Effect.provide(body(env), served)
  }) as Effect.Effect<A, E, Exclude<R, HttpClient.HttpClient | HttpServer.HttpServer>>

/** Short polling and retries, so jobs in time-scaled simulators are waited for in milliseconds. */
export const withPolicies = (policies: {
  readonly polling: Polling.PollingPolicy
  readonly backoff: Backoff.RetryPolicy
}) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(
    Effect.provideService(Polling.Polling, policies.polling),
    Effect.provideService(Backoff.Backoff, policies.backoff)
  )

/** A raw answer of a simulator, for tests that check the wire itself. */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  /** the body as JSON, `undefined` when it is not JSON */
  readonly json: unknown
}

/** Sends `request` with the loopback client and reads the whole answer (transport failures are defects). */
export const send = (
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<Answer, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    const text = yield* response.text
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, headers: response.headers, text, json }
  }).pipe(Effect.orDie)

/** Strict: the simulator must send nothing the contract does not name. */
export const decodeStrict = <A, I>(schema: Schema.Schema<A, I>, answer: Answer): A =>
  Schema.decodeUnknownSync(schema, { onExcessProperty: "error" })(answer.json)
