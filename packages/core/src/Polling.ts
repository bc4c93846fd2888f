/**
 * How long to wait between status checks of a provider job, and for how long at most. A `Context.Reference`
 * so tests and time-scaled simulators can shorten it without touching provider code.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { JobTimedOut } from "./EnrichmentError.js"

/** @since 0.1.0 @category Models */
export interface PollingPolicy {
  readonly initialDelay: Duration.DurationInput
  readonly maxDelay: Duration.DurationInput
  /** the whole wait for one job; past it the job is reported as `JobTimedOut` */
  readonly deadline: Duration.DurationInput
}

/**
 * Defaults fit the providers' documented turnaround (Crustdata: 2-6 minutes; TheHog asks for 2-5 s polls). The
 * cap is 5 s: a job is seen done on average half a cap late, and with 5 Crustdata slots run back to back that
 * lateness adds up (a 30 s cap cost ~10 % of throughput in the ceiling benchmark, 10 s ~4 %); 5 jobs polled
 * every 5 s make 60 status calls a minute, within the limits the clients enforce.
 */
export class Polling extends Context.Reference<Polling>()("@enrich/core/Polling", {
  defaultValue: (): PollingPolicy => ({ initialDelay: "2 seconds", maxDelay: "5 seconds", deadline: "2 hours" })
}) {}

/** Exponential from `initialDelay`, capped at `maxDelay`, jittered so many jobs do not poll in lock-step. */
export const delays = (policy: PollingPolicy): Schedule.Schedule<Duration.Duration> =>
  Schedule.exponential(policy.initialDelay, 1.5).pipe(
    Schedule.either(Schedule.spaced(policy.maxDelay)),
    Schedule.map(([exponential]) => exponential),
    Schedule.jittered
  )

/** A job's progress seen at an instant: `done` is the fraction finished, from 0 to 1. */
export interface Sighting {
  readonly at: number
  readonly done: number
}

/**
 * Milliseconds until a job that moved from `previous` to `current` ends, if it keeps that pace, plus a tenth so
 * that the poll lands just after the end rather than just before it; `undefined` while the pace is unknown (a
 * first sighting, or no movement since the last).
 *
 * @since 0.1.0 @category Schedules
 */
export const millisToEnd = (previous: Sighting | undefined, current: Sighting): number | undefined => {
  if (previous === undefined || current.done <= previous.done || current.at <= previous.at) return undefined
  const perMilli = (current.done - previous.done) / (current.at - previous.at)
  return (Math.max(0, 1 - current.done) / perMilli) * 1.1
}

/**
 * The policy's delays, except while a job reports progress at a known pace: then the next check is when the job
 * should end at that pace, no sooner than `initialDelay` (the providers ask for polls seconds apart) and no later
 * than four times `maxDelay` (a pace that speeds up is still seen). Polls of a job that is plainly not done yet
 * are what a shared poll limit runs out of: TheHog counts 30 a minute for a whole organisation.
 */
const pacedBy = <S>(policy: PollingPolicy, progress: ((status: S) => number | undefined) | undefined) =>
<R>(
  self: Schedule.Schedule<S, S, R>
): Schedule.Schedule<S, S, R> => {
  if (progress === undefined) return self
  // the last sighting of this one wait: `awaitTerminal` builds its schedule per wait
  let last: Sighting | undefined
  const floor = Duration.decode(policy.initialDelay)
  const ceiling = Duration.times(Duration.decode(policy.maxDelay), 4)
  return Schedule.modifyDelayEffect(self, (status, delay) =>
    Effect.map(Clock.currentTimeMillis, (at) => {
      const done = progress(status)
      if (done === undefined) return delay
      const previous = last
      last = { at, done }
      const toEnd = millisToEnd(previous, last)
      return toEnd === undefined ? delay : Duration.clamp(Duration.millis(toEnd), { minimum: floor, maximum: ceiling })
    }))
}

/**
 * Checks `status` until `isTerminal` holds, sleeping per the `Polling` policy in between (paced by the job's
 * reported progress when `progress` reads one, see `pacedBy`); fails with `JobTimedOut` after the deadline.
 * When `wake` completes (e.g. a webhook said the job is done) the status is checked at once; a premature wake-up
 * leaves the polling to finish the wait.
 *
 * @since 0.1.0 @category Combinators
 */
export const awaitTerminal = <S, E, R>(
  status: Effect.Effect<S, E, R>,
  options: {
    readonly isTerminal: (status: S) => boolean
    readonly provider: string
    readonly jobId: string
    readonly wake?: Effect.Effect<void> | undefined
    /** the fraction of the job done (0 to 1) that a status reports, `undefined` when it reports none */
    readonly progress?: ((status: S) => number | undefined) | undefined
  }
): Effect.Effect<S, E | JobTimedOut, R> =>
  Effect.gen(function*() {
    const policy = yield* Polling
    const untilTerminal = Schedule.recurUntil(options.isTerminal).pipe(
      Schedule.zipLeft(delays(policy)),
      pacedBy(policy, options.progress)
    )
    const polled = Effect.repeat(status, untilTerminal)
    const woken = options.wake === undefined ? polled : Effect.raceFirst(
      polled,
      Effect.flatMap(Effect.zipRight(options.wake, status), (s) =>
        options.isTerminal(s) ? Effect.succeed(s) : Effect.never)
    )
    return yield* woken.pipe(
      Effect.timeoutFail({
        duration: policy.deadline,
        onTimeout: () =>
          new JobTimedOut({
            provider: options.provider,
            jobId: options.jobId,
            waitedMillis: Duration.toMillis(policy.deadline)
          })
      })
    )
  })
