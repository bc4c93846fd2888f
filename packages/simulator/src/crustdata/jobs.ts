/**
 * Batch jobs in provider time: `pending` until `processingAt`, `processing` until `completesAt`, then settled once
 * as `completed` (results built and charged) or `failed` (nothing charged). Ids are UUIDs fixed by the seed.
 */
import type { CrustdataApi } from "@enrich/core/wire"
import { hash32 } from "../Random.js"
import { type Results, resultsOf } from "./results.js"
import type { Base } from "./sim.js"

export interface Settled extends Partial<Results> {
  readonly status: "completed" | "failed"
  readonly completedAt: number
  readonly errorMessage?: string
  readonly resultCount: number
  readonly fulfilled: number
}

export interface Job {
  readonly id: string
  /** submission order (1-based), for the list's most-recent-first cursor */
  readonly seq: number
  readonly key: string
  readonly urls: ReadonlyArray<string>
  readonly fields: ReadonlySet<CrustdataApi.BatchField>
  readonly webhookUrl: string | undefined
  /** scheme://host the job was submitted through, for links in webhook bodies */
  readonly origin: string
  readonly submittedAt: number
  readonly processingAt: number
  readonly completesAt: number
  readonly fails: boolean
  settled: Settled | undefined
}

export interface Submission {
  readonly key: string
  readonly urls: ReadonlyArray<string>
  readonly fields: ReadonlyArray<string>
  readonly webhookUrl: string | undefined
  readonly origin: string
  readonly now: number
}

export class Jobs {
  private readonly jobs = new Map<string, Job>()
  private count = 0

  constructor(private readonly base: Base) {}

  /** A UUID fixed by the seed and the job's number. */
  private uuid(n: number) {
    const h = [0, 1, 2, 3].map((i) =>
      hash32(`${this.base.env.universe.seed}|crustdata|${n}|${i}`).toString(16).padStart(8, "0")
    )
      .join("")
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
  }

  /** Records a new job; slow-job and failed-job faults are fixed here. */
  submit(submission: Submission): Job {
    const { env, faults, settings } = this.base
    const { now, urls } = submission
    const factor = faults.slowJobFactor ?? 1
    const seq = ++this.count
    const job: Job = {
      id: this.uuid(seq),
      seq,
      key: submission.key,
      urls,
      fields: new Set(submission.fields as ReadonlyArray<CrustdataApi.BatchField>),
      webhookUrl: submission.webhookUrl,
      origin: submission.origin,
      submittedAt: now,
      processingAt: now + settings.pendingMillis * factor,
      completesAt: now + (settings.pendingMillis + settings.processingMillis + settings.perUrlMillis * urls.length) *
          factor,
      fails: env.chance(faults.failJobRate),
      settled: undefined
    }
    this.jobs.set(job.id, job)
    return job
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id)
  }

  /** Completes (or fails) a job once provider time has passed its end: builds the file and charges. */
  settle(job: Job, now: number): Settled | undefined {
    if (job.settled !== undefined || now < job.completesAt) return job.settled
    if (job.fails) {
      job.settled = {
        status: "failed",
        completedAt: job.completesAt,
        errorMessage: "Batch processing failed: upstream enrichment error. No contact values were billed.",
        resultCount: 0,
        fulfilled: 0
      }
      return job.settled
    }
    job.settled = { status: "completed", completedAt: job.completesAt, ...resultsOf(this.base, job) }
    return job.settled
  }

  stateOf(job: Job, now: number): CrustdataApi.BatchStatus {
    const settled = this.settle(job, now)
    if (settled !== undefined) return settled.status
    return now < job.processingAt ? "pending" : "processing"
  }

  /** The key's pending or processing jobs (settling those that are due). */
  active(key: string, now: number): number {
    return [...this.jobs.values()].filter((job) => {
      if (job.key !== key) return false
      const state = this.stateOf(job, now)
      return state === "pending" || state === "processing"
    }).length
  }

  /** The key's jobs submitted before `before`, most recent first, in `wanted` state if given. */
  listed(key: string, before: number, wanted: string | null, now: number): ReadonlyArray<Job> {
    return [...this.jobs.values()]
      .filter((job) => job.key === key && job.seq < before)
      .sort((a, b) => b.seq - a.seq)
      .filter((job) => wanted === null || this.stateOf(job, now) === wanted)
  }
}
