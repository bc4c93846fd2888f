/**
 * Serving the simulators on a real port with Node's HTTP server (for the CLI's `simulate` and `demo`).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createServer } from "node:http"
import * as Simulators from "./Simulators.js"

export interface Served {
  readonly url: string
  readonly simulators: Simulators.Simulators
}

/** Starts the simulators on `port` (0: any free port) of 127.0.0.1 for the life of the scope. */
export const serve = (
  options: Simulators.Options & { readonly port?: number } = {}
): Effect.Effect<Served, never, Scope.Scope | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const simulators = yield* Simulators.make(options)
    const server = yield* NodeHttpServer.make(() => createServer(), { port: options.port ?? 0, host: "127.0.0.1" })
      .pipe(
        Effect.orDie
      )
    // no server spans: the simulators are not the worker's work, and their request URLs carry keys and identifiers
    yield* server.serve(simulators.router).pipe(Effect.withTracerEnabled(false))
    const address = server.address
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://127.0.0.1"
    return { url, simulators }
  })
