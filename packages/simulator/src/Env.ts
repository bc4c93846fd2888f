/**
 * What every provider simulator shares: the universe, provider time (scaled), counters, a seeded random
 * source for faults, and the fault knobs.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { Counters } from "./Counters.js"
import { generator } from "./Random.js"
import { SlidingWindow } from "./SlidingWindow.js"
import { Universe, type UniverseOptions } from "./Universe.js"

/** Failure injection; every rate is a probability per request (or per job), drawn from the seeded generator. */
export interface Faults {
  /** answer 500/503 instead of handling the request */
  readonly serverErrorRate?: number
  /** a burst of consecutive 5xx answers starting at this request number (1-based, per provider) */
  readonly serverErrorBurst?: { readonly from: number; readonly length: number }
  /** answer 429 regardless of the real window */
  readonly rateLimitRate?: number
  /** a "storm": every request in [from, from+length) gets 429 */
  readonly rateLimitStorm?: { readonly from: number; readonly length: number }
  /** jobs take this many times longer */
  readonly slowJobFactor?: number
  /** share of jobs that end failed */
  readonly failJobRate?: number
  /** a 200 whose body is not valid JSON for the contract (wrong types) */
  readonly malformedRate?: number
  /** a 200 whose body is cut short */
  readonly truncatedRate?: number
  /** enum values the contract does not list (tests tolerance) */
  readonly unknownEnumRate?: number
}

export interface EnvOptions {
  readonly seed?: number
  readonly universe?: Universe | UniverseOptions
  /** provider seconds per real second: 60 makes a minute of provider time pass in one second */
  readonly timeScale?: number
  /** per-provider faults, by provider name */
  readonly faults?: Partial<Record<"fiber" | "crustdata" | "thehog", Faults>>
}

export class Env {
  readonly universe: Universe
  readonly counters = new Counters()
  readonly timeScale: number
  readonly random: () => number
  readonly faults: Partial<Record<"fiber" | "crustdata" | "thehog", Faults>>
  private readonly windows = new Map<string, SlidingWindow>()
  private readonly requestNumbers = new Map<string, number>()
  private readonly startedAt: number

  constructor(options: EnvOptions, startedAt: number) {
    const seed = options.seed ?? 42
    this.universe = options.universe instanceof Universe
      ? options.universe
      : new Universe({ seed, ...options.universe })
    this.timeScale = options.timeScale ?? 1
    this.random = generator(seed)
    this.faults = options.faults ?? {}
    this.startedAt = startedAt
  }

  /** provider time in ms: the real clock sped up by `timeScale` since the simulator started */
  get now(): Effect.Effect<number> {
    return Effect.map(Clock.currentTimeMillis, (real) => this.startedAt + (real - this.startedAt) * this.timeScale)
  }

  /** provider milliseconds as real milliseconds (for sleeping inside the simulator) */
  realMillis(providerMillis: number): number {
    return providerMillis / this.timeScale
  }

  /** the window for `key` (e.g. "fiber:batch/start:<org>"), created on first use */
  window(key: string, limit: number, windowMillis: number): SlidingWindow {
    let window = this.windows.get(key)
    if (window === undefined) this.windows.set(key, window = new SlidingWindow(limit, windowMillis))
    return window
  }

  /** the 1-based number of this request at `provider`, for bursts and storms */
  nextRequestNumber(provider: string): number {
    const n = (this.requestNumbers.get(provider) ?? 0) + 1
    this.requestNumbers.set(provider, n)
    return n
  }

  chance(rate: number | undefined): boolean {
    return rate !== undefined && rate > 0 && this.random() < rate
  }
}

export const makeEnv = (options: EnvOptions = {}): Effect.Effect<Env> =>
  Effect.map(Clock.currentTimeMillis, (now) => new Env(options, now))
