/**
 * One process works on a run at a time. Two `enrich resume` of one run at once would each send the chunks the
 * other is sending and pay for them twice; so a process holds the run in the ledger while it works on it, under a
 * lease it renews, and another process is refused, told who holds it, or waits with `--wait`.
 *
 * A holder that dies stops renewing and its lease lapses. On the same host a dead holder is recognised at once
 * (its process no longer exists), so `enrich resume` right after a kill does not have to wait for the lease.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { randomBytes } from "node:crypto"
import * as NodeOs from "node:os"
import { Ledger, type LedgerError, type RunHolder } from "./Ledger.js"

/** @since 0.1.0 @category Errors */
export class RunHeld extends Schema.TaggedError<RunHeld>()("RunHeld", {
  runId: Schema.String,
  holder: Schema.String,
  until: Schema.Number
}) {
  override get message() {
    const who = describe(this.holder)
    return `run ${this.runId} is being worked on by ${who}; run \`enrich resume\` again once it has stopped, or pass ` +
      `--wait to wait for it (if that process died, its hold lapses by ${new Date(this.until).toISOString()})`
  }
}

/** How long a hold lasts without renewal, and how often the holder renews it. */
export const lease = Duration.seconds(30)
const renewEvery = Duration.seconds(10)
/** How often a `--wait` asks again. */
const waitEvery = Duration.seconds(2)

interface Holder {
  readonly host: string
  readonly pid: number
}

/** `host pid <n> <token>`: readable in messages, unique per process and hold. */
const newHolder = (): string => `${NodeOs.hostname()} pid ${process.pid} ${randomBytes(4).toString("hex")}`

const parse = (holder: string): Holder | undefined => {
  const match = /^(.*) pid (\d+) [0-9a-f]+$/.exec(holder)
  return match === null ? undefined : { host: match[1]!, pid: Number(match[2]) }
}

const describe = (holder: string): string => {
  const parsed = parse(holder)
  return parsed === undefined ? JSON.stringify(holder) : `process ${parsed.pid} on ${parsed.host}`
}

/** A holder on this host whose process is gone (signal 0 checks existence without sending anything). */
const isDeadHere = (holder: string): boolean => {
  const parsed = parse(holder)
  if (parsed === undefined || parsed.host !== NodeOs.hostname() || parsed.pid === process.pid) return false
  try {
    process.kill(parsed.pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}

/**
 * Holds `runId` for the rest of the scope: renewed in the background, given up when the scope closes. Fails
 * with `RunHeld` when another live process holds it, unless `wait`, which asks again until it is free.
 *
 * @since 0.1.0 @category Constructors
 */
export const hold = (
  runId: string,
  options: { readonly wait: boolean }
): Effect.Effect<void, RunHeld | LedgerError, Ledger | Scope.Scope> =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const me = newHolder()
    const leaseMillis = Duration.toMillis(lease)
    const attempt: Effect.Effect<void, RunHeld | LedgerError> = Effect.gen(function*() {
      const first = yield* ledger.holdRun(runId, me, leaseMillis)
      const other: Option.Option<RunHolder> = Option.isSome(first) && isDeadHere(first.value.holder)
        ? yield* ledger.holdRun(runId, me, leaseMillis, first.value.holder)
        : first
      if (Option.isSome(other)) {
        return yield* new RunHeld({ runId, holder: other.value.holder, until: other.value.until })
      }
    })
    yield* options.wait
      ? Effect.retry(attempt, { while: (error) => error._tag === "RunHeld", schedule: Schedule.spaced(waitEvery) })
      : attempt
    yield* Effect.addFinalizer(() => Effect.ignore(ledger.releaseRun(runId, me)))
    // A renewal that fails (the ledger is briefly unreachable) is tried again at the next tick: the lease is three
    // ticks long.
    yield* Effect.forkScoped(
      Effect.ignore(ledger.holdRun(runId, me, leaseMillis)).pipe(
        Effect.repeat(Schedule.spaced(renewEvery)),
        Effect.delay(renewEvery)
      )
    )
  })
