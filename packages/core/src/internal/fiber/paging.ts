/**
 * Paging through a running batch task: when to poll (the first poll, waiting for a full page at the pace the task
 * has shown), polling from the last cursor until something new comes, and turning each answer into a page.
 *
 * Batch results are paged by an opaque cursor over the task's finished rows (INFERRED, see `FiberAiApi`): the
 * stream keeps the last cursor it got, re-polls from it, and so resumes after a restart with the cursor of the
 * last page it handed out (which also carries the credits reported so far, see `credits.ts`).
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { JobRef, JobStatus, ResultPage } from "../../ContactProvider.js"
import { type EnrichmentError, JobCanceled, JobFailed, JobTimedOut } from "../../EnrichmentError.js"
import type * as FiberAiApi from "../../FiberAiApi.js"
import type { ProviderOutcome } from "../../PersonResult.js"
import * as Polling from "../../Polling.js"
import { readCursor, type Tally, writeCursor } from "./credits.js"
import { finishedOf, outcomeOfRow, rowIdentity } from "./outcomes.js"

const provider = "fiber"

/** One poll's answer and the task's tally with it folded in. */
export interface Polled {
  readonly output: FiberAiApi.PollBatchOutput
  readonly tally: Tally
}

/** What a stream needs from its adapter. */
export interface Task {
  readonly ref: JobRef
  /** rows asked per poll */
  readonly take: number
  /** one poll from Fiber's `cursor`, its `chargeInfo` folded into the task's tally (starting from `tally`) */
  readonly poll: (cursor: string | undefined) => Effect.Effect<Polled, EnrichmentError>
  /** the tally a resumed stream starts from (from its cursor) */
  readonly resume: (tally: Tally) => void
  readonly status: (polled: Polled) => JobStatus
}

/**
 * What every stream of one adapter learns about Fiber: the soonest any task showed finished rows after its start
 * (as seen by a poll, so an upper bound of Fiber's latency to a task's first row). Later tasks wait that long
 * before their first poll: polls before the first row come back empty, and each is taken from the limit all
 * tasks share.
 */
export interface Latency {
  firstRowsWithin: number | undefined
}

/**
 * A task just started has nothing to show: polling it at once only spends the shared poll limit, which the last
 * pages of every task need at the end of a run. A task started long ago is polled at once.
 */
const firstWait = (policy: Polling.PollingPolicy, latency: Latency, sinceStart: number): number =>
  Math.max(0, Math.max(Duration.toMillis(policy.initialDelay), latency.firstRowsWithin ?? 0) - sinceStart)

/** The first poll that saw rows finished: the task's observed pace is measured from there. */
interface Pace {
  readonly at: number
  readonly finished: number
}

/**
 * When less than a page is ready, polling again at once, or on a fixed schedule, spends the poll limit all tasks
 * share (240 a minute) on near-empty pages: with 60 tasks it ran out within 20 s and every task then waited for
 * the window to slide. So each task waits until it should have a full page, or, sooner, until it should be done,
 * at the pace it has shown so far (measured, not assumed), and the polls spread over the minute. Before any row
 * has finished, the `Polling` schedule alone applies. `ready` is how many finished rows are still unread.
 */
const pacer = (
  policy: Polling.PollingPolicy,
  take: number,
  onFirstRows: (now: number) => void
) => {
  let pace: Pace | undefined
  const first = Duration.toMillis(policy.initialDelay)
  return (stats: FiberAiApi.OverallStats, ready: number) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const finished = finishedOf(stats)
      if (pace === undefined) {
        if (finished > 0) {
          pace = { at: now, finished }
          onFirstRows(now)
        }
        return first
      }
      const perMillis = (finished - pace.finished) / Math.max(1, now - pace.at)
      if (perMillis <= 0) return first
      const untilFullPage = (take - ready) / perMillis
      const untilDone = stats.numRemaining / perMillis
      const floor = first / 4
      // a task that has been slow so far may speed up: never more than 6 schedule caps between polls
      const ceiling = 6 * Duration.toMillis(policy.maxDelay)
      return Math.min(ceiling, Math.max(floor, Math.min(untilFullPage, untilDone + floor)))
    })
}

interface Position {
  /** Fiber's cursor */
  readonly at: string | undefined
  /** set when the task ended badly: raised after the last rows are emitted */
  readonly end: EnrichmentError | undefined
  /** how long to wait before the next poll (0: at once, the last page was full or the task is done) */
  readonly waitMillis: number
}

/** The task's results from Fiber's cursor `from` (a stored page cursor), waiting for the task as needed. */
export const stream = (task: Task, latency: Latency, from: string | undefined): Stream.Stream<
  ResultPage,
  EnrichmentError
> =>
  Stream.unwrap(Effect.gen(function*() {
    const { ref, take } = task
    const resumed = readCursor(from)
    if (resumed !== undefined) task.resume(resumed.tally)
    const policy = yield* Polling.Polling
    const deadline = Duration.toMillis(policy.deadline)
    const startedAt = yield* Clock.currentTimeMillis
    const submittedAt = DateTime.toEpochMillis(ref.submittedAt)
    const sinceStart = startedAt - submittedAt
    // People already emitted by this stream: a re-poll from an old cursor (a provider that does not advance it)
    // must not emit anyone twice.
    const emitted = new Set<string>()
    const fresh = (polled: Polled) => polled.output.pageResults.some((row) => !emitted.has(rowIdentity(row)))

    // Poll from `at` until there is something new or the task is done, sleeping per `Polling` in between, after
    // `waitMillis` first.
    const nextPoll = (at: string | undefined, waitMillis: number) =>
      Effect.gen(function*() {
        if (waitMillis > 0) yield* Effect.sleep(Duration.millis(waitMillis))
        const elapsed = (yield* Clock.currentTimeMillis) - startedAt
        if (elapsed >= deadline) return yield* new JobTimedOut({ provider, jobId: ref.id, waitedMillis: elapsed })
        return yield* task.poll(at).pipe(
          Effect.repeat(
            Schedule.recurUntil((polled: Polled) => polled.output.done || fresh(polled))
              .pipe(Schedule.zipLeft(Polling.delays(policy)))
          ),
          Effect.timeoutFail({
            duration: deadline - elapsed,
            onTimeout: () => new JobTimedOut({ provider, jobId: ref.id, waitedMillis: deadline })
          })
        )
      })

    // only a stream that watched its task from the start knows when the first rows came
    const waitForPage = pacer(policy, take, (now) => {
      if (from === undefined && sinceStart < Duration.toMillis(policy.initialDelay)) {
        const within = now - submittedAt
        latency.firstRowsWithin = Math.min(latency.firstRowsWithin ?? within, within)
      }
    })

    const step = (position: Position) =>
      Effect.gen(function*() {
        const polled = yield* nextPoll(position.at, position.waitMillis)
        const output = polled.output
        const observedAt = yield* DateTime.now
        const outcomes: Array<ProviderOutcome> = []
        for (const row of output.pageResults) {
          const identity = rowIdentity(row)
          if (emitted.has(identity)) continue
          emitted.add(identity)
          outcomes.push(outcomeOfRow(row, ref.fields, observedAt))
        }
        // keep the last cursor we got: a null/absent one means "no further than before"
        const at = output.nextCursor ?? position.at
        const cursor = writeCursor(at, polled.tally)
        // Done, and nothing new, no way further, or every finished row seen by this stream. Otherwise a short
        // page is not trusted to be the end (Fiber may cap pages below `take`): one more poll from the new cursor
        // must come back empty.
        const stats = output.overallStats
        const finished = finishedOf(stats)
        const seenAll = from === undefined && emitted.size >= finished
        const last = output.done && (outcomes.length === 0 || output.nextCursor === undefined ||
          output.nextCursor === null || seenAll)
        if (!last) {
          const page = outcomes.length > 0 ? Chunk.of<ResultPage>({ results: outcomes, cursor }) : Chunk.empty()
          // A full page may have more behind it, known for sure only to a stream that read the task from its first
          // row (the others poll again at once). Re-polling when less than a page is left spent one poll per page
          // on a few rows, and with it the limit the last pages of a run need.
          const ready = from === undefined ? Math.max(0, finished - emitted.size) : take
          const waitMillis = output.done || (outcomes.length >= take && ready >= take)
            ? 0
            : yield* waitForPage(stats, outcomes.length >= take ? ready : 0)
          return [page, Option.some<Position>({ at, end: undefined, waitMillis })] as const
        }
        // the final status rides on the last page (possibly empty), so nobody polls again to settle credits
        const page = Chunk.of<ResultPage>({ results: outcomes, cursor, final: task.status(polled) })
        const end = output.failed
          ? new JobFailed({ provider, jobId: ref.id, message: "Fiber reports the task failed" })
          : output.canceled
          ? new JobCanceled({ provider, jobId: ref.id })
          : undefined
        return [
          page,
          end === undefined ? Option.none<Position>() : Option.some<Position>({ at, end, waitMillis: 0 })
        ] as const
      })

    return Stream.paginateChunkEffect<Position, ResultPage, EnrichmentError, never>(
      { at: resumed?.at ?? undefined, end: undefined, waitMillis: firstWait(policy, latency, sinceStart) },
      (position) => position.end === undefined ? step(position) : Effect.fail(position.end)
    )
  }))
