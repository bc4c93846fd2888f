/**
 * The waterfall: providers in the user's order; each person goes to the next provider only for the fields
 * still missing under the stop policy, only if that provider takes their identifier kind, within the credit
 * budget. Every provider works at once: a person settled at one goes on to the next straight away. The journal
 * is the run's state (every chunk, page and outcome is written there first), so memory holds only what is in
 * flight and a run can be resumed after a crash without losing a result or paying twice.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Budget } from "./Budget.js"
import type * as ChunkPlan from "./ChunkPlan.js"
import type { Field } from "./Contact.js"
import { ContactProviders, type ContactProviderService, type Person } from "./ContactProvider.js"
import * as CostModel from "./CostModel.js"
import { type EnrichmentError, InvalidRequest } from "./EnrichmentError.js"
import type { IdentifierKind, PersonKey } from "./Identifier.js"
import * as Chunks from "./internal/waterfall/chunk.js"
import type { StageContext, Traveler } from "./internal/waterfall/chunk.js"
import * as Stages from "./internal/waterfall/stage.js"
import * as Tally from "./internal/waterfall/tally.js"
import { type ChunkRecord, Journal, type JournalError, type JournalService, type SetAside } from "./Journal.js"
import type { Merged, StopPolicy } from "./Merge.js"
import { Failed, providerOf, type ProviderOutcome } from "./PersonResult.js"
import * as Route from "./Route.js"

/**
 * The people of a run, read as a stream so that no list is held: the worker reads them from its ledger page by
 * page; `peopleOf` wraps an array for small lists and tests.
 *
 * @since 0.1.0 @category Models
 */
export interface People {
  /** deduplicated, valid people (the first row of each PersonKey), in input order */
  readonly stream: Stream.Stream<Person, JournalError>
  /** the people with these keys, in any order: the members of chunks a resumed run adopts */
  readonly byKeys: (keys: ReadonlyArray<PersonKey>) => Effect.Effect<ReadonlyArray<Person>, JournalError>
  /** how many `stream` gives (sizes the providers' chunk plans) */
  readonly count: number
  /** how many of them there are of each identifier kind, when known (weighs the kinds for `order: "auto"`) */
  readonly byKind?: ReadonlyMap<IdentifierKind, number>
}

/** An in-memory `People`. @since 0.1.0 @category Constructors */
export const peopleOf = (people: ReadonlyArray<Person>): People => {
  const byKey = new Map(people.map((p) => [p.key, p]))
  const byKind = new Map<IdentifierKind, number>()
  for (const p of people) byKind.set(p.identifier.kind, (byKind.get(p.identifier.kind) ?? 0) + 1)
  return {
    byKind,
    stream: Stream.fromIterable(people),
    byKeys: (keys) =>
      Effect.succeed(keys.flatMap((k) => {
        const p = byKey.get(k)
        return p === undefined ? [] : [p]
      })),
    count: people.length
  }
}

/** @since 0.1.0 @category Models */
export interface Options {
  readonly runId: string
  readonly people: People
  /** provider names, in waterfall order (with `order: "auto"`, the providers to choose the order of) */
  readonly providers: ReadonlyArray<string>
  readonly fields: readonly [Field, ...Array<Field>]
  readonly stopPolicy?: StopPolicy
  /**
   * "given" (default): providers are asked in the order of `providers`. "auto": in the order of least expected
   * credits (`CostModel.chooseOrder`: per field and identifier kind, expected cost per value found under each
   * provider's billing), learnt from `statistics` and the reference priors; the choice is emitted
   * (`OrderChosen`) and returned (`Result.order`). To resume such a run, pass the chosen order as `providers`
   * with "given": a new choice from newer statistics could differ from the one its people followed.
   */
  readonly order?: "given" | "auto"
  /** for `order: "auto"`: the outcomes observed so far (e.g. the ledger's history); default none, priors alone */
  readonly statistics?: CostModel.Statistics
  /** reuse outcomes bought within this age instead of buying them again (default 30 days; 0 disables) */
  readonly cacheMaxAge?: Duration.DurationInput
  /**
   * A person another run is asking a provider about right now (an open chunk of another run in the journal) is
   * waited for, checking `every` (default 5 seconds), and answered with what that run buys instead of being
   * bought twice; after `atMost` (default 30 minutes) without an answer, or for chunks unchanged that long (a
   * run that stopped), they are sent anyway. Off when `cacheMaxAge` is 0.
   */
  readonly waitForOtherRuns?: { readonly every: Duration.DurationInput; readonly atMost: Duration.DurationInput }
  /**
   * chunks in flight per provider (default: the provider's active-job cap plus one waiting for a slot; else,
   * for a paced provider, what its start limit keeps busy (`ChunkPlan.usefulConcurrency`); else 4)
   */
  readonly concurrency?: number
  /**
   * Unless `concurrency` is given, chunks in flight per provider are also kept to about this many people (default
   * 50,000): a provider whose jobs are slow but not capped (Fiber) would otherwise hold most of a long list in
   * memory at once.
   */
  readonly maxPeopleInFlight?: number
  /**
   * When this waterfall is one of several parts of a run worked at the same time (a worker's shards): which one.
   * A paced provider's starts are shared among them: each plans its chunks on its share of the start limit and
   * starts each in the minute its plan gives. Otherwise each would plan as if it had every start, and together
   * they would ask for `of` times the starts the plan needs (and take as much longer).
   */
  readonly partOfRun?: ChunkPlan.Part
  /** at most this many people per chunk (default: the provider's cap, or `ChunkPlan`'s sizes when paced) */
  readonly chunkSize?: number
  /**
   * How long a partly filled chunk waits with nobody arriving (people settled by earlier providers) before it
   * is sent (default 5 seconds); while people keep arriving, it waits at most six times that.
   */
  readonly flushAfter?: Duration.DurationInput
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
  /**
   * For comparisons only (benchmarks): each provider starts when the one before has finished with everyone,
   * as runs did before providers worked at once. Holds the people between providers in memory.
   */
  readonly stageBarrier?: boolean
  readonly onEvent?: (event: Event) => Effect.Effect<void>
  /** once per person, when the waterfall is done with them (in no particular order) */
  readonly onSettled?: (settled: Settled) => Effect.Effect<void>
}

/** A person the waterfall is done with. */
export interface Settled {
  readonly key: PersonKey
  /** the outcome at each provider that answered them (journaled, this run), in provider order */
  readonly outcomes: ReadonlyArray<ProviderOutcome>
  readonly merged: Merged
  /** providers that set them aside this attempt (budget, provider stopped, chunk stalled or ambiguous) */
  readonly setAside: ReadonlyArray<SetAside>
}

/** Progress, for a live display or logs. */
export type Event =
  /** `order: "auto"`: the order the run follows, and the numbers behind it (emitted first) */
  | { readonly _tag: "OrderChosen"; readonly choice: CostModel.OrderChoice }
  | { readonly _tag: "StageStarted"; readonly provider: string }
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
  /** people the waterfall is done with (counted once each, those settled before a resume included) */
  | { readonly _tag: "PeopleDone"; readonly people: number }
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
  readonly providers: ReadonlyArray<ProviderSummary>
  /** people never sent to a provider that would have been asked, because the budget ran out */
  readonly unsentForBudget: number
  /** chunks left unsent after a crash because resending could pay twice (see `resubmitAmbiguous`) */
  readonly ambiguousChunks: ReadonlyArray<string>
  /** `estimated`: the part of `spent` that is our estimate (the sum of the providers' `estimatedCredits`) */
  readonly credits: { readonly spent: number; readonly estimated: number; readonly limit: number | undefined }
  /** with `order: "auto"`: the order chosen and the numbers behind it */
  readonly order?: CostModel.OrderChoice
}

/** See `Options.maxPeopleInFlight`. */
const defaultMaxPeopleInFlight = 50_000

/** People read from the journal at once when deciding where they go. */
const routingBatch = 500
/** Room on each provider's queue: enough to fill its chunks, bounded so that memory is. */
const queueRoom = (provider: ContactProviderService) => 2 * provider.capabilities.maxBatch

const resolveProviders = (registry: ReadonlyMap<string, ContactProviderService>, names: ReadonlyArray<string>) =>
  Effect.forEach(names, (name) => {
    const service = registry.get(name)
    return service !== undefined ? Effect.succeed(service) : Effect.fail(
      new InvalidRequest({
        provider: name,
        message: `unknown provider "${name}" (configured: ${[...registry.keys()].join(", ") || "none"})`
      })
    )
  })

/**
 * Where people go next: each batch's outcomes are read from the journal, then each person is sent to the next
 * provider `Route.next` names, or is done (tallied, `onSettled`). `from`: the provider that settled them, so
 * that nobody is sent back (journal and routing agree on that; the check keeps a run from waiting on itself).
 */
const makeDispatch = (deps: {
  readonly runId: string
  readonly plan: Route.Plan
  readonly journal: JournalService
  readonly stages: () => ReadonlyArray<Stages.Stage>
  readonly tally: Tally.Tally
  readonly unsent: { count: number }
  /** providers whose open chunks (adopted on resume) hold a person, until each settles */
  readonly heldAt: Map<PersonKey, Set<string>>
  readonly setAsideWhileHeld: Map<PersonKey, ReadonlyArray<SetAside>>
  readonly options: Options
}) =>
(from: number) =>
(travelers: ReadonlyArray<Traveler>): Effect.Effect<void, JournalError> =>
  Effect.gen(function*() {
    const { journal, plan, tally } = deps
    if (travelers.length === 0) return
    const here = deps.plan.providers[from]?.provider
    // After a crash a person can be in open chunks at two providers (an ambiguous one at the first, a job at the
    // next): they go on only from the last of those chunks to settle, never to a provider that already has them.
    // What the earlier chunks set them aside for travels with them to the last one.
    const moving = travelers.filter((traveler) => {
      const key = traveler.person.key
      const holders = deps.heldAt.get(key)
      if (holders === undefined) return true
      if (here !== undefined) holders.delete(here)
      const earlier = deps.setAsideWhileHeld.get(key) ?? []
      if (holders.size > 0) {
        deps.setAsideWhileHeld.set(key, [...earlier, ...traveler.setAside])
        return false
      }
      deps.heldAt.delete(key)
      deps.setAsideWhileHeld.delete(key)
      traveler.setAside.push(...earlier.filter((s) => !traveler.setAside.includes(s)))
      return true
    })
    if (moving.length === 0) return
    const known = yield* journal.outcomesOfRun(deps.runId, moving.map((t) => t.person.key))
    let done = 0
    // people going on, per provider index: offered a batch at a time once everyone here is placed
    const onwards = new Map<number, Array<Stages.Entry>>()
    for (const traveler of moving) {
      const { person } = traveler
      const outcomes = known.get(person.key) ?? []
      const best = Route.bestPerProvider(plan, outcomes.map((o) => o.outcome))
      const merged = Route.mergedOf(plan, person.key, best)
      const answered = new Set([...outcomes.map((o) => o.provider), ...traveler.setAside.map((s) => s.provider)])
      const stop = Route.next(plan, person, merged, answered)
      if (stop !== undefined && stop.index > from) {
        const entries = onwards.get(stop.index)
        if (entries === undefined) onwards.set(stop.index, [{ traveler, fields: stop.fields }])
        else entries.push({ traveler, fields: stop.fields })
        continue
      }
      done++
      for (const { ending, provider } of Route.endingsOf(plan, outcomes, traveler.setAside)) {
        tally.count(provider, ending)
      }
      if (traveler.setAside.some((s) => s.kind === "budget")) deps.unsent.count++
      if (deps.options.onSettled !== undefined) {
        yield* deps.options.onSettled({ key: person.key, outcomes: best, merged, setAside: traveler.setAside })
      }
    }
    for (const [index, entries] of [...onwards].sort(([a], [b]) => a - b)) {
      yield* deps.stages()[index]!.offerAll(entries)
    }
    if (done > 0 && deps.options.onEvent !== undefined) {
      yield* deps.options.onEvent({ _tag: "PeopleDone", people: done })
    }
  })

const summaryOf = (
  provider: string,
  counts: Tally.Counts,
  credits: { readonly charged: number; readonly estimated: number } | undefined
): ProviderSummary => ({
  provider,
  requested: counts.requested,
  cached: counts.cached,
  found: counts.found,
  notFound: counts.notFound,
  failed: counts.failed,
  rejected: counts.rejected,
  failures: [...counts.reasons].map(([reason, g]) => ({ reason, people: g.people, chunks: g.chunks.size }))
    .sort((a, b) => b.people - a.people),
  credits: credits?.charged ?? 0,
  estimatedCredits: credits?.estimated ?? 0
})

/**
 * One result for a list worked as several parts (e.g. the shards of a run on several workers): per provider the
 * counts and credits add up, failures are grouped by reason again, and the budget's limit is the parts' own.
 *
 * @since 0.1.0 @category Combinators
 */
export const combineResults = (parts: ReadonlyArray<Result>): Result => {
  const byProvider = new Map<string, ProviderSummary>()
  for (const part of parts) {
    for (const s of part.providers) {
      const was = byProvider.get(s.provider)
      if (was === undefined) {
        byProvider.set(s.provider, s)
        continue
      }
      const failures = new Map(was.failures.map((f) => [f.reason, f]))
      for (const f of s.failures) {
        const had = failures.get(f.reason)
        failures.set(
          f.reason,
          had === undefined ? f : {
            reason: f.reason,
            people: had.people + f.people,
            chunks: had.chunks + f.chunks
          }
        )
      }
      byProvider.set(s.provider, {
        provider: s.provider,
        requested: was.requested + s.requested,
        cached: was.cached + s.cached,
        found: was.found + s.found,
        notFound: was.notFound + s.notFound,
        failed: was.failed + s.failed,
        rejected: was.rejected + s.rejected,
        failures: [...failures.values()].sort((a, b) => b.people - a.people),
        credits: was.credits + s.credits,
        estimatedCredits: was.estimatedCredits + s.estimatedCredits
      })
    }
  }
  const providers = [...byProvider.values()]
  return {
    providers,
    unsentForBudget: parts.reduce((n, p) => n + p.unsentForBudget, 0),
    ambiguousChunks: parts.flatMap((p) => p.ambiguousChunks),
    credits: {
      spent: providers.reduce((n, s) => n + s.credits, 0),
      estimated: providers.reduce((n, s) => n + s.estimatedCredits, 0),
      limit: parts[0]?.credits.limit
    }
  }
}

/**
 * The providers in the order the run follows: as given, or as the cost model chooses (`order: "auto"`, announced
 * with an `OrderChosen` event).
 */
const orderProviders = (options: Options, given: ReadonlyArray<ContactProviderService>) =>
  Effect.gen(function*() {
    if (options.order !== "auto") return { providers: given, choice: undefined }
    const choice = CostModel.chooseOrder(given.map((p) => p.capabilities), options.fields, options.statistics ?? [], {
      ...(options.stopPolicy === undefined ? {} : { policy: options.stopPolicy }),
      ...(options.people.byKind === undefined ? {} : { peopleByKind: options.people.byKind })
    })
    const providers = CostModel.inOrder(
      given.map((service) => ({ provider: service.capabilities.provider, service })),
      choice.providers
    ).map((p) => p.service)
    if (options.onEvent !== undefined) yield* options.onEvent({ _tag: "OrderChosen", choice })
    return { providers, choice }
  })

/**
 * What a resumed run already holds: its open chunks (at the run's providers), their reservations and its charges,
 * adopted by the budget, and who each open chunk holds. People set aside by an earlier attempt are asked about
 * again.
 */
const resumeState = (runId: string, names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const journal = yield* Journal
    const budget = yield* Budget
    yield* journal.clearSetAside(runId)
    const open = (yield* journal.openChunks(runId)).filter((c) => names.includes(c.provider))
    const before = yield* journal.creditsOfRun(runId)
    yield* budget.adopt(before.reduce((n, c) => n + c.reserved, 0), before.reduce((n, c) => n + c.charged, 0))
    const heldAt = new Map<PersonKey, Set<string>>()
    for (const chunk of open) {
      for (const key of chunk.keys) heldAt.set(key, (heldAt.get(key) ?? new Set()).add(chunk.provider))
    }
    return { open, heldAt }
  })

/** One stage per provider, in the run's order, each handing the people it settles to `dispatch(its index)`. */
const makeStages = (
  options: Options,
  providers: ReadonlyArray<ContactProviderService>,
  dispatch: ReturnType<typeof makeDispatch>,
  /** the chunks reported ambiguous, which every stage adds to */
  ambiguous: Array<string>
) =>
  Effect.gen(function*() {
    const journal = yield* Journal
    const budget = yield* Budget
    return yield* Effect.forEach(providers, (provider, index) => {
      const ctx: StageContext = {
        runId: options.runId,
        provider,
        journal,
        budget,
        emit: options.onEvent ?? (() => Effect.void),
        stallAfter: options.stallAfter ?? Chunks.defaultStallAfter,
        resubmitAmbiguous: options.resubmitAmbiguous === true,
        state: { stopped: undefined },
        ambiguous
      }
      return Stages.make(ctx, {
        people: options.people.count,
        part: options.partOfRun,
        concurrency: options.concurrency,
        maxPeopleInFlight: options.maxPeopleInFlight ?? defaultMaxPeopleInFlight,
        chunkSize: options.chunkSize,
        flushAfter: options.flushAfter ?? "5 seconds",
        cacheMaxAge: options.cacheMaxAge ?? Duration.days(30),
        waitForOtherRuns: options.waitForOtherRuns ?? { every: "5 seconds", atMost: "30 minutes" },
        capacity: options.stageBarrier === true ? undefined : queueRoom(provider),
        dispatch: dispatch(index)
      })
    })
  })

/**
 * The run's flow: the people not held by an open chunk go where the journal says they are (a new run: the first
 * provider), each stage works its adopted chunks and what arrives, and provider k has no more people once the
 * source and the providers before it are done (ends chain forward). With `stageBarrier`, one after another.
 */
const flow = (
  options: Options,
  names: ReadonlyArray<string>,
  stages: ReadonlyArray<Stages.Stage>,
  dispatch: ReturnType<typeof makeDispatch>,
  resumed: { readonly open: ReadonlyArray<ChunkRecord>; readonly heldAt: ReadonlyMap<PersonKey, unknown> }
) =>
  Effect.gen(function*() {
    const adopted = yield* adoptOpen(resumed.open, options.people)
    const held = new Set(resumed.heldAt.keys())
    const source = options.people.stream.pipe(
      Stream.filter((person) => !held.has(person.key)),
      Stream.grouped(routingBatch),
      Stream.runForEach((batch) => dispatch(-1)([...batch].map((person) => ({ person, setAside: [] })))),
      Effect.zipRight(stages[0]?.end ?? Effect.void)
    )
    const working = stages.map((stage, index) =>
      Effect.zipRight(
        stage.run(adopted.filter((a) => a.chunk.provider === names[index])),
        stages[index + 1]?.end ?? Effect.void
      )
    )
    yield* Effect.all([source, ...working], {
      concurrency: options.stageBarrier === true ? 1 : "unbounded",
      discard: true
    })
  })

/**
 * Runs the waterfall to the end (or to the budget), resuming whatever the journal holds for `runId`: chunks
 * left open are adopted, people already settled are counted, everyone else is sent where `Route.next` says.
 *
 * @since 0.1.0 @category Combinators
 */
export const run = (
  options: Options
): Effect.Effect<Result, JournalError | EnrichmentError, ContactProviders | Journal | Budget> =>
  Effect.gen(function*() {
    const journal = yield* Journal
    const budget = yield* Budget
    const given = yield* resolveProviders(yield* ContactProviders, options.providers)
    const { choice, providers } = yield* orderProviders(options, given)
    // provider names in the order the run follows
    const names = providers.map((p) => p.capabilities.provider)
    const resumed = yield* resumeState(options.runId, names)

    const tally = Tally.make()
    const unsent = { count: 0 }
    const ambiguous: Array<string> = []
    const stages: Array<Stages.Stage> = []
    const dispatch = makeDispatch({
      runId: options.runId,
      plan: {
        providers: providers.map((p) => p.capabilities),
        fields: options.fields,
        ...(options.stopPolicy === undefined ? {} : { policy: options.stopPolicy })
      },
      journal,
      stages: () => stages,
      tally,
      unsent,
      heldAt: resumed.heldAt,
      setAsideWhileHeld: new Map(),
      options
    })
    // dispatch reads the stages once people flow, after they are all built
    stages.push(...(yield* makeStages(options, providers, dispatch, ambiguous)))
    yield* flow(options, names, stages, dispatch, resumed)

    const credits = new Map((yield* journal.creditsOfRun(options.runId)).map((c) => [c.provider, c]))
    const summaries = names.map((name) => summaryOf(name, tally.counts(name), credits.get(name)))
    const snapshot = yield* budget.snapshot
    return {
      providers: summaries,
      unsentForBudget: unsent.count,
      ambiguousChunks: ambiguous,
      credits: {
        spent: snapshot.spent,
        estimated: summaries.reduce((n, s) => n + s.estimatedCredits, 0),
        limit: snapshot.limit
      },
      ...(choice === undefined ? {} : { order: choice })
    }
  }).pipe(Effect.withSpan("enrich.waterfall", {
    attributes: { run: options.runId, providers: options.providers.join(","), people: options.people.count }
  }))

/**
 * Open chunks with their people, as travelers (nothing set aside: a resume starts that afresh). In the chunk's
 * own order: a request sent again must be the same request (TheHog refuses an Idempotency-Key reused with
 * another body).
 */
const adoptOpen = (open: ReadonlyArray<ChunkRecord>, people: People) =>
  Effect.forEach(open, (chunk) =>
    Effect.map(people.byKeys(chunk.keys), (members) => {
      const byKey = new Map(members.map((person) => [person.key, person]))
      return {
        chunk,
        travelers: chunk.keys.flatMap((key): Array<Traveler> => {
          const person = byKey.get(key)
          return person === undefined ? [] : [{ person, setAside: [] }]
        })
      }
    }))

/** `Options` with the people as an array. */
export type CollectingOptions = Omit<Options, "people" | "onSettled"> & { readonly people: ReadonlyArray<Person> }

/** What `runCollecting` gathers besides the run's result. */
export interface Collected extends Omit<Result, "unsentForBudget"> {
  readonly merged: ReadonlyMap<PersonKey, Merged>
  /** every person's outcomes in provider order: the journaled ones, and a `Failed` for each failed set-aside */
  readonly outcomes: ReadonlyMap<PersonKey, ReadonlyArray<ProviderOutcome>>
  /** people never sent to a provider that would have been asked, because the budget ran out */
  readonly unsentForBudget: ReadonlyArray<PersonKey>
}

/**
 * `run` over an array, gathering every person's answer in memory: for small lists, tests and examples (the
 * worker streams its people from its ledger and writes the output from there instead).
 *
 * @since 0.1.0 @category Combinators
 */
export const runCollecting = (
  options: CollectingOptions
): Effect.Effect<Collected, JournalError | EnrichmentError, ContactProviders | Journal | Budget> =>
  Effect.gen(function*() {
    const merged = new Map<PersonKey, Merged>()
    const outcomes = new Map<PersonKey, ReadonlyArray<ProviderOutcome>>()
    const unsent: Array<PersonKey> = []
    // the order outcomes are listed in: the run's (chosen, with `order: "auto"`, before anyone settles)
    let order = options.providers
    const result = yield* run({
      ...options,
      people: peopleOf(options.people),
      onEvent: (event) => {
        if (event._tag === "OrderChosen") order = event.choice.providers
        return options.onEvent?.(event) ?? Effect.void
      },
      onSettled: (settled) =>
        Effect.sync(() => {
          merged.set(settled.key, settled.merged)
          const failed = settled.setAside.filter((s) =>
            s.kind === "failed" && !settled.outcomes.some((o) => providerOf(o) === s.provider)
          )
          const all = [
            ...settled.outcomes,
            ...failed.map((s) => new Failed({ key: s.key, provider: s.provider, reason: s.reason }))
          ]
          outcomes.set(
            settled.key,
            all.sort((a, b) => order.indexOf(providerOf(a) ?? "") - order.indexOf(providerOf(b) ?? ""))
          )
          if (settled.setAside.some((s) => s.kind === "budget")) unsent.push(settled.key)
        })
    })
    return { ...result, merged, outcomes, unsentForBudget: unsent }
  })

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
): ReadonlyArray<Quote> => {
  const byKind = new Map<IdentifierKind, number>()
  for (const p of people) byKind.set(p.identifier.kind, (byKind.get(p.identifier.kind) ?? 0) + 1)
  return quoteByKind(byKind, providers, fields)
}

/**
 * `quote` from how many distinct people there are of each identifier kind: a list can be priced while it is
 * read, without holding it.
 *
 * @since 0.1.0 @category Combinators
 */
export const quoteByKind = (
  peopleByKind: ReadonlyMap<IdentifierKind, number>,
  providers: ReadonlyArray<ContactProviderService>,
  fields: ReadonlyArray<Field>
): ReadonlyArray<Quote> =>
  providers.map((provider) => {
    const asked = fields.filter((f) => provider.capabilities.fields.includes(f))
    const n = asked.length === 0
      ? 0
      : provider.capabilities.identifierKinds.reduce((sum, kind) => sum + (peopleByKind.get(kind) ?? 0), 0)
    return {
      provider: provider.capabilities.provider,
      people: n,
      fields: asked,
      maxCredits: n * provider.capabilities.cost.maxPerPerson(asked, "batch")
    }
  })
