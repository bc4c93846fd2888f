/**
 * All three provider simulators over one universe, under `/fiber`, `/crustdata` and `/thehog` of one router.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Effect from "effect/Effect"
import * as Crustdata from "./crustdata/CrustdataSimulator.js"
import { type Env, type EnvOptions, makeEnv } from "./Env.js"
import * as Fiber from "./fiber/FiberAiSimulator.js"
import * as TheHog from "./thehog/TheHogSimulator.js"

export interface Options extends EnvOptions {
  readonly fiber?: Fiber.Options
  readonly crustdata?: Crustdata.Options
  readonly thehog?: TheHog.Options
}

export interface Simulators {
  readonly env: Env
  readonly router: HttpRouter.HttpRouter<never, never>
}

export const make = (options: Options = {}): Effect.Effect<Simulators, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const env = yield* makeEnv(options)
    const fiber = yield* Fiber.make(env, options.fiber)
    const crustdata = yield* Crustdata.make(env, { basePath: "/crustdata", ...options.crustdata })
    const thehog = yield* TheHog.make(env, options.thehog)
    const router = HttpRouter.empty.pipe(
      HttpRouter.mount("/fiber", fiber),
      HttpRouter.mount("/crustdata", crustdata),
      HttpRouter.mount("/thehog", thehog)
    )
    return { env, router }
  })
