/**
 * What every part of TheHog simulator reads: the environment and its faults, the settings resolved from
 * `Options`, the jobs, the stored idempotent answers, and the sequences that number requests, jobs and submits.
 */
import { TheHogApi } from "@enrich/core/wire"
import type { Env, Faults } from "../Env.js"
import type { Stored } from "./idempotency.js"
import type { Job } from "./operations.js"
import type { AcceptedField, Key, Options } from "./TheHogSimulator.js"

export const provider = "thehog"

export type Field = TheHogApi.RequestField

const allAcceptedFields: ReadonlyArray<AcceptedField> = ["id", "operationId", "status", "pollUrl", "meta"]

const defaultPrices: Record<Field, number> = { "contact.email": 1, "contact.phone": 2, signals: 0, profile: 0 }

export interface Settings {
  readonly keys: ReadonlyArray<Key>
  readonly queuedMillis: number
  readonly processingMillis: number
  readonly perItemMillis: number
  readonly pollLimit: number
  readonly globalLimit: number
  readonly prices: Readonly<Record<Field, number>>
  readonly acceptedFields: ReadonlySet<AcceptedField>
  readonly reportCost: boolean
  readonly absolutePollUrl: boolean
  readonly pollPath: "operations" | "enrichments"
  readonly itemFailureRate: number | undefined
  readonly slowSubmit: Options["slowSubmit"]
}

export const settingsOf = (options: Options, defaultKey: Key): Settings => ({
  keys: options.keys ?? [defaultKey],
  queuedMillis: options.queuedMillis ?? 1_500,
  processingMillis: options.processingMillis ?? 4_000,
  perItemMillis: options.perItemMillis ?? 200,
  pollLimit: options.pollLimit ?? TheHogApi.pollLimitPerMinute,
  globalLimit: options.globalLimit ?? 300,
  prices: { ...defaultPrices, ...options.prices },
  acceptedFields: new Set(options.acceptedFields ?? allAcceptedFields),
  reportCost: options.reportCost !== false,
  absolutePollUrl: options.absolutePollUrl === true,
  pollPath: options.pollPath ?? "operations",
  itemFailureRate: options.itemFailureRate,
  slowSubmit: options.slowSubmit
})

/** Request ids, job ids and the count of submits, each from 1 in the order they are asked for. */
export class Sequences {
  private requests = 0
  private jobs = 0
  private submits = 0

  nextRequestId(): string {
    this.requests += 1
    return `00000000-0000-4000-8000-${this.requests.toString(16).padStart(12, "0")}`
  }

  nextJobId(): string {
    this.jobs += 1
    return `op_01HOG${this.jobs.toString(36).toUpperCase().padStart(21, "0")}`
  }

  /** This submit's number (1-based). */
  nextSubmit(): number {
    this.submits += 1
    return this.submits
  }
}

export interface Sim {
  readonly env: Env
  readonly settings: Settings
  /** read on every use, as the fault knobs stood at that moment */
  readonly faults: () => Faults
  readonly jobs: Map<string, Job>
  /** stored answers by organisation and `Idempotency-Key` */
  readonly idempotent: Map<string, Stored>
  readonly sequences: Sequences
}

/** `meta.cost`, unless answers do not report their charge. */
export const costOf = ({ settings }: Sim, estimated: number, actual: number) =>
  settings.reportCost ? { cost: { estimated, actual } } : {}
