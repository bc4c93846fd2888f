/**
 * The waterfall: providers in the user's order; each person goes to the next provider only for the fields
 * still missing under the stop policy, only if that provider takes their identifier kind, within the credit
 * budget. Every step goes through the `Journal` first, so a run can be resumed after a crash without
 * losing a result or paying twice.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { Budget } from "./Budget.js"
import * as ChunkPlan from "./ChunkPlan.js"
import type { Field } from "./Contact.js"
import {
  chunkKey,
  ContactProviders,
  type ContactProviderService,
  EnrichRequest,
  type JobRef,
  type JobStatus,
  type Person
} from "./ContactProvider.js"
import { type EnrichmentError, InvalidRequest, isEnrichmentError } from "./EnrichmentError.js"
import type { PersonKey } from "./Identifier.js"
import { ChunkRecord, Journal, type JournalError } from "./Journal.js"
import { defaultStopPolicy, merge, type Merged, missingFields, type StopPolicy } from "./Merge.js"
import { Failed, type ProviderOutcome } from "./PersonResult.js"

/** @since 0.1.0 @category Models */
export interface Options {
  readonly runId: string
  /** deduplicated, valid people, in input order (the order makes chunking deterministic, hence resumable) */
  readonly people: ReadonlyArray<Person>
  /** provider names, in waterfall order */
  readonly providers: ReadonlyArray<string>
  readonly fields: readonly [Field, ...Array<Field>]
  readonly stopPolicy?: StopPolicy
  /** reuse outcomes bought within this age instead of buying them again (default 30 days; 0 disables) */
  readonly cacheMaxAge?: Duration.DurationInput
  /**
   * chunks in flight per provider (default: the provider's active-job cap plus one waiting for a slot; else,
   * for a paced provider, what its start limit keeps busy (`ChunkPlan.usefulConcurrency`); else 4)
   */
  readonly concurrency?: number
  /** at most this many people per chunk (default: the provider's cap, or `ChunkPlan`'s sizes when paced) */
  readonly chunkSize?: number
  /**
   * A chunk recorded but with no job id after a crash may or may not have reached a provider that gives
   * no way to know (no idempotency key). By default it is reported and not sent again; true resends it.
   */
  readonly resubmitAmbiguous?: boolean
  /**
   * How long a job already paid for is read again after read errors (unreadable or throttled polls, a job still
   * running at the polling deadline) before its chunk is left stalled: still submitted in the journal, so that a
   * resume reads it again, never failed with its results lost (default 10 minutes).
   */
  readonly stallAfter?: Duration.DurationInput
  readonly onEvent?: (event: Event) => Effect.Effect<void>
}

/** Progress, for a live display or logs. */
export type Event =
  | { readonly _tag: "StageStarted"; readonly provider: string; readonly people: number; readonly cached: number }
  | { readonly _tag: "ChunkSubmitted"; readonly provider: string; readonly people: number; readonly job: string }
  | {
    readonly _tag: "PageCommitted"
    readonly provider: string
    readonly outcomes: number
    readonly found: number
  }
  | {
    readonly _tag: "ChunkFinished"
    readonly provider: string
    readonly state: "finished" | "failed"
    readonly charged: number
    /** `charged` is our estimate from the price list: the provider reported no figure */
    readonly estimated: boolean
    readonly message?: string
  }
  | { readonly _tag: "BudgetReached"; readonly provider: string; readonly unsent: number }
  /** the provider refused our keys or credits, or could not be reached: nothing more is sent to it this run */
  | { readonly _tag: "ProviderStopped"; readonly provider: string; readonly reason: string }
  /** a paid job could not be read for `stallAfter`: left for `enrich resume` to read again */
  | { readonly _tag: "ChunkStalled"; readonly provider: string; readonly people: number; readonly reason: string }
  | { readonly _tag: "StageFinished"; readonly provider: string }

/** People who failed at a provider for one reason, and in how many chunks. */
export interface FailureGroup {
  readonly reason: string
  readonly people: number
  readonly chunks: number
}

/**
 * Per-provider reconciliation: what was asked and what came back, one outcome per person, so that
 * `found + notFound + failed + rejected = requested` always (a resumed run counts what was recorded before it).
 */
export interface ProviderSummary {
  readonly provider: string
  /** people this provider was asked about in this run, those answered from earlier runs (`cached`) included */
  readonly requested: number
  readonly cached: number
  readonly found: number
  readonly notFound: number
  readonly failed: number
  readonly rejected: number
  /** why `failed` people failed, the most frequent reason first */
  readonly failures: ReadonlyArray<FailureGroup>
  /** credits booked for this provider, as reported or estimated */
  readonly credits: number
  /** the part of `credits` that is our estimate from the price list (the provider reported no figure) */
  readonly estimatedCredits: number
}

/** @since 0.1.0 @category Models */
export interface Result {
  readonly merged: ReadonlyMap<PersonKey, Merged>
  /** every outcome per person, in provider order */
  readonly outcomes: ReadonlyMap<PersonKey, ReadonlyArray<ProviderOutcome>>
  readonly providers: ReadonlyArray<ProviderSummary>
  /** people never sent to a provider that would have been asked, because the budget ran out */
  readonly unsentForBudget: ReadonlyArray<PersonKey>
  /** chunks left unsent after a crash because resending could pay twice (see `resubmitAmbiguous`) */
  readonly ambiguousChunks: ReadonlyArray<string>
  /** `estimated`: the part of `spent` that is our estimate (the sum of the providers' `estimatedCredits`) */
  readonly credits: { readonly spent: number; readonly estimated: number; readonly limit: number | undefined }
}

const sameFields = (a: ReadonlyArray<Field>, b: ReadonlyArray<Field>) =>
  a.length === b.length && a.every((f) => b.includes(f))

/** Groups people by the field set they still need, keeping input order inside each group. */
const groupByFields = (people: ReadonlyArray<{ person: Person; fields: ReadonlyArray<Field> }>) => {
  const groups: Array<{ fields: readonly [Field, ...Array<Field>]; people: Array<Person> }> = []
  for (const { fields, person } of people) {
    let group = groups.find((g) => sameFields(g.fields, fields))
    if (group === undefined) {
      group = { fields: fields as readonly [Field, ...Array<Field>], people: [] }
      groups.push(group)
    }
    group.people.push(person)
  }
  return groups
}

/** Submits in flight to a provider that cannot tell whether one arrived: each is ambiguous after a crash. */
const submitsAtOnce = 3

/**
 * Errors that say the provider cannot be used at all this run: wrong or missing keys, no credits, nothing
 * answering at its address (after the short retries of `Backoff`). Every later chunk would fail the same way.
 */
const stopsProvider = (error: EnrichmentError): boolean =>
  error._tag === "Unauthorized" || error._tag === "InsufficientCredits" ||
  (error._tag === "ProviderUnavailable" && error.unreachable)

/**
 * Errors reading a job that was already submitted (and so may be paid for) that do not mean its results are
 * gone: the job is read again, and failing that left resumable. A job the provider says failed, was canceled,
 * forgot, or whose results expired is over (those are not here).
 */
const isReadError = (error: EnrichmentError): boolean =>
  error._tag === "RateLimited" || error._tag === "ProviderUnavailable" || error._tag === "MalformedResponse" ||
  error._tag === "JobTimedOut" || error._tag === "TooManyActiveJobs"

/** Backoff between attempts to read a paid job again. */
const rereadDelays = Schedule.exponential("1 second", 2).pipe(
  Schedule.either(Schedule.spaced("1 minute")),
  Schedule.jittered
)

/** `items` cut into consecutive pieces of the given sizes (which sum to its length). */
const cut = <A>(items: ReadonlyArray<A>, sizes: ReadonlyArray<number>): Array<Array<A>> => {
  const out: Array<Array<A>> = []
  let from = 0
  for (const size of sizes) {
    out.push(items.slice(from, from + size))
    from += size
  }
  return out
}

/**
 * Runs the waterfall to the end (or to the budget), resuming whatever the journal holds for `runId`.
 *
 * @since 0.1.0 @category Combinators
 */
export const run = (
  options: Options
): Effect.Effect<Result, JournalError | EnrichmentError, ContactProviders | Journal | Budget> =>
  Effect.gen(function*() {
    const registry = yield* ContactProviders
    const journal = yield* Journal
    const budget = yield* Budget
    const emit = options.onEvent ?? (() => Effect.void)
    const policy = options.stopPolicy ?? defaultStopPolicy
    const cacheMaxAge = options.cacheMaxAge ?? Duration.days(30)
    const byKey = new Map(options.people.map((p) => [p.key, p]))
    const outcomes = new Map<PersonKey, Array<ProviderOutcome>>()
    const merged = new Map<PersonKey, Merged>()
    const summaries: Array<ProviderSummary> = []
    const unsentForBudget = new Set<PersonKey>()
    const ambiguous: Array<string> = []

    const providers: Array<ContactProviderService> = []
    for (const name of options.providers) {
      const service = registry.get(name)
      if (service === undefined) {
        return yield* new InvalidRequest({
          provider: name,
          message: `unknown provider "${name}" (configured: ${[...registry.keys()].join(", ") || "none"})`
        })
      }
      providers.push(service)
    }
    const order = options.providers

    // What a resumed run already holds: its chunks, their reservations and charges.
    const previous = yield* journal.chunks(options.runId)
    yield* budget.adopt(
      previous.filter((c) => c.state === "recorded" || c.state === "submitted").reduce((n, c) => n + c.reserved, 0),
      previous.reduce((n, c) => n + (c.charged ?? 0), 0)
    )

    const record = (outcome: ProviderOutcome, provider: string) => {
      const key = outcome.key
      if (key === undefined) return // a provider-side rejection always names its person; input ones never get here
      const list = outcomes.get(key) ?? []
      // one outcome per person and provider: a later page or a resumed chunk may repeat one
      const same = list.findIndex((o) => providerOfOutcome(o) === provider)
      if (same === -1) list.push(outcome)
      else if (list[same]!._tag !== "Found") list[same] = outcome
      outcomes.set(key, list)
      merged.set(key, merge(key, list, order))
    }

    for (const provider of providers) {
      const name = provider.capabilities.provider
      const tally = makeTally()
      const { count } = tally

      // Who needs this provider, for which fields.
      const wanting = options.people.flatMap((person) => {
        if (!provider.capabilities.identifierKinds.includes(person.identifier.kind)) return []
        const fields = missingFields(merged.get(person.key), options.fields, policy)
          .filter((f) => provider.capabilities.fields.includes(f))
        return fields.length === 0 ? [] : [{ person, fields }]
      })

      // Chunks this run already recorded for this provider are the truth: re-adopt them as they were.
      const adopted = previous.filter((c) => c.provider === name)
      const inAdopted = new Set(adopted.flatMap((c) => c.keys))
      const fresh = wanting.filter((w) => !inAdopted.has(w.person.key))

      // Reuse outcomes bought earlier (other runs) instead of buying them again.
      const toSend: Array<{ person: Person; fields: ReadonlyArray<Field> }> = []
      if (Duration.toMillis(cacheMaxAge) > 0) {
        for (const group of groupByFields(fresh)) {
          const cached = yield* journal.outcomesFor(name, group.people.map((p) => p.key), group.fields, cacheMaxAge)
          for (const person of group.people) {
            const hit = cached.get(person.key)
            if (hit === undefined) toSend.push({ person, fields: group.fields })
            else {
              tally.cached++
              count(hit, undefined)
              record(hit, name)
            }
          }
        }
      } else toSend.push(...fresh)

      yield* emit({
        _tag: "StageStarted",
        provider: name,
        people: toSend.length + inAdopted.size,
        cached: tally.cached
      })

      const { maxActiveJobs } = provider.capabilities
      const maxBatch = Math.max(1, Math.min(options.chunkSize ?? Infinity, provider.capabilities.maxBatch))
      // a provider that caps active jobs queues chunks for a slot anyway: full chunks are best there
      const pacing = maxActiveJobs === undefined ? provider.capabilities.pacing : undefined
      const planned = groupByFields(toSend).flatMap((group) =>
        cut(group.people, ChunkPlan.chunkSizes(group.people.length, maxBatch, pacing)).map((people) => ({
          people,
          fields: group.fields
        }))
      )

      // What a finished chunk cost: the provider's own report on the job (`charged - refunded`) when it gives one,
      // since only that also counts what it bills for people it returns nothing usable for (TheHog charges per
      // identifier submitted, failed items included); else the sum of the per-person costs the adapter reports.
      // `estimated`: the figure is ours (from the price list), not the provider's.
      const settleChunk = (
        ref: JobRef | undefined,
        seen: ReadonlyArray<ProviderOutcome>,
        final: JobStatus | undefined
      ) =>
        Effect.gen(function*() {
          let delivered = 0
          let deliveredEstimated = false
          for (const o of seen) {
            if (o._tag !== "Found" && o._tag !== "NotFound") continue
            delivered += o.provenance.cost
            deliveredEstimated ||= o.provenance.estimated && o.provenance.cost > 0
          }
          const byOutcomes = { charged: delivered, estimated: deliveredEstimated }
          if (ref === undefined) return byOutcomes // answered synchronously: the per-person costs are the answer
          const status = final === undefined ? yield* Effect.option(provider.poll(ref)) : Option.some(final)
          // no status now: what the provider said it charged at submit is the safe side for the cap
          if (Option.isNone(status)) {
            return ref.charged >= delivered
              ? { charged: ref.charged, estimated: ref.estimated }
              : byOutcomes
          }
          const { charged, estimated, refunded } = status.value
          // 0/0 is a provider that does not report credits on its jobs (Crustdata bills per value delivered)
          return charged > 0 || refunded > 0 ? { charged: charged - refunded, estimated } : byOutcomes
        })

      // Set when the provider refused our keys or credits or could not be reached: chunks not yet sent are not
      // sent; their people fail in memory only (nothing is journaled), so that a later run or resume asks again.
      let stopped: EnrichmentError | undefined
      const failUnsent = (people: ReadonlyArray<Person>, error: EnrichmentError) => {
        const reason = `not sent: ${name} stopped after ${error._tag}: ${error.message}`
        for (const { key } of people) {
          const failed = new Failed({ key, provider: name, reason })
          count(failed, `unsent:${name}`)
          record(failed, name)
        }
      }
      const stallAfter = options.stallAfter ?? "10 minutes"

      // a chunk's people as this run knows them, and the request that sends them under the chunk's key
      const peopleOf = (chunk: ChunkRecord) =>
        chunk.keys.flatMap((k) => {
          const p = byKey.get(k)
          return p === undefined ? [] : [p]
        })
      const requestOf = (chunk: ChunkRecord, people: ReadonlyArray<Person>) =>
        new EnrichRequest({
          people: people as [Person, ...Array<Person>],
          fields: chunk.fields,
          idempotencyKey: chunk.idempotencyKey,
          path: chunk.path
        })

      // `onSubmitted` runs once the provider has the chunk (its job id is in the journal, or it was answered)
      const runChunk = (chunk: ChunkRecord, onSubmitted: Effect.Effect<void> = Effect.void) =>
        Effect.gen(function*() {
          const people = peopleOf(chunk)
          tally.ask(people)
          if (chunk.state === "finished" || chunk.state === "failed") {
            const done = yield* journal.outcomesFor(name, chunk.keys, chunk.fields, Duration.infinity)
            // the journal gives back no failure (never reused): whoever it has no answer for failed in this chunk,
            // for the chunk's reason when it failed as a whole (a finished chunk's per-person reasons are not
            // read back: the journal has no call for them)
            const reason = chunk.message ?? "failed at the provider before this resume"
            for (const p of people) {
              const o = done.get(p.key) ?? new Failed({ key: p.key, provider: name, reason })
              count(o, chunk.idempotencyKey)
              record(o, name)
            }
            tally.charge(chunk.charged ?? 0, chunk.estimated)
            return
          }
          if (stopped !== undefined && chunk.state === "recorded") {
            failUnsent(people, stopped)
            yield* budget.settle(chunk.reserved, 0)
            return
          }
          const members = new Set<string>(chunk.keys)
          const seen: Array<ProviderOutcome> = []
          if (chunk.cursor !== undefined || chunk.state === "submitted") {
            const before = yield* journal.outcomesFor(name, chunk.keys, chunk.fields, Duration.infinity)
            seen.push(...before.values())
          }
          // where a read of the job resumes: after the last page committed
          let cursor = chunk.cursor
          const accept = (page: ReadonlyArray<ProviderOutcome>, next: string | undefined) =>
            Effect.gen(function*() {
              const mine = page.filter((o) => o.key !== undefined && members.has(o.key))
              yield* journal.commitPage(chunk.idempotencyKey, mine, next)
              if (next !== undefined) cursor = next
              seen.push(...mine)
              yield* emit({
                _tag: "PageCommitted",
                provider: name,
                outcomes: mine.length,
                found: mine.filter((o) => o._tag === "Found").length
              })
            })

          // the job, once there is one: a job that fails after submit was still charged for
          let job: JobRef | undefined = chunk.job
          let final: JobStatus | undefined
          const attempt = Effect.gen(function*() {
            const request = requestOf(chunk, people)
            // the path was chosen when the chunk was planned (see `syncPath`) and is kept with it
            if (chunk.state === "recorded" && chunk.path === "sync") {
              yield* accept(yield* provider.enrichSync(request), undefined)
              return
            }
            if (job === undefined) {
              const ref = yield* provider.submit(request)
              job = ref
              yield* journal.markSubmitted(chunk.idempotencyKey, ref)
              yield* emit({ _tag: "ChunkSubmitted", provider: name, people: people.length, job: ref.id })
            }
            yield* onSubmitted
            const paid = job
            // A paid job is read until the provider says it is over: a read error reads again from the last
            // committed page, with backoff, for `stallAfter`.
            yield* Effect.suspend(() =>
              Stream.runForEach(provider.results(paid, cursor), (page) => {
                if (page.final !== undefined) final = page.final
                return accept(page.results, page.cursor)
              })
            ).pipe(
              Effect.retry({
                while: (error) => isEnrichmentError(error) && isReadError(error),
                schedule: rereadDelays.pipe(Schedule.upTo(stallAfter))
              })
            )
          })

          // A provider error fails this chunk and the run goes on; a journal error stops the run (nothing is safe).
          const finished = yield* attempt.pipe(
            Effect.map(() => Either.right(undefined)),
            Effect.catchIf(isEnrichmentError, (error) => Effect.succeed(Either.left(error)))
          )
          if (finished._tag === "Left") {
            const error = finished.left
            if (stopsProvider(error) && stopped === undefined) {
              stopped = error
              yield* emit({ _tag: "ProviderStopped", provider: name, reason: `${error._tag}: ${error.message}` })
            }
            // Submitted, unreadable for `stallAfter`: still submitted in the journal (a resume reads it again) and
            // its reservation kept (it may cost that much). Its people are failed in this run's report only.
            if (job !== undefined && isReadError(error)) {
              const reason = `stalled: ${error._tag}: ${error.message}; the job is sent (and may be paid): ` +
                "enrich resume reads it again"
              const accounted = new Set(seen.map((o) => o.key))
              for (const o of seen) {
                count(o, chunk.idempotencyKey)
                record(o, name)
              }
              for (const p of people) {
                if (accounted.has(p.key)) continue
                const failed = new Failed({ key: p.key, provider: name, reason })
                count(failed, chunk.idempotencyKey)
                record(failed, name)
              }
              yield* emit({ _tag: "ChunkStalled", provider: name, people: people.length, reason })
              return
            }
          }
          // Anyone the provider did not account for is a failure at this provider, written down too.
          const accounted = new Set(seen.map((o) => o.key))
          const missing = people.filter((p) => !accounted.has(p.key))
          const reason = finished._tag === "Left"
            ? `${finished.left._tag}: ${finished.left.message}`
            : notInOutput
          if (missing.length > 0) {
            yield* accept(missing.map((p) => new Failed({ key: p.key, provider: name, reason })), undefined)
          }
          for (const o of seen) {
            count(o, chunk.idempotencyKey)
            record(o, name)
          }
          const { charged, estimated } = yield* settleChunk(job, seen, final)
          tally.charge(charged, estimated)
          yield* budget.settle(chunk.reserved, charged)
          const state = finished._tag === "Left" ? "failed" as const : "finished" as const
          yield* journal.finishChunk(chunk.idempotencyKey, {
            state,
            charged,
            estimated,
            ...(finished._tag === "Left" ? { message: reason } : {})
          })
          yield* emit({
            _tag: "ChunkFinished",
            provider: name,
            state,
            charged,
            estimated,
            ...(state === "failed" ? { message: reason } : {})
          })
        })

      // Adopted chunks first (resume), then new ones. A chunk recorded but never marked submitted may or may not
      // have reached the provider: safe to send again when the provider dedupes by idempotency key; looked up in
      // the provider's job list when it can search one; otherwise ambiguous (reported, resent only on request).
      const ambiguousChunk = (chunk: ChunkRecord, reason: string) => {
        ambiguous.push(chunk.idempotencyKey)
        const people = peopleOf(chunk)
        tally.ask(people)
        for (const { key } of people) {
          const failed = new Failed({ key, provider: name, reason })
          count(failed, chunk.idempotencyKey)
          record(failed, name)
        }
      }
      const ambiguousReason = "ambiguous after a crash: may have been sent; resume with --resubmit-ambiguous to resend"
      const recover = (
        chunk: ChunkRecord,
        findSubmitted: NonNullable<ContactProviderService["findSubmitted"]>
      ) =>
        Effect.gen(function*() {
          const people = peopleOf(chunk)
          if (people.length === 0) return yield* runChunk(chunk)
          const request = requestOf(chunk, people)
          const found = yield* Effect.either(findSubmitted(request))
          if (Either.isLeft(found)) {
            // the job list could not be read: as ambiguous as if there were none
            if (options.resubmitAmbiguous === true) return yield* runChunk(chunk)
            return ambiguousChunk(chunk, `${ambiguousReason} (job list unreadable: ${found.left.message})`)
          }
          if (Option.isNone(found.right)) return yield* runChunk(chunk) // it never arrived: sending is safe
          const ref = found.right.value
          yield* journal.markSubmitted(chunk.idempotencyKey, ref)
          yield* runChunk(new ChunkRecord({ ...chunk, state: "submitted", job: ref }))
        })
      const work: Array<Effect.Effect<void, JournalError>> = []
      for (const chunk of adopted) {
        const safety = provider.capabilities.resubmitSafety
        if (chunk.state !== "recorded" || safety === "idempotency-key") work.push(runChunk(chunk))
        // A synchronous call leaves no job to find in a job list: without an idempotency key, one cut short by a
        // crash is as ambiguous as a submit to a provider with no way to know (Crustdata's sync path).
        else if (chunk.path === "sync") {
          if (options.resubmitAmbiguous === true) work.push(runChunk(chunk))
          else ambiguousChunk(chunk, ambiguousReason)
        } else if (safety === "job-list" && provider.findSubmitted !== undefined) {
          work.push(recover(chunk, provider.findSubmitted))
        } else if (options.resubmitAmbiguous === true) work.push(runChunk(chunk))
        else ambiguousChunk(chunk, ambiguousReason)
      }
      // A small list that fits one synchronous call skips the job and its polling.
      const sync = provider.capabilities.sync
      const syncPath = sync !== undefined && planned.length === 1 && planned[0]!.people.length <= sync.maxBatch
      const unitCost = (fields: ReadonlyArray<Field>) => provider.capabilities.cost.maxPerPerson(fields, "batch")
      // A provider that gives no way to know whether a submit arrived (no idempotency key, no job list) leaves
      // a chunk between "recorded" and "submitted" ambiguous after a crash: at most `submitsAtOnce` chunks are
      // recorded and not yet submitted, so at most that many are (not dozens waiting on a start limit). Their
      // jobs still run in parallel; only the submits queue.
      const sending = provider.capabilities.resubmitSafety === "none"
        ? yield* Effect.makeSemaphore(submitsAtOnce)
        : undefined
      const oneAtATime = <A, E, R>(start: (onSubmitted: Effect.Effect<void>) => Effect.Effect<A, E, R>) => {
        if (sending === undefined) return start(Effect.void)
        return Effect.gen(function*() {
          yield* sending.take(1)
          let released = false
          const release = Effect.suspend(() => {
            if (released) return Effect.void
            released = true
            return sending.release(1)
          })
          return yield* Effect.ensuring(start(release), release)
        })
      }
      let budgetReached = false
      for (const plan of planned) {
        work.push(oneAtATime((onSubmitted) =>
          Effect.gen(function*() {
            if (stopped !== undefined) {
              tally.ask(plan.people)
              failUnsent(plan.people, stopped)
              return
            }
            if (budgetReached) {
              for (const p of plan.people) unsentForBudget.add(p.key)
              return
            }
            const cost = unitCost(plan.fields)
            const fits = yield* budget.reserveUpTo(plan.people.length, cost)
            if (fits < plan.people.length) {
              budgetReached = true
              for (const p of plan.people.slice(fits)) unsentForBudget.add(p.key)
              yield* emit({ _tag: "BudgetReached", provider: name, unsent: plan.people.length - fits })
            }
            if (fits === 0) return
            const people = plan.people.slice(0, fits)
            const keys = people.map((p) => p.key)
            const chunk = yield* journal.recordChunk({
              runId: options.runId,
              provider: name,
              idempotencyKey: chunkKey(name, keys, plan.fields, syncPath ? "sync" : "batch"),
              path: syncPath ? "sync" : "batch",
              keys,
              fields: plan.fields,
              reserved: fits * cost
            })
            yield* runChunk(chunk, onSubmitted)
          })
        ))
      }
      // With an active-job cap, one chunk more than the cap: it waits on the provider's slot, so a new job starts
      // the moment one ends, while the finished chunk's results are still being read.
      const concurrency = options.concurrency ??
        (maxActiveJobs !== undefined
          ? maxActiveJobs + 1
          : pacing === undefined
          ? 4
          : ChunkPlan.usefulConcurrency(pacing, maxBatch))
      yield* Effect.all(work, { concurrency, discard: true })
      summaries.push(tally.summary(name))
      yield* emit({ _tag: "StageFinished", provider: name })
    }

    const snapshot = yield* budget.snapshot
    return {
      merged,
      outcomes,
      providers: summaries,
      unsentForBudget: [...unsentForBudget],
      ambiguousChunks: ambiguous,
      credits: {
        spent: snapshot.spent,
        estimated: summaries.reduce((n, s) => n + s.estimatedCredits, 0),
        limit: snapshot.limit
      }
    }
  })

const notInOutput = "not in the provider's output"

/**
 * One provider's tallies: one outcome per person (a page repeated, a resumed chunk's earlier pages or the people
 * added as failed are never counted twice; a Found is kept over anything else, as in `record`), so the summary's
 * counts add up to the people asked.
 */
const makeTally = () => {
  const asked = new Set<PersonKey>()
  const final = new Map<PersonKey, { readonly outcome: ProviderOutcome; readonly chunk: string | undefined }>()
  let credits = 0
  let estimatedCredits = 0
  const tally = {
    cached: 0,
    ask: (people: ReadonlyArray<Person>) => {
      for (const p of people) asked.add(p.key)
    },
    /** `chunk`: where the outcome came from (undefined: from the cache of earlier runs) */
    count: (outcome: ProviderOutcome, chunk: string | undefined) => {
      const key = outcome.key
      if (key === undefined) return
      if (chunk === undefined) asked.add(key)
      const had = final.get(key)
      if (had === undefined || had.outcome._tag !== "Found") final.set(key, { outcome, chunk })
    },
    charge: (charged: number, estimated: boolean) => {
      credits += charged
      if (estimated) estimatedCredits += charged
    },
    summary: (provider: string): ProviderSummary => {
      const counts = { found: 0, notFound: 0, failed: 0, rejected: 0 }
      const reasons = new Map<string, { people: number; chunks: Set<string> }>()
      for (const key of asked) {
        // everyone asked has an outcome (a chunk accounts for all its people); the guard keeps the sum exact
        const { chunk, outcome } = final.get(key) ?? { outcome: undefined, chunk: undefined }
        if (outcome?._tag === "Found") counts.found++
        else if (outcome?._tag === "NotFound") counts.notFound++
        else if (outcome?._tag === "Rejected") counts.rejected++
        else {
          counts.failed++
          const reason = outcome?._tag === "Failed" ? outcome.reason : "no answer recorded"
          const group = reasons.get(reason) ?? { people: 0, chunks: new Set<string>() }
          group.people++
          if (chunk !== undefined) group.chunks.add(chunk)
          reasons.set(reason, group)
        }
      }
      const failures = [...reasons].map(([reason, g]) => ({ reason, people: g.people, chunks: g.chunks.size }))
        .sort((a, b) => b.people - a.people)
      return {
        provider,
        requested: asked.size,
        cached: tally.cached,
        ...counts,
        failures,
        credits,
        estimatedCredits
      }
    }
  }
  return tally
}

const providerOfOutcome = (outcome: ProviderOutcome): string | undefined =>
  outcome._tag === "Found" || outcome._tag === "NotFound"
    ? outcome.provenance.provider
    : outcome.provider

/** A quote per provider before spending: how many people it could be asked about and the most that costs. */
export interface Quote {
  readonly provider: string
  readonly people: number
  readonly fields: ReadonlyArray<Field>
  readonly maxCredits: number
}

/**
 * The most each provider could cost if every person reached it (the first provider's figure is exact for its
 * worst case; later ones shrink as earlier providers fill fields).
 *
 * @since 0.1.0 @category Combinators
 */
export const quote = (
  people: ReadonlyArray<Person>,
  providers: ReadonlyArray<ContactProviderService>,
  fields: ReadonlyArray<Field>
): ReadonlyArray<Quote> =>
  providers.map((provider) => {
    const asked = fields.filter((f) => provider.capabilities.fields.includes(f))
    const n = asked.length === 0
      ? 0
      : people.filter((p) => provider.capabilities.identifierKinds.includes(p.identifier.kind)).length
    return {
      provider: provider.capabilities.provider,
      people: n,
      fields: asked,
      maxCredits: n * provider.capabilities.cost.maxPerPerson(asked, "batch")
    }
  })
