/**
 * `enrich simulate`: the three simulators on a port, with the fault mix, universe size and seed of the command
 * line, and their counters at `GET /_simulator/counters`; or, with `--list N`, a CSV of N people they know.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { type Counters, Credentials, Sample, Simulators, Universe } from "@enrich/simulator"
import { stringify } from "csv-stringify/sync"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { createServer } from "node:http"
import type * as SimulatorFaults from "./SimulatorFaults.js"

/** @since 0.1.0 @category Models */
export interface Options {
  readonly port: number
  readonly timeScale: number
  readonly seed: number
  /** people in the universe */
  readonly people: number
  readonly faults: SimulatorFaults.FaultMix
  /** the `--faults` value as given, for the banner */
  readonly faultsText?: string
}

/** Where the counters are served, next to `/fiber`, `/crustdata` and `/thehog`. */
export const countersPath = "/_simulator/counters"

/**
 * What `GET /_simulator/counters` answers: the simulators' counters, plus how many times each person was
 * submitted to each provider (by the provider's own notion of a person) and the credits net of refunds.
 *
 * @since 0.1.0 @category Models
 */
export interface CountersJson extends ReturnType<Counters.Counters["snapshot"]> {
  readonly submissions: Record<string, Record<string, number>>
  readonly netCredits: Record<string, number>
}

const countersJson = (counters: Counters.Counters): CountersJson => ({
  ...counters.snapshot(),
  submissions: Object.fromEntries([...counters.submissions].map(([provider, byPerson]) => [
    provider,
    Object.fromEntries(byPerson)
  ])),
  netCredits: Object.fromEntries(Universe.providerNames.map((p) => [p, counters.netCredits(p)]))
})

/** Starts the simulators on 127.0.0.1 for the life of the scope; `url` has the port actually bound. */
export const serveSimulators = (options: Options) =>
  Effect.gen(function*() {
    const simulators = yield* Simulators.make({
      seed: options.seed,
      universe: new Universe.Universe({ seed: options.seed, size: options.people }),
      timeScale: options.timeScale,
      faults: options.faults.faults,
      crustdata: { expiredLinks: options.faults.expiredLinks }
    })
    const server = yield* NodeHttpServer.make(() => createServer(), { port: options.port, host: "127.0.0.1" }).pipe(
      Effect.orDie
    )
    yield* server.serve(simulators.router.pipe(
      HttpRouter.get(
        countersPath,
        Effect.sync(() => HttpServerResponse.unsafeJson(countersJson(simulators.env.counters)))
      )
      // no server spans (with OTEL_* set): request URLs carry the simulators' keys and identifiers
    )).pipe(Effect.withTracerEnabled(false))
    const address = server.address
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://127.0.0.1"
    return { url, simulators }
  })

/** `enrich simulate`: serve until interrupted, saying where, with which keys and faults. */
export const simulate = (options: Options) =>
  Effect.gen(function*() {
    const { url } = yield* serveSimulators(options)
    yield* Console.log(
      `simulators at ${url}/fiber, ${url}/crustdata, ${url}/thehog (time ×${options.timeScale}, seed ${options.seed}, ` +
        `${options.people} people${options.faultsText === undefined ? "" : `, faults ${options.faultsText}`})`
    )
    yield* Console.log(
      `keys: FIBER_API_KEY=${Credentials.credentials.fiber.apiKey} CRUSTDATA_API_KEY=${Credentials.credentials.crustdata.apiKey} ` +
        `THEHOG_ACCESS_KEY=${Credentials.credentials.thehog.accessKey} THEHOG_SECRET_KEY=${Credentials.credentials.thehog.secretKey}`
    )
    yield* Console.log(`counters: ${url}${countersPath}`)
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

/** The CSV of `size` people of the universe of `seed` (`people` people): the kind of list in examples/people.csv. */
export const list = (options: { readonly seed: number; readonly people: number; readonly size: number }): string => {
  const rows = Sample.sample(new Universe.Universe({ seed: options.seed, size: options.people }), options.size)
  const columns = ["name", "company", "linkedin_url", "email", "x_handle", "github"] as const
  return stringify([columns, ...rows.map((row) => columns.map((c) => row[c]))], { record_delimiter: "\n" })
}
