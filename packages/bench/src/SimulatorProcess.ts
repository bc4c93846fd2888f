/**
 * The simulators in a child process of their own, for the ceiling runs. A provider's servers do not run on the
 * client's CPU: in one process the simulator's work (building pages, gzip files) would be charged to the
 * client, multiplied by the time scale. The child serves on a free port, adds `GET /_bench/counters` (the
 * simulator's counters as JSON), prints `READY <url>` and lives until its stdin closes.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { type Counters, Simulators } from "@enrich/simulator"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { createServer } from "node:http"
import { createInterface } from "node:readline"

export const childFlag = "simulator-child"

type Snapshot = ReturnType<Counters.Counters["snapshot"]>

/** What the ceiling runs read of the simulator's counters. */
export interface Readings {
  readonly totalRateLimited: (prefix: string) => number
  readonly netCredits: (provider: string) => number
  readonly snapshot: Snapshot
}

const readingsOf = (snapshot: Snapshot): Readings => ({
  snapshot,
  totalRateLimited: (prefix) =>
    Object.entries(snapshot.rateLimited).reduce(
      (n, [endpoint, count]) => endpoint.startsWith(prefix) ? n + (count as number) : n,
      0
    ),
  netCredits: (provider) => (snapshot.charged[provider] ?? 0) - (snapshot.refunded[provider] ?? 0)
})

/** The child's side: serve until stdin closes. */
export const runChild = (options: Simulators.Options) =>
  Effect.gen(function*() {
    const simulators = yield* Simulators.make(options)
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" }).pipe(Effect.orDie)
    const router = simulators.router.pipe(
      HttpRouter.get(
        "/_bench/counters",
        Effect.sync(() => HttpServerResponse.unsafeJson(simulators.env.counters.snapshot()))
      )
    )
    yield* server.serve(router)
    const address = server.address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("the simulator child has no TCP address")
    process.stdout.write(`READY http://127.0.0.1:${address.port}\n`)
    yield* Effect.async<void>((resume) => {
      process.stdin.on("end", () => resume(Effect.void))
      process.stdin.resume()
    })
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

export interface Served {
  readonly url: string
  readonly counters: Effect.Effect<Readings>
}

/** Starts the child with `options` for the life of the scope. */
export const spawnSimulators = (options: Simulators.Options) =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [process.argv[1]!, childFlag, "--options", JSON.stringify(options)], {
          stdio: ["pipe", "pipe", "inherit"]
        })
      ),
      (child) => Effect.sync(() => child.stdin.end())
    )
    const url = yield* Effect.async<string, Error>((resume) => {
      const lines = createInterface({ input: child.stdout })
      lines.once("line", (line) =>
        line.startsWith("READY ")
          ? resume(Effect.succeed(line.slice("READY ".length)))
          : resume(Effect.fail(new Error(`the simulator child said: ${line}`))))
      child.once("exit", (code) => resume(Effect.fail(new Error(`the simulator child exited with ${code}`))))
    }).pipe(Effect.orDie)
    const counters = Effect.promise(async () => {
      const response = await fetch(`${url}/_bench/counters`)
      return readingsOf(await response.json() as Snapshot)
    })
    return { url, counters } satisfies Served
  })
