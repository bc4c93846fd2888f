/**
 * The Fiber simulator's settings (its `Options` with the defaults filled in) and what every part of it shares:
 * the environment, the settings, the credit balances and the tasks.
 */
import { FiberAiApi } from "@enrich/core/wire"
import { credentials } from "../Credentials.js"
import type { Env } from "../Env.js"
import type { Credits } from "./charges.js"
import type { Options } from "./FiberAiSimulator.js"
import type { Tasks } from "./tasks.js"

export interface Settings {
  readonly apiKeys: ReadonlyArray<string>
  readonly startingCredits: number
  readonly lowCreditThreshold: number
  readonly healMillis: number
  readonly firstResultMillis: number
  readonly perPersonMillis: number
  readonly rejectShare: number
  readonly exhaustiveMillis: number
  readonly extraShare: number
  /** batch tasks are billed on completion (else upfront) */
  readonly onCompletion: boolean
  /** batch amounts are reported once, by the answer paying them out (else as running totals) */
  readonly reportOnce: boolean
  readonly limits: Record<FiberAiApi.Endpoint, number>
}

export const settingsOf = (options: Options): Settings => ({
  apiKeys: options.apiKeys ?? [credentials.fiber.apiKey],
  startingCredits: options.credits ?? 1_000_000_000,
  lowCreditThreshold: options.lowCreditThreshold ?? 100,
  healMillis: options.healMillis ?? 1_000,
  firstResultMillis: options.firstResultMillis ?? 5_000,
  perPersonMillis: options.perPersonMillis ?? 250,
  rejectShare: options.rejectShare ?? 0,
  exhaustiveMillis: options.exhaustiveMillis ?? 60_000,
  extraShare: options.exhaustiveExtraShare ?? 0.5,
  onCompletion: options.charges?.billing === "on-completion",
  reportOnce: options.charges?.reports !== "running-total",
  limits: { ...FiberAiApi.requestsPerMinute, ...options.limits }
})

/** One simulator instance: what its handlers read and change. */
export interface Simulation {
  readonly env: Env
  readonly settings: Settings
  readonly credits: Credits
  readonly tasks: Tasks
}
