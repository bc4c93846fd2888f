/**
 * One provider's part of a run: people arrive on a bounded queue as earlier providers settle them; they are
 * answered from outcomes bought by earlier runs where possible, else gathered into chunks (sized by the
 * provider's plan), which run within the provider's own concurrency while the other providers work at the same
 * time. A partly filled chunk is sent after a short wait (so that stragglers are not held) only if the provider
 * has a free slot: while every slot is busy it keeps filling, since a small chunk would hold a scarce slot (an
 * active job, a start) for as long as a full one.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as GroupBy from "effect/GroupBy"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as ChunkPlan from "../../ChunkPlan.js"
import type { Field } from "../../Contact.js"
import { chunkKey } from "../../ContactProvider.js"
import { ChunkRecord, type JournalError } from "../../Journal.js"
import * as ProviderMetrics from "../../ProviderMetrics.js"
import * as Chunks from "./chunk.js"
import type { StageContext, Traveler } from "./chunk.js"

/** A traveler sent to this provider, for these fields. */
export interface Entry {
  readonly traveler: Traveler
  readonly fields: readonly [Field, ...Array<Field>]
}

export interface StageOptions {
  /** people in the whole list: sizes the plan's chunks (an upper bound of who reaches this provider) */
  readonly people: number
  /** see `Waterfall.Options.partOfRun` */
  readonly part: ChunkPlan.Part | undefined
  readonly concurrency: number | undefined
  /** at most about this many people in chunks in flight at once (bounds memory for long lists) */
  readonly maxPeopleInFlight: number
  readonly chunkSize: number | undefined
  /** how long a partly filled chunk waits for more people before it is sent (and then for a free slot) */
  readonly flushAfter: Duration.DurationInput
  readonly cacheMaxAge: Duration.DurationInput
  /** see `Waterfall.Options.waitForOtherRuns` */
  readonly waitForOtherRuns: { readonly every: Duration.DurationInput; readonly atMost: Duration.DurationInput }
  /** room on the queue (unbounded when stages run one after another) */
  readonly capacity: number | undefined
  /** travelers done here go on: to a later provider or out of the waterfall */
  readonly dispatch: (travelers: ReadonlyArray<Traveler>) => Effect.Effect<void, JournalError>
}

export interface Stage {
  /** people arriving at this provider (a batch at once: an offer per person cost more than routing them) */
  readonly offerAll: (entries: ReadonlyArray<Entry>) => Effect.Effect<void>
  /** no more people will arrive */
  readonly end: Effect.Effect<void>
  /** works until the queue has ended and every chunk is settled; `adopted`: open chunks a resume found */
  readonly run: (
    adopted: ReadonlyArray<{ readonly chunk: ChunkRecord; readonly travelers: ReadonlyArray<Traveler> }>
  ) => Effect.Effect<void, JournalError>
}

/** A partly filled chunk that keeps receiving people is sent after at most this many `flushAfter`s. */
const flushAtMost = 6

/**
 * Waits until nobody has arrived for `flushAfter`, or at most `flushAtMost` times that. Timed from the last
 * arrival, not from the chunk's first: people arriving steadily but slowly (a busy client routing a long list)
 * would otherwise be cut into short chunks, and at a paced provider a short chunk spends a start a full one needed.
 */
const quietFor = (flushAfter: Duration.DurationInput, lastArrival: () => number) => {
  const flushMillis = Duration.toMillis(flushAfter)
  return Effect.flatMap(Clock.currentTimeMillis, (began) => {
    const wait: Effect.Effect<void> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const until = Math.min(lastArrival() + flushMillis, began + flushMillis * flushAtMost)
      return now >= until ? Effect.void : Effect.zipRight(Effect.sleep(until - now), wait)
    })
    return wait
  })
}

/** Sleeps until the clock reads `at` (ms), if it does not yet. */
const untilMillis = (at: number) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => now >= at ? Effect.void : Effect.sleep(at - now))

/** Submits in flight to a provider that cannot tell whether one arrived: each is ambiguous after a crash. */
const submitsAtOnce = 3

/** The plan's chunk sizes, one after another, then full chunks. */
const sizesOf = (ctx: StageContext, options: StageOptions) => {
  const { maxActiveJobs } = ctx.provider.capabilities
  const maxBatch = Math.max(1, Math.min(options.chunkSize ?? Infinity, ctx.provider.capabilities.maxBatch))
  // a provider that caps active jobs queues chunks for a slot anyway: full chunks are best there
  const pacing = maxActiveJobs === undefined ? ctx.provider.capabilities.pacing : undefined
  const planned = ChunkPlan.plan(options.people, maxBatch, pacing, options.part)
  let i = 0
  // the largest chunk the plan sends (its first), so that the cap on people in flight counts chunks as they are
  const largest = planned.reduce((a, b) => Math.max(a, b.size), 0) || maxBatch
  // A part of a run sharing a paced provider's starts with the others starts its k-th chunk no earlier than the
  // plan's window for it: taking more than its share early would push another part's large chunks a minute later.
  const sharesStarts = pacing !== undefined && options.part !== undefined && options.part.of > 1
  const lastWindow = planned[planned.length - 1]?.window ?? 0
  /** when the k-th chunk's window opens, ms from the stage's start */
  const opensAt = (k: number) =>
    sharesStarts ? ChunkPlan.windowStartMillis(pacing, planned[k]?.window ?? lastWindow) : 0
  // ... and is formed no sooner than `formLead` before that: people routed, looked up and chunked for a later
  // minute at the start took the CPU the first minute's recordings and submits needed (see `formsAt`)
  const formLead = sharesStarts ? ChunkPlan.windowStartMillis(pacing, 1) / formLeadPerWindow : 0
  const formsAt = (k: number) => Math.max(0, opensAt(k) - formLead)
  /** the next chunk formed: its place in the plan, and its size */
  const next = () => {
    const index = i++
    return { index, size: planned[index]?.size ?? maxBatch }
  }
  return { maxBatch, pacing, largest, sharesStarts, opensAt, formsAt, next }
}

/**
 * A part's chunk of a later window is formed this fraction of a window before it opens (10 s of a minute): long
 * enough to route, look up and record it (well under a second of CPU), and not at the start, where forming every
 * window's chunks at once delayed the first minute's last start by a second or more, and with it the run's end.
 */
const formLeadPerWindow = 6

/**
 * Outcomes bought by earlier runs answer whom they can (recorded as this run's); the rest are returned, to be sent.
 * `afterOthers`: for people another run is asking this provider about right now, waits until it is done with
 * them, then answers them the same way from what it bought.
 */
const makeCacheAnswer = (ctx: StageContext, options: StageOptions) => {
  const name = ctx.provider.capabilities.provider
  const answer = (
    fields: readonly [Field, ...Array<Field>],
    travelers: ReadonlyArray<Traveler>
  ): Effect.Effect<ReadonlyArray<Traveler>, JournalError> =>
    Effect.gen(function*() {
      if (!cacheOn(options)) return travelers
      const cached = yield* ctx.journal.outcomesFor(
        name,
        travelers.map((t) => t.person.key),
        fields,
        options.cacheMaxAge
      )
      const hits = travelers.filter((t) => cached.has(t.person.key))
      yield* ProviderMetrics.countCached(name, hits.length)
      if (hits.length > 0) {
        yield* ctx.journal.reuse(ctx.runId, name, fields, hits.map((t) => cached.get(t.person.key)!))
        yield* options.dispatch(hits)
      }
      return travelers.filter((t) => !cached.has(t.person.key))
    })
  const every = Duration.decode(options.waitForOtherRuns.every)
  const atMost = Duration.toMillis(options.waitForOtherRuns.atMost)
  /** those of `travelers` that open chunks of other runs (changed within `atMost`) hold at this provider */
  const heldElsewhere = (fields: ReadonlyArray<Field>, travelers: ReadonlyArray<Traveler>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.map(
        ctx.journal.heldElsewhere(name, travelers.map((t) => t.person.key), fields, ctx.runId, now - atMost),
        (held) => travelers.filter((t) => held.has(t.person.key))
      ))
  const afterOthers = (fields: readonly [Field, ...Array<Field>], held: ReadonlyArray<Traveler>) =>
    Effect.gen(function*() {
      // until no other run holds them (their chunks settled, or went quiet for `atMost`: a run that stopped);
      // whoever that run did not answer (failed there) is returned, to be sent from here
      // (looked at first: people returned because another run has just answered them need no wait)
      const started = yield* Clock.currentTimeMillis
      let waiting = yield* heldElsewhere(fields, held)
      while (waiting.length > 0 && (yield* Clock.currentTimeMillis) - started < atMost) {
        yield* Effect.sleep(every)
        waiting = yield* heldElsewhere(fields, waiting)
      }
      // after `atMost` those still held are sent even so: waiting again could wait forever
      return { travelers: yield* answer(fields, held), waitedLongEnough: waiting.length > 0 }
    })
  return { answer, afterOthers }
}

/** Reuse across runs, and with it the wait for people other runs are asking about, is off with a cache age of 0. */
const cacheOn = (options: StageOptions) => Duration.toMillis(options.cacheMaxAge) > 0

/**
 * Sends a chunk formed from arrivals: checked against the provider's stop and the budget, recorded, run; then
 * its people go on (those the budget or the stop kept back, set aside).
 */
const makeSender = (
  ctx: StageContext,
  options: StageOptions,
  syncPath: boolean,
  /** when the plan's window for the k-th chunk sent opens, ms from the stage's start */
  opensAt: (k: number) => number,
  /** the stage's start (clock ms): the origin of `opensAt`, as of the forming gate */
  startedAt: number
) =>
  Effect.gen(function*() {
    const { journal, provider } = ctx
    const name = provider.capabilities.provider
    const unitCost = (fields: ReadonlyArray<Field>) => provider.capabilities.cost.maxPerPerson(fields, "batch")
    // A provider that gives no way to know whether a submit arrived leaves a chunk between "recorded" and
    // "submitted" ambiguous after a crash: at most `submitsAtOnce` are (their jobs still run in parallel).
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

    const atMost = Duration.toMillis(options.waitForOtherRuns.atMost)
    let budgetReached = false
    // the k-th chunk of the plan waits for its window (see `sizesOf`), from the stage's start. By its place in the
    // plan, not by the order chunks reach this point: a small chunk of a later minute whose cache lookup ended
    // first took a start of the first minute, and the large chunk formed before it went out a minute late.
    const inItsWindow = (planIndex: number) => untilMillis(startedAt + opensAt(planIndex))
    return (
      fields: readonly [Field, ...Array<Field>],
      travelers: ReadonlyArray<Traveler>,
      /** record the chunk only if no other run holds its people (else they are returned, to wait) */
      unlessHeld: boolean,
      /** the chunk's place in the plan (`sizesOf`) */
      planIndex: number
    ): Effect.Effect<ReadonlyArray<Traveler>, JournalError> =>
      Effect.zipRight(
        inItsWindow(planIndex),
        oneAtATime((onSubmitted) =>
          Effect.gen(function*() {
            const stopped = ctx.state.stopped
            if (stopped !== undefined) {
              yield* Chunks.setAsideStopped(ctx, travelers, stopped)
              yield* options.dispatch(travelers)
              return [] as ReadonlyArray<Traveler>
            }
            const cost = unitCost(fields)
            const fits = budgetReached ? 0 : yield* ctx.budget.reserveUpTo(travelers.length, cost)
            if (fits < travelers.length) {
              const unsent = travelers.slice(fits)
              if (!budgetReached) yield* ctx.emit({ _tag: "BudgetReached", provider: name, unsent: unsent.length })
              budgetReached = true
              yield* Chunks.setAside(ctx, unsent, "budget", "budget reached before this person was sent")
            }
            let sent = travelers.slice(0, fits)
            // people another run has started asking about since they were checked: not sent, left to wait
            let held: ReadonlyArray<Traveler> = []
            while (sent.length > 0) {
              const keys = sent.map((t) => t.person.key)
              const path = syncPath ? "sync" as const : "batch" as const
              const chunk = {
                runId: ctx.runId,
                provider: name,
                idempotencyKey: chunkKey(name, keys, fields, path, ctx.runId),
                path,
                keys,
                fields,
                reserved: sent.length * cost
              }
              const recorded = unlessHeld && cacheOn(options)
                ? yield* journal.recordChunkUnlessHeld(
                  chunk,
                  (yield* Clock.currentTimeMillis) - atMost,
                  options.cacheMaxAge
                )
                : yield* journal.recordChunk(chunk)
              if (!(recorded instanceof ChunkRecord)) {
                const taken = sent.filter((t) => recorded.has(t.person.key))
                yield* ctx.budget.settle(taken.length * cost, 0)
                held = [...held, ...taken]
                sent = sent.filter((t) => !recorded.has(t.person.key))
                continue
              }
              yield* ProviderMetrics.countChunk(name, "recorded")
              // new: a resume adopts the open chunks it finds (their people are held), it never forms them again
              yield* Chunks.run(ctx, recorded, sent, onSubmitted, true)
              break
            }
            const heldKeys = new Set(held.map((t) => t.person.key))
            yield* options.dispatch(
              held.length === 0 ? travelers : travelers.filter((t) => !heldKeys.has(t.person.key))
            )
            return held
          })
        )
      )
  })

/**
 * How many chunks a stage works at once, and how many of them can run at the provider (`slots`); a chunk beyond
 * the slots waits for one to end. With an active-job cap, one chunk more than the cap: it waits on the provider's
 * slot, so a new job starts the moment one ends, while the finished chunk's results are still being read.
 */
const chunksInFlight = (ctx: StageContext, options: StageOptions, sizes: ReturnType<typeof sizesOf>) => {
  const { maxActiveJobs } = ctx.provider.capabilities
  const concurrency = options.concurrency ??
    Math.min(
      maxActiveJobs !== undefined
        ? maxActiveJobs + 1
        : sizes.pacing === undefined
        ? 4
        : ChunkPlan.usefulConcurrency(sizes.pacing, sizes.maxBatch),
      // a paced provider with slow jobs keeps hundreds of chunks busy: memory holds their people
      Math.max(1, Math.floor(options.maxPeopleInFlight / sizes.largest))
    )
  return { concurrency, slots: Math.max(1, Math.min(concurrency, maxActiveJobs ?? Infinity)) }
}

/** Completes once `ref` holds a value that `holds`. */
const once = (ref: SubscriptionRef.SubscriptionRef<number>, holds: (n: number) => boolean) =>
  ref.changes.pipe(Stream.filter(holds), Stream.take(1), Stream.runDrain)

/**
 * Chunks of people who need the same fields (a chunk asks one field set): as large as the plan says, or, once
 * due, whatever has arrived. A partly filled chunk is due once nobody has arrived for `flushAfter` (or
 * `flushAfter` × `flushAtMost` after it began, for a steady trickle), and then only once a slot is free. `busy`
 * counts the stage's chunks formed and not yet settled.
 */
const chunksOf = (
  entries: Stream.Stream<Entry>,
  stage: {
    readonly sizes: ReturnType<typeof sizesOf>
    readonly flushAfter: Duration.DurationInput
    readonly busy: SubscriptionRef.SubscriptionRef<number>
    readonly slots: number
  }
) =>
  Stream.unwrap(Effect.map(SubscriptionRef.make(0), (forming) => {
    let lastArrival = 0
    const due = Schedule.forever.pipe(Schedule.tapInput(() =>
      once(forming, (n) => n > 0).pipe(
        Effect.zipRight(quietFor(stage.flushAfter, () => lastArrival)),
        Effect.zipRight(once(stage.busy, (n) => n < stage.slots))
      )
    ))
    return entries.pipe(
      Stream.mapChunksEffect((arrived) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          lastArrival = now
          return Effect.as(SubscriptionRef.update(forming, (n) => n + arrived.length), arrived)
        })
      ),
      Stream.aggregateWithin(
        Sink.suspend(() => {
          const { index, size } = stage.sizes.next()
          return Sink.map(Sink.collectAllN<Entry>(size), (entries) => ({ planIndex: index, entries }))
        }),
        due
      ),
      Stream.filter((chunk) => Chunk.isNonEmpty(chunk.entries)),
      Stream.tap((chunk) =>
        Effect.zipRight(
          SubscriptionRef.update(forming, (n) => n - chunk.entries.length),
          SubscriptionRef.update(stage.busy, (n) => n + 1)
        )
      )
    )
  }))

export const make = (ctx: StageContext, options: StageOptions): Effect.Effect<Stage> =>
  Effect.gen(function*() {
    const { provider } = ctx
    const name = provider.capabilities.provider
    const sizes = sizesOf(ctx, options)
    // A part that forms chunks in their window's time (`formsAt`) holds no more than one chunk's people ahead:
    // a larger queue let routing run ahead into the later windows' people all the same.
    const capacity = options.capacity === undefined || !sizes.sharesStarts
      ? options.capacity
      : Math.min(options.capacity, sizes.largest)
    const queue = yield* (capacity === undefined
      ? Queue.unbounded<Option.Option<Entry>>()
      : Queue.bounded<Option.Option<Entry>>(capacity))
    const startedAt = yield* Clock.currentTimeMillis
    // A small list that fits one synchronous call (and one chunk) skips the job and its polling. Decided from the
    // whole list, so that a resumed run plans the same path for the chunks it forms afresh.
    const sync = provider.capabilities.sync
    const syncPath = sync !== undefined && options.people <= Math.min(sync.maxBatch, sizes.maxBatch)
    const cache = makeCacheAnswer(ctx, options)
    const send = yield* makeSender(ctx, options, syncPath, sizes.opensAt, startedAt)

    const { concurrency, slots } = chunksInFlight(ctx, options, sizes)

    // chunks formed and not yet settled
    const busy = yield* SubscriptionRef.make(0)
    const formed = Stream.fromQueue(queue).pipe(
      Stream.takeWhile(Option.isSome),
      Stream.map((entry) => entry.value),
      // little held between the queue and the chunks, so that memory stays bounded by the queue
      Stream.groupByKey((entry) => [...entry.fields].sort().join(" "), { bufferSize: 1 }),
      GroupBy.evaluate((_, entries) => chunksOf(entries, { sizes, flushAfter: options.flushAfter, busy, slots }), {
        bufferSize: 1
      }),
      // holding a chunk here holds the next one's forming, and through the bounded queue the routing behind it
      Stream.tap(({ planIndex }) => untilMillis(startedAt + sizes.formsAt(planIndex))),
      Stream.map(({ entries, planIndex }) => {
        // a chunk formed from one field set's group: every entry asks the same fields
        const fields = Chunk.unsafeHead(entries).fields
        // people another run holds are waited for and answered from what it bought; those it did not answer
        // are sent, until nobody is left
        const settle = (
          answered: Effect.Effect<
            { readonly travelers: ReadonlyArray<Traveler>; readonly waitedLongEnough: boolean },
            JournalError
          >
        ): Effect.Effect<void, JournalError> =>
          answered.pipe(
            Effect.flatMap(({ travelers, waitedLongEnough }) =>
              travelers.length === 0 ? Effect.succeed([]) : send(fields, travelers, !waitedLongEnough, planIndex)
            ),
            Effect.flatMap((held) => held.length === 0 ? Effect.void : settle(cache.afterOthers(fields, held)))
          )
        const arrived = Chunk.toReadonlyArray(entries).map((e) => e.traveler)
        return settle(
          Effect.map(cache.answer(fields, arrived), (rest) => ({ travelers: rest, waitedLongEnough: false }))
        )
          .pipe(
            Effect.ensuring(SubscriptionRef.update(busy, (n) => n - 1))
          )
      })
    )

    return {
      offerAll: (entries) => Queue.offerAll(queue, entries.map(Option.some)),
      end: Queue.offer(queue, Option.none()),
      run: (adopted) =>
        Effect.gen(function*() {
          yield* ctx.emit({ _tag: "StageStarted", provider: name })
          const resumed = Stream.fromIterable(adopted).pipe(
            Stream.map(({ chunk, travelers }) =>
              Effect.zipRight(Chunks.adopt(ctx, chunk, travelers), options.dispatch(travelers))
            )
          )
          yield* Stream.concat(resumed, formed).pipe(
            Stream.mapEffect((work) => work, { concurrency, unordered: true }),
            Stream.runDrain
          )
          yield* ctx.emit({ _tag: "StageFinished", provider: name })
        }).pipe(Effect.withSpan("enrich.stage", { attributes: { run: ctx.runId, provider: name } }))
    }
  })
