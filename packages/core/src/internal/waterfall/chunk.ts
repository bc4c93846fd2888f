/**
 * One chunk's life at one provider: recorded → submitted → results streamed and committed page by page →
 * settled (credits, journal, budget). This is where the crash guarantees live: the journal is written before
 * each step that costs money, so that a resume picks the chunk up where it was.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { BudgetService } from "../../Budget.js"
import {
  type ContactProviderService,
  EnrichRequest,
  type JobRef,
  type JobStatus,
  type Person
} from "../../ContactProvider.js"
import { type EnrichmentError, isEnrichmentError } from "../../EnrichmentError.js"
import { ChunkRecord, type JournalError, type JournalService, SetAside } from "../../Journal.js"
import { Failed, type ProviderOutcome } from "../../PersonResult.js"
import * as ProviderMetrics from "../../ProviderMetrics.js"
import type { Event } from "../../Waterfall.js"

/** A person on their way through the waterfall, with what this attempt set them aside for (kept in the journal too). */
export interface Traveler {
  readonly person: Person
  readonly setAside: Array<SetAside>
}

/** What every chunk of one provider shares within a run. */
export interface StageContext {
  readonly runId: string
  readonly provider: ContactProviderService
  readonly journal: JournalService
  readonly budget: BudgetService
  readonly emit: (event: Event) => Effect.Effect<void>
  readonly stallAfter: Duration.DurationInput
  readonly resubmitAmbiguous: boolean
  /** set when the provider refused our keys or credits or could not be reached: nothing more is sent to it */
  readonly state: { stopped: EnrichmentError | undefined }
  /** keys of chunks left unsent after a crash because resending could pay twice */
  readonly ambiguous: Array<string>
}

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

const notInOutput = "not in the provider's output"

/** Writes down that these travelers got no answer here, in the journal (for the output) and on each traveler. */
export const setAside = (
  ctx: StageContext,
  travelers: ReadonlyArray<Traveler>,
  kind: SetAside["kind"],
  reason: string,
  chunk?: string
): Effect.Effect<void, JournalError> => {
  if (travelers.length === 0) return Effect.void
  const provider = ctx.provider.capabilities.provider
  const entries = travelers.map((t) => {
    const entry = new SetAside({
      key: t.person.key,
      provider,
      kind,
      reason,
      ...(chunk === undefined ? {} : { chunk })
    })
    t.setAside.push(entry)
    return entry
  })
  return ctx.journal.setAside(ctx.runId, entries)
}

/** The people set aside when the provider was stopped before their chunk was sent. */
export const setAsideStopped = (ctx: StageContext, travelers: ReadonlyArray<Traveler>, error: EnrichmentError) =>
  setAside(
    ctx,
    travelers,
    "failed",
    `not sent: ${ctx.provider.capabilities.provider} stopped after ${error._tag}: ${error.message}`
  )

/**
 * An answer to a send that could not be read (garbled, cut short, or none after the retries): the provider may
 * have taken the request, and billed it, all the same.
 */
const isLostAnswer = (error: EnrichmentError): boolean =>
  error._tag === "MalformedResponse" || (error._tag === "ProviderUnavailable" && error.unreachable !== true)

/** Asking again after a lost answer, with the same idempotency key: the reread backoff, four times at most. */
const askAgainDelays = rereadDelays.pipe(Schedule.intersect(Schedule.recurs(4)))

/**
 * A send (a submit, or a synchronous call) to a provider that honours idempotency keys is asked again under the
 * same key when its answer is lost: the provider answers with what it took the first time, unbilled. Failing the
 * chunk instead threw paid results away (chaos with 2 % garbled answers: 145 people TheHog had billed).
 */
const askingAgain = <A>(ctx: StageContext, send: Effect.Effect<A, EnrichmentError>) =>
  ctx.provider.capabilities.resubmitSafety === "idempotency-key"
    ? Effect.retry(send, { while: isLostAnswer, schedule: askAgainDelays })
    : send

/**
 * A submit whose answer is lost, to a provider with a job list (Crustdata): the job is adopted if the list has it;
 * else nothing was taken and the error stands.
 */
const submitting = (ctx: StageContext, request: EnrichRequest): Effect.Effect<JobRef, EnrichmentError> => {
  const { provider } = ctx
  const submit = askingAgain(ctx, provider.submit(request))
  const find = provider.findSubmitted
  if (provider.capabilities.resubmitSafety !== "job-list" || find === undefined) return submit
  return Effect.catchIf(submit, isLostAnswer, (lost) =>
    Effect.flatMap(
      Effect.orElseFail(find(request), () => lost),
      Option.match({ onNone: () => Effect.fail(lost), onSome: Effect.succeed })
    ))
}

const requestOf = (chunk: ChunkRecord, people: ReadonlyArray<Person>) =>
  new EnrichRequest({
    people: people as [Person, ...Array<Person>],
    fields: chunk.fields,
    idempotencyKey: chunk.idempotencyKey,
    path: chunk.path
  })

/**
 * What a chunk's answers cost by the adapter's per-person figures, added up as pages arrive: a chunk keeps
 * these sums and the keys it answered, not the answers (those are in the journal), so that memory in flight
 * stays small when many large chunks are out at once.
 */
interface Delivered {
  credits: number
  /** some of `credits` is our estimate from the price list */
  estimated: boolean
}

const deliver = (tally: Delivered, outcomes: Iterable<ProviderOutcome>) => {
  for (const o of outcomes) {
    if (o._tag !== "Found" && o._tag !== "NotFound") continue
    tally.credits += o.provenance.cost
    tally.estimated ||= o.provenance.estimated && o.provenance.cost > 0
  }
}

/**
 * What a finished chunk cost: the provider's own report on the job (`charged - refunded`) when it gives one,
 * since only that also counts what it bills for people it returns nothing usable for (TheHog charges per
 * identifier submitted, failed items included); else the sum of the per-person costs the adapter reports.
 * `estimated`: the figure is ours (from the price list), not the provider's.
 *
 * `readBefore`: the job was out before this attempt, so a process that died may have read answers about it. A
 * provider that reports credits per answer (`CostModel.reports`) took those reports with it: a refund paid out
 * on a poll the dead process read is not reported again. Where what is left of the reports comes to more than
 * the results cost at the price list, the results' figure is booked, marked estimated.
 */
const costOf = (
  provider: ContactProviderService,
  ref: JobRef | undefined,
  tally: Delivered,
  final: JobStatus | undefined,
  readBefore: boolean
) =>
  Effect.gen(function*() {
    const delivered = tally.credits
    const byOutcomes = { charged: delivered, estimated: tally.estimated, refunded: 0 }
    if (ref === undefined) return byOutcomes // answered synchronously: the per-person costs are the answer
    const status = final === undefined ? yield* Effect.option(provider.poll(ref)) : Option.some(final)
    // no status now: what the provider said it charged at submit is the safe side for the cap
    if (Option.isNone(status)) {
      return ref.charged >= delivered ? { charged: ref.charged, estimated: ref.estimated, refunded: 0 } : byOutcomes
    }
    const { charged, estimated, refunded } = status.value
    // 0/0 is a provider that does not report credits on its jobs (Crustdata bills per value delivered)
    if (charged === 0 && refunded === 0) return byOutcomes
    const reportsLost = readBefore && provider.capabilities.cost.reports === "per-answer" &&
      charged - refunded > delivered
    return reportsLost
      ? { charged: delivered, estimated: true, refunded: charged - delivered }
      : { charged: charged - refunded, estimated, refunded }
  })

/**
 * Sends a chunk (unless its job is already out) and reads its results, committing every page as it arrives.
 * What was read stays on the reader when the provider fails it, for the chunk's settlement.
 */
const makeReader = (ctx: StageContext, chunk: ChunkRecord, people: ReadonlyArray<Person>, fresh: boolean) =>
  Effect.gen(function*() {
    const { journal, provider } = ctx
    const name = provider.capabilities.provider
    const members = new Set<string>(chunk.keys)
    // whom this chunk answered so far and what that cost, including pages committed before a crash
    const answered = new Set<string>()
    const delivered: Delivered = { credits: 0, estimated: false }
    const note = (outcomes: ReadonlyArray<ProviderOutcome>) => {
      for (const o of outcomes) if (o.key !== undefined) answered.add(o.key)
      deliver(delivered, outcomes)
    }
    if (chunk.cursor !== undefined || chunk.state === "submitted") {
      const before = yield* journal.outcomesOfRun(ctx.runId, chunk.keys)
      for (const list of before.values()) {
        note(list.filter((o) => o.chunk === chunk.idempotencyKey).map((o) => o.outcome))
      }
    }
    const reader = {
      // the job was out before this attempt: a process that died may have read answers about it
      readBefore: chunk.state === "submitted",
      answered: answered as ReadonlySet<string>,
      delivered: delivered as Readonly<Delivered>,
      // where a read of the job resumes: after the last page committed
      cursor: chunk.cursor,
      // the job, once there is one: a job that fails after submit was still charged for
      job: chunk.job,
      final: undefined as JobStatus | undefined,
      accept: (page: ReadonlyArray<ProviderOutcome>, next: string | undefined) =>
        Effect.gen(function*() {
          // A page read again after a crash (its commit landed, the cursor past it did not: a job's last page has
          // none) answers nobody new: committing it again booked its costs twice in the ledger's credits.
          const mine = page.filter((o) => o.key !== undefined && members.has(o.key) && !answered.has(o.key))
          yield* journal.commitPage(chunk.idempotencyKey, mine, next)
          if (next !== undefined) reader.cursor = next
          note(mine)
          yield* ProviderMetrics.countAnswers(name, chunk.fields, mine)
          yield* ctx.emit({
            _tag: "PageCommitted",
            provider: name,
            outcomes: mine.length,
            found: mine.filter((o) => o._tag === "Found").length
          })
        }),
      read: (onSubmitted: Effect.Effect<void>) =>
        Effect.gen(function*() {
          const request = requestOf(chunk, people)
          // the path was chosen when the chunk was planned and is kept with it
          if (chunk.state === "recorded" && chunk.path === "sync") {
            return yield* reader.accept(yield* askingAgain(ctx, provider.enrichSync(request)), undefined)
          }
          if (reader.job === undefined) {
            const forgetUnsent = Effect.zipRight(
              journal.forgetUnsent(chunk.idempotencyKey),
              ctx.budget.settle(chunk.reserved, 0)
            ).pipe(Effect.catchAll((error) => Effect.logWarning(`chunk ${chunk.idempotencyKey}: ${error.message}`)))
            const submitted = Effect.tap(
              submitting(ctx, request),
              (ref) => journal.markSubmitted(chunk.idempotencyKey, ref)
            )
            // A provider that gives no way to find a job again (Fiber): once the request may have left, it is seen
            // through to its journal entry even when the run is stopped (Ctrl-C, SIGTERM); cut short in between, it
            // left a job the provider may have taken and billed, and nobody would ever read. Waiting for the rate
            // limit before it stays interruptible (the gates' waits are), and is then the only place a stop can
            // land: nothing has left, so a chunk recorded just now is forgotten and a resume sends its people
            // (kept, it would be reported ambiguous and its people would skip this provider). An adopted one may
            // have left in the process before: it stays ambiguous.
            const ref = yield* (provider.capabilities.resubmitSafety === "none"
              ? Effect.uninterruptible(submitted).pipe(Effect.onInterrupt(() => fresh ? forgetUnsent : Effect.void))
              : submitted)
            reader.job = ref
            yield* ProviderMetrics.countChunk(name, "submitted")
            yield* ctx.emit({ _tag: "ChunkSubmitted", provider: name, people: people.length, job: ref.id })
          }
          yield* onSubmitted
          const paid = reader.job
          // A paid job is read until the provider says it is over: a read error reads again from the last
          // committed page, with backoff, for `stallAfter`.
          yield* Effect.suspend(() =>
            Stream.runForEach(provider.results(paid, reader.cursor), (page) => {
              if (page.final !== undefined) reader.final = page.final
              return reader.accept(page.results, page.cursor)
            })
          ).pipe(
            Effect.retry({
              while: (error) => isEnrichmentError(error) && isReadError(error),
              schedule: rereadDelays.pipe(Schedule.upTo(ctx.stallAfter))
            })
          )
        })
    }
    return reader
  })

type Reader = Effect.Effect.Success<ReturnType<typeof makeReader>>

/**
 * The end of a chunk the provider answered or failed: anyone it did not account for is committed as failed
 * there, its cost is booked against the reservation, and the chunk is finished (or failed) in the journal.
 */
const settle = (
  ctx: StageContext,
  chunk: ChunkRecord,
  people: ReadonlyArray<Person>,
  reader: Reader,
  error?: EnrichmentError
) =>
  Effect.gen(function*() {
    const name = ctx.provider.capabilities.provider
    const missing = people.filter((p) => !reader.answered.has(p.key))
    const reason = error !== undefined ? `${error._tag}: ${error.message}` : notInOutput
    if (missing.length > 0) {
      yield* reader.accept(missing.map((p) => new Failed({ key: p.key, provider: name, reason })), undefined)
    }
    const { charged, estimated, refunded } = yield* costOf(
      ctx.provider,
      reader.job,
      reader.delivered,
      reader.final,
      reader.readBefore
    )
    yield* ctx.budget.settle(chunk.reserved, charged)
    const state = error !== undefined ? "failed" as const : "finished" as const
    yield* ProviderMetrics.countCredits(name, { charged: charged + refunded, refunded, estimated })
    yield* ProviderMetrics.countChunk(name, state)
    yield* Effect.annotateCurrentSpan("outcome", state)
    const message = error !== undefined ? { message: reason } : {}
    yield* ctx.journal.finishChunk(chunk.idempotencyKey, { state, charged, estimated, ...message })
    yield* ctx.emit({ _tag: "ChunkFinished", provider: name, state, charged, estimated, ...message })
  })

/**
 * Runs a recorded or submitted chunk to its end. Its travelers are then done at this provider: each has an
 * outcome committed, or is set aside (stalled, provider stopped). `onSubmitted` runs once the provider has the
 * chunk (its job id is in the journal, or it was answered). Provider errors end the chunk; only journal errors
 * fail the effect (nothing is safe then).
 */
export const run = (
  ctx: StageContext,
  chunk: ChunkRecord,
  travelers: ReadonlyArray<Traveler>,
  onSubmitted: Effect.Effect<void> = Effect.void,
  /** recorded by this run just now (not adopted after a crash): if stopped before it is sent, it is forgotten */
  fresh = false
): Effect.Effect<void, JournalError> =>
  Effect.gen(function*() {
    const name = ctx.provider.capabilities.provider
    const people = travelers.map((t) => t.person)
    const stopped = ctx.state.stopped
    if (stopped !== undefined && chunk.state === "recorded") {
      yield* setAsideStopped(ctx, travelers, stopped)
      yield* ctx.budget.settle(chunk.reserved, 0)
      yield* Effect.annotateCurrentSpan("outcome", "not sent: provider stopped")
      return
    }
    const reader = yield* makeReader(ctx, chunk, people, fresh)
    const failure = yield* reader.read(onSubmitted).pipe(
      Effect.as(undefined),
      Effect.catchIf(isEnrichmentError, (error) => Effect.succeed(error))
    )
    if (failure !== undefined && stopsProvider(failure) && ctx.state.stopped === undefined) {
      ctx.state.stopped = failure
      yield* ctx.emit({ _tag: "ProviderStopped", provider: name, reason: `${failure._tag}: ${failure.message}` })
    }
    // Submitted, unreadable for `stallAfter`: still submitted in the journal (a resume reads it again) and its
    // reservation kept (it may cost that much). Its unanswered people are set aside in this attempt.
    if (failure !== undefined && reader.job !== undefined && isReadError(failure)) {
      const reason = `stalled: ${failure._tag}: ${failure.message}; the job is sent (and may be paid): ` +
        "enrich resume reads it again"
      const unanswered = travelers.filter((t) => !reader.answered.has(t.person.key))
      yield* setAside(ctx, unanswered, "failed", reason, chunk.idempotencyKey)
      yield* ProviderMetrics.countChunk(name, "stalled")
      yield* Effect.annotateCurrentSpan("outcome", "stalled")
      yield* ctx.emit({ _tag: "ChunkStalled", provider: name, people: people.length, reason })
      return
    }
    yield* settle(ctx, chunk, people, reader, failure)
  }).pipe(
    // the chunk's key is a hash of its people, never their identifiers
    Effect.withSpan("enrich.chunk", {
      attributes: {
        run: ctx.runId,
        provider: ctx.provider.capabilities.provider,
        chunk: chunk.idempotencyKey,
        people: travelers.length,
        state: chunk.state,
        path: chunk.path
      }
    })
  )

const ambiguousReason = "ambiguous after a crash: may have been sent; resume with --resubmit-ambiguous to resend"

const leaveAmbiguous = (ctx: StageContext, chunk: ChunkRecord, travelers: ReadonlyArray<Traveler>, reason: string) => {
  ctx.ambiguous.push(chunk.idempotencyKey)
  return Effect.zipRight(
    ProviderMetrics.countChunk(ctx.provider.capabilities.provider, "ambiguous"),
    setAside(ctx, travelers, "failed", reason, chunk.idempotencyKey)
  )
}

/**
 * A chunk a resumed run finds open. Submitted: read on. Recorded but never marked submitted: it may or may not
 * have reached the provider, so it is sent again only where that is safe (the provider dedupes by idempotency
 * key, or its job list says it never arrived), else reported as ambiguous and resent only on request.
 */
export const adopt = (
  ctx: StageContext,
  chunk: ChunkRecord,
  travelers: ReadonlyArray<Traveler>
): Effect.Effect<void, JournalError> =>
  Effect.gen(function*() {
    const { provider } = ctx
    const safety = provider.capabilities.resubmitSafety
    if (chunk.state !== "recorded" || safety === "idempotency-key" || ctx.resubmitAmbiguous) {
      return yield* run(ctx, chunk, travelers)
    }
    // A synchronous call leaves no job to find in a job list: without an idempotency key, one cut short by a
    // crash is as ambiguous as a submit to a provider with no way to know (Crustdata's sync path).
    if (chunk.path === "sync" || safety !== "job-list" || provider.findSubmitted === undefined) {
      return yield* leaveAmbiguous(ctx, chunk, travelers, ambiguousReason)
    }
    if (travelers.length === 0) return yield* run(ctx, chunk, travelers)
    const found = yield* Effect.either(provider.findSubmitted(requestOf(chunk, travelers.map((t) => t.person))))
    if (Either.isLeft(found)) {
      // the job list could not be read: as ambiguous as if there were none
      return yield* leaveAmbiguous(
        ctx,
        chunk,
        travelers,
        `${ambiguousReason} (job list unreadable: ${found.left.message})`
      )
    }
    if (Option.isNone(found.right)) return yield* run(ctx, chunk, travelers) // it never arrived: sending is safe
    const ref = found.right.value
    yield* ctx.journal.markSubmitted(chunk.idempotencyKey, ref)
    yield* run(ctx, new ChunkRecord({ ...chunk, state: "submitted", job: ref }), travelers)
  })

/** How long a paid job is read again after read errors before its chunk is left stalled (see Options.stallAfter). */
export const defaultStallAfter = Duration.minutes(10)
