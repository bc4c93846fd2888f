/**
 * What every part of the Crustdata simulator reads: the environment and its faults, the settings resolved from
 * `Options`, the credit balance, and (for the endpoints) the jobs and the download links.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { CrustdataApi } from "@enrich/core/wire"
import type { Env, Faults } from "../Env.js"
import type { Options } from "./CrustdataSimulator.js"
import type { Links } from "./downloads.js"
import type { Jobs } from "./jobs.js"

export const provider = "crustdata"

export interface Settings {
  readonly apiKeys: ReadonlySet<string>
  readonly syncDenied: ReadonlySet<string>
  readonly basePath: string
  readonly pendingMillis: number
  readonly processingMillis: number
  readonly perUrlMillis: number
  readonly ttlSeconds: number
  readonly expiredLinks: number
  readonly partSize: number
  readonly maxActive: number
  readonly limits: {
    readonly contactEnrich: number
    readonly batchSubmit: number
    readonly batchStatus: number
    readonly batchList: number
  }
}

export const settingsOf = (options: Options, defaultKey: string): Settings => ({
  apiKeys: new Set(options.apiKeys ?? [defaultKey]),
  syncDenied: new Set(options.syncDeniedKeys ?? []),
  basePath: options.basePath ?? "/crustdata",
  pendingMillis: options.pendingMillis ?? 20_000,
  processingMillis: options.processingMillis ?? 120_000,
  perUrlMillis: options.perUrlMillis ?? 100,
  ttlSeconds: options.downloadTtlSeconds ?? 432_000,
  expiredLinks: options.expiredLinks ?? 0,
  partSize: Math.max(1, options.partSize ?? 100),
  maxActive: options.maxActiveJobs ?? CrustdataApi.maxActiveJobs,
  limits: {
    contactEnrich: options.limits?.contactEnrich ?? 15,
    batchSubmit: options.limits?.batchSubmit ?? 30,
    batchStatus: options.limits?.batchStatus ?? 120,
    batchList: options.limits?.batchList ?? 30
  }
})

/** The simulator's credit balance; what is charged is also counted in `env.counters`. */
export class Credits {
  private balance: number
  constructor(private readonly env: Env, balance: number | undefined) {
    this.balance = balance ?? Number.POSITIVE_INFINITY
  }

  /** Submits and sync calls are refused once the balance is spent. */
  get exhausted(): boolean {
    return this.balance <= 0
  }

  charge(amount: number): void {
    if (amount <= 0) return
    this.balance -= amount
    this.env.counters.charge(provider, amount)
  }
}

export interface Base {
  readonly env: Env
  /** read once when the simulator is made */
  readonly faults: Faults
  readonly settings: Settings
  readonly credits: Credits
}

export interface Sim extends Base {
  readonly jobs: Jobs
  readonly links: Links
  readonly httpClient: HttpClient.HttpClient
}
