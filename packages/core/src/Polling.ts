/**
 * How long to wait between status checks of a provider job, and for how long at most. A `Context.Reference`
 * so tests and time-scaled simulators can shorten it without touching provider code.
 *
 * @since 0.1.0
 */
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

/**
 * Checks `status` until `isTerminal` holds, sleeping per the `Polling` policy in between; fails with
 * `JobTimedOut` after the deadline. When `wake` completes (e.g. a webhook said the job is done) the status is
 * checked at once; a premature wake-up leaves the polling to finish the wait.
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
  }
): Effect.Effect<S, E | JobTimedOut, R> =>
  Effect.gen(function*() {
    const policy = yield* Polling
    const untilTerminal = Schedule.recurUntil(options.isTerminal).pipe(Schedule.zipLeft(delays(policy)))
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
