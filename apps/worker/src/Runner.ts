/**
 * What each CLI command does: stream the input into the ledger (judged and deduplicated there), run the
 * waterfall over the people read back from it (resumable through the ledger's Journal), and stream the output
 * from the ledger, written atomically.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type { Identifier, Route } from "@enrich/core"
import {
  Budget,
  type Contact,
  ContactProvider,
  CostModel,
  Journal,
  Polling,
  ProviderMetrics,
  Waterfall
} from "@enrich/core"
import { serve } from "@enrich/simulator/node"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as CostReport from "./CostReport.js"
import * as Export from "./Export.js"
import * as HitStats from "./HitStats.js"
import * as Input from "./Input.js"
import * as LedgerModule from "./Ledger.js"
import { Ledger } from "./Ledger.js"
import * as Output from "./Output.js"
import * as Progress from "./Progress.js"
import * as Providers from "./Providers.js"
import * as RedisRateLimit from "./RedisRateLimit.js"
import * as RunFigures from "./RunFigures.js"
import * as RunHold from "./RunHold.js"
import * as Shards from "./Shards.js"
import * as Sql from "./Sql.js"
import * as SqlJournal from "./SqlJournal.js"

/** A mistake in how the command was called: printed as one line, exit code 2. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}
export const usageError = (message: string) => new UsageError({ message })

/**
 * A run that finished, output written, but in which people failed at a provider (unreachable, answers
 * unreadable, jobs failed): exit code 3, after the summary that names them.
 */
export class FinishedWithFailures extends Data.TaggedError("FinishedWithFailures")<{ readonly message: string }> {}

/** As given on the command line: `locate` adds the environment's DATABASE_URL and the default file. */
export interface LedgerOptions {
  readonly db: Option.Option<string>
  readonly databaseUrl: Option.Option<Redacted.Redacted>
}

/** Where the providers' limits are counted: in this process, or in Redis together with every other process using it. */
export interface LimitsOptions {
  readonly redisUrl?: Option.Option<Redacted.Redacted> | undefined
}

export interface RunOptions extends LedgerOptions, LimitsOptions {
  readonly input: string
  readonly out: Option.Option<string>
  readonly format: Option.Option<"csv" | "jsonl">
  readonly providers: ReadonlyArray<ContactProvider.ProviderName>
  readonly fields: ReadonlyArray<Contact.Field>
  readonly budget: number | undefined
  readonly cacheDays: number
  readonly resubmitAmbiguous: boolean
  readonly target: Target
  /** "given" (default): the providers in the order of `providers`; "auto": the order of least expected credits */
  readonly order?: Order
}

/** How the providers are ordered: as given, or by the cost model from the ledger's history (`--order auto`). */
export type Order = "given" | "auto"

/**
 * Who a run talks to: the real providers (keys and base URLs from the environment), simulators started in this
 * process (nothing to set up; gone when the process ends), or simulators served elsewhere (`enrich simulate`),
 * whose clock runs `timeScale`× faster, so rate limits and polling are scaled to match.
 */
export type Target =
  | { readonly _tag: "Providers" }
  | { readonly _tag: "InProcess"; readonly timeScale: number }
  | { readonly _tag: "Simulator"; readonly url: string; readonly timeScale: number }

/** A provider's summary as stored with a run (those stored before failures and estimates were kept lack them). */
export type StoredProviderSummary =
  & Omit<Waterfall.ProviderSummary, "failures" | "estimatedCredits">
  & Partial<Pick<Waterfall.ProviderSummary, "failures" | "estimatedCredits">>

export interface Summary {
  readonly runId: string
  readonly rows: number
  readonly people: number
  readonly rejected: number
  /** the first rejected rows, so the reasons are seen without opening the output */
  readonly rejectedLines?: ReadonlyArray<{ readonly line: number; readonly reason: string }>
  readonly duplicates: number
  readonly filled: Readonly<Record<Contact.Field, number>>
  readonly providers: ReadonlyArray<StoredProviderSummary>
  readonly credits: number
  /** the part of `credits` that is our estimate (absent in summaries stored before it was kept) */
  readonly estimatedCredits?: number
  readonly budget: number | undefined
  readonly unsentForBudget: number
  readonly ambiguousChunks: number
  readonly out: string
  readonly seconds: number
}

/** The waterfall's plan for a run's providers, fields and the default stop policy (what its output is read with). */
export const planOf = (
  providers: ReadonlyArray<string>,
  fields: ReadonlyArray<Contact.Field>
): Route.Plan => ({
  providers: providers.map((name) => Providers.capabilitiesOf(name as ContactProvider.ProviderName)),
  fields
})

/**
 * The waterfall's wait for stragglers (5 provider-seconds), in real time for simulators whose clock runs
 * `timeScale`× faster, as their rate limits and polling are scaled.
 */
export const simulatorFlushAfter = (timeScale: number) => Duration.millis(5_000 / timeScale)

/**
 * The waterfall's waits scaled to a simulator's clock, as its rate limits and polling are: the straggler wait
 * (5 provider-seconds) and the wait for people another run is asking about (checked every 5, given up after 30
 * provider-minutes). Nothing to change for the real providers.
 */
export const waitsFor = (target: Target) =>
  target._tag === "Providers" ? {} : {
    flushAfter: simulatorFlushAfter(target.timeScale),
    waitForOtherRuns: {
      every: simulatorFlushAfter(target.timeScale),
      atMost: Duration.millis(30 * 60_000 / target.timeScale)
    }
  }

/**
 * The whole pipeline for a run recorded in the ledger; used by `run`, `resume` and `demo`. People are read from
 * the ledger as the providers take them and the output is streamed from it: memory holds what is in flight.
 */
export const execute = (options: {
  readonly runId: string
  readonly providers: ReadonlyArray<string>
  readonly fields: readonly [Contact.Field, ...Array<Contact.Field>]
  readonly budget: number | undefined
  readonly cacheDays: number
  readonly resubmitAmbiguous: boolean
  readonly out: string
  readonly format: "csv" | "jsonl"
  /** the input's columns, in order, so the output keeps them first */
  readonly columns: ReadonlyArray<string>
  readonly target: Target
}) =>
  Effect.gen(function*() {
    const started = Date.now()
    const ledger = yield* Ledger
    const counts = yield* ledger.rowCounts(options.runId)
    const people = yield* ledger.peopleOfRun(options.runId)
    const progress = yield* Progress.make(people.count)
    const result = yield* Waterfall.run({
      runId: options.runId,
      people,
      providers: options.providers,
      fields: options.fields,
      cacheMaxAge: Duration.days(options.cacheDays),
      resubmitAmbiguous: options.resubmitAmbiguous,
      ...waitsFor(options.target),
      onEvent: progress.onEvent
    }).pipe(
      Effect.provide(Budget.layer(options.budget)),
      // also when interrupted or failed: the live line ends before any message that follows it
      Effect.ensuring(progress.done)
    )
    const written = yield* Export.write({
      runId: options.runId,
      plan: planOf(options.providers, options.fields),
      path: options.out,
      format: options.format,
      inputColumns: options.columns
    })
    return summaryOf({
      runId: options.runId,
      counts,
      filled: written.filled,
      result,
      out: options.out,
      seconds: (Date.now() - started) / 1000
    })
  })

/** A run's summary, from its rows' verdicts, what its output holds and what the waterfall reported. */
export const summaryOf = (parts: {
  readonly runId: string
  readonly counts: LedgerModule.RowCounts
  readonly filled: Summary["filled"]
  readonly result: Waterfall.Result
  readonly out: string
  readonly seconds: number
}): Summary => ({
  runId: parts.runId,
  rows: parts.counts.rows,
  people: parts.counts.people,
  rejected: parts.counts.rejected,
  rejectedLines: parts.counts.rejectedLines,
  duplicates: parts.counts.duplicates,
  filled: parts.filled,
  providers: parts.result.providers,
  credits: parts.result.credits.spent,
  estimatedCredits: parts.result.credits.estimated,
  budget: parts.result.credits.limit,
  unsentForBudget: parts.result.unsentForBudget,
  ambiguousChunks: parts.result.ambiguousChunks.length,
  out: parts.out,
  seconds: parts.seconds
})

/** Credits as reported, and the part we estimated from the price list apart: `~423 credits (estimated)`. */
const credits = (total: number, estimated: number): string =>
  estimated <= 0
    ? `${total} credits`
    : estimated >= total
    ? `~${total} credits (estimated)`
    : `${total} credits (~${estimated} of them estimated)`

/** Reasons shown per provider; the rest are counted. */
const shownReasons = 3

/** Who failed at a provider and why: `crustdata: 117 people failed — JobFailed: batch job failed (2 chunks)`. */
const failureLine = (p: StoredProviderSummary): string => {
  const failures = p.failures ?? []
  const chunks = (n: number) => `${n} chunk${n === 1 ? "" : "s"}`
  const reasons = failures.slice(0, shownReasons).map((f) =>
    failures.length === 1
      ? `${f.reason}${f.chunks > 0 ? ` (${chunks(f.chunks)})` : ""}`
      : `${f.reason} (${f.people} ${f.people === 1 ? "person" : "people"}${
        f.chunks > 0 ? `, ${chunks(f.chunks)}` : ""
      })`
  )
  const more = failures.length - shownReasons
  return `${p.provider}: ${p.failed} ${p.failed === 1 ? "person" : "people"} failed` +
    (reasons.length === 0 ? "" : ` — ${reasons.join("; ")}`) +
    (more > 0 ? `; and ${more} more reason${more === 1 ? "" : "s"} (reason column of the output)` : "")
}

/** The people who failed at a provider in a finished run, or undefined when nobody did. */
export const failuresOf = (summary: Summary): FinishedWithFailures | undefined => {
  const failing = summary.providers.filter((p) => p.failed > 0)
  if (failing.length === 0) return undefined
  return new FinishedWithFailures({
    message: `run ${summary.runId} finished with failures (${
      failing.map((p) => `${p.provider}: ${p.failed}`).join(", ")
    } people failed; the summary above says why, the output's reason column per person)`
  })
}

/** A human summary: fill rate per field, per-provider reconciliation, credits, time. */
export const report = (summary: Summary): string => {
  const pct = (n: number) => summary.people === 0 ? "0%" : `${Math.round((100 * n) / summary.people)}%`
  const lines = [
    `run ${summary.runId}: ${summary.rows} rows, ${summary.people} people, ${summary.rejected} rejected, ` +
    `${summary.duplicates} duplicates`,
    ...(summary.rejectedLines ?? []).map((r) => `  line ${r.line} rejected: ${r.reason}`),
    ...(summary.rejected > (summary.rejectedLines?.length ?? 0)
      ? [`  … and ${summary.rejected - (summary.rejectedLines?.length ?? 0)} more rejected rows (status in the output)`]
      : []),
    `filled: work_email ${summary.filled.work_email} (${pct(summary.filled.work_email)}), personal_email ` +
    `${summary.filled.personal_email} (${pct(summary.filled.personal_email)}), phone ${summary.filled.phone} ` +
    `(${pct(summary.filled.phone)})`,
    ...summary.providers.map((p) =>
      `  ${p.provider.padEnd(10)} asked ${p.requested}, cached ${p.cached}: found ${p.found}, not found ` +
      `${p.notFound}, failed ${p.failed}, rejected ${p.rejected}; ${credits(p.credits, p.estimatedCredits ?? 0)}`
    ),
    ...summary.providers.flatMap((p) => p.failed > 0 ? [failureLine(p)] : []),
    `credits: ${summary.credits}${summary.budget === undefined ? "" : ` of ${summary.budget}`}` +
    ((summary.estimatedCredits ?? 0) > 0 ? ` (~${summary.estimatedCredits} of them estimated)` : "") +
    (summary.unsentForBudget > 0 ? ` (budget reached: ${summary.unsentForBudget} people not sent)` : ""),
    ...(summary.ambiguousChunks > 0
      ? [`${summary.ambiguousChunks} chunk(s) left unsent after a crash; resume with --resubmit-ambiguous to resend`]
      : []),
    `output: ${summary.out} (${summary.seconds.toFixed(1)} s)`
  ]
  return lines.join("\n")
}

export const defaultOut = (input: string, format: "csv" | "jsonl") =>
  input.replace(/\.(csv|jsonl|ndjson|json)$/i, "") + `.enriched.${format}`

export const formatOf = (path: string, format: Option.Option<"csv" | "jsonl">): "csv" | "jsonl" =>
  Option.getOrElse(format, () => (/\.(jsonl|ndjson|json)$/i.test(path) ? "jsonl" : "csv"))

export const newRunId = () =>
  `run-${new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)}-${Math.random().toString(36).slice(2, 6)}`

/**
 * Where a command's ledger is: an explicit `--database-url` or `--db` first, then DATABASE_URL from the
 * environment, then the SQLite default. The environment never overrides an explicit `--db`: a shell exporting
 * DATABASE_URL for one project must not send another project's runs there.
 */
export const locate = (options: LedgerOptions): Effect.Effect<Sql.Location, UsageError> =>
  Effect.gen(function*() {
    if (Option.isSome(options.databaseUrl) && Option.isSome(options.db)) {
      return yield* usageError("pass either --db (a SQLite file) or --database-url (Postgres), not both")
    }
    if (Option.isSome(options.databaseUrl)) return { _tag: "Postgres", url: options.databaseUrl.value } as const
    if (Option.isSome(options.db)) return { _tag: "Sqlite", file: options.db.value } as const
    const fromEnvironment = yield* Config.option(Config.redacted("DATABASE_URL")).pipe(
      Effect.mapError((error) => usageError(`DATABASE_URL: ${error}`))
    )
    return Option.match(fromEnvironment, {
      onNone: () => ({ _tag: "Sqlite", file: Sql.defaultSqliteFile }) as const,
      onSome: (url) => ({ _tag: "Postgres", url }) as const
    })
  })

const ledgerAt = (location: Sql.Location) =>
  Layer.provideMerge(Layer.merge(LedgerModule.layer, SqlJournal.layer), Sql.layerAt(location))

export const ledgerLayer = (options: LedgerOptions) => Layer.unwrapEffect(Effect.map(locate(options), ledgerAt))

/** A SQLite ledger that is not there yet (`resume`, `status` and `estimate` never create one). */
const missingFile = (location: Sql.Location): location is Extract<Sql.Location, { _tag: "Sqlite" }> =>
  location._tag === "Sqlite" && !NodeFs.existsSync(location.file)

/**
 * The ledger of `resume` and `status`, which must exist already: only `run` creates one, so that a mistyped
 * `--db` is an error rather than a new, empty ledger that has no run to resume.
 */
export const existingLedgerLayer = (options: LedgerOptions) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const location = yield* locate(options)
    if (missingFile(location)) {
      return yield* usageError(
        `no ledger at ${location.file}: runs are recorded there by \`enrich run\` (or pass --db)`
      )
    }
    return ledgerAt(location)
  }))

/** What `resume` needs to redo a run exactly: stored with the run. */
export interface StoredOptions {
  /** in the order the run asks them (with `--order auto`, the order chosen when it started) */
  readonly providers: ReadonlyArray<string>
  readonly fields: readonly [Contact.Field, ...Array<Contact.Field>]
  readonly budget: number | undefined
  readonly cacheDays: number
  readonly out: string
  readonly format: "csv" | "jsonl"
  readonly columns: ReadonlyArray<string>
  readonly target: Target
  /** rows per shard, for a run submitted for workers (`enrich submit`); absent for a run worked by one process */
  readonly shardSize?: number
  /** `--order auto`: the choice, with the numbers behind it (a resume follows `providers`, never chooses again) */
  readonly order?: { readonly mode: "auto"; readonly choice: CostModel.OrderChoice }
}

/**
 * The store of the providers' limits: Redis when a URL is given (`--redis-url` / `REDIS_URL`; keys under
 * `REDIS_KEY_PREFIX`, default `enrich:limits:`), so that every process on it stays within the limits together;
 * else this process's memory. Provided around a whole command: the provider clients built inside take it.
 */
export const limitsStoreLayer = (options: LimitsOptions) =>
  Option.match(options.redisUrl ?? Option.none(), {
    onNone: () => Layer.empty,
    onSome: (url) =>
      Layer.unwrapEffect(Effect.map(
        Config.string("REDIS_KEY_PREFIX").pipe(Config.withDefault(RedisRateLimit.defaultPrefix)),
        (prefix) => RedisRateLimit.layer({ url, prefix })
      ))
  })

/** The provider registry for a run's target (and its clients). */
export const providersLayer = (
  names: ReadonlyArray<ContactProvider.ProviderName>,
  target: Target,
  options: Providers.ClientOptions = {}
) =>
  (target._tag === "InProcess"
    ? Layer.unwrapScoped(Effect.map(
      serve({ timeScale: target.timeScale }),
      (served) => Providers.forSimulators(served.url, target.timeScale, undefined, options)
    ))
    : target._tag === "Simulator"
    ? Providers.forSimulators(target.url.replace(/\/+$/, ""), target.timeScale, undefined, options)
    : Providers.fromEnv(names, options)).pipe(Layer.provide(NodeHttpClient.layerUndici))

/** The demo's provider clock: a provider minute passes in 0.1 s. */
export const demoTimeScale = 600

export const withPolling = (target: Target) =>
  target._tag !== "Providers" ?
    Effect.provideService(Polling.Polling, Providers.simulatorPolling(target.timeScale)) :
    <A, E, R>(
      effect: Effect.Effect<A, E, R>
    ) => effect

/**
 * How to continue a run that did not finish, given the command that resumes it: a run against simulators in
 * its own process cannot be (they stopped with it).
 */
const howToContinue = (target: Target, resume: string): string =>
  target._tag === "InProcess"
    ? "ran against simulators inside its process, which stopped with it: it cannot be resumed, run it again"
    : `\`${resume}\` continues it (with the same --db or --database-url), polling the jobs already sent ` +
      `instead of sending them again`

/** What a user who stopped a run needs to know next (printed on Ctrl-C / SIGTERM). */
const interruptedNote = (runId: string, target: Target): string =>
  `enrich: interrupted; run ${runId} ${target._tag === "InProcess" ? "" : "is saved in the ledger: "}` +
  howToContinue(target, "enrich resume")

/**
 * What this process counted of its HTTP calls while `effect` ran, added to the run's figures in the ledger when it
 * ends, however it ends (a failure to write them is not the run's failure).
 */
const recordingRequests = (runId: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(ProviderMetrics.requestTotals, (before) =>
    Effect.ensuring(
      effect,
      Effect.flatMap(ProviderMetrics.requestTotals, (after) => {
        const zero = { requests: 0, rateLimited: 0, retries: 0 }
        const delta = new Map([...after].map(([provider, t]) => {
          const b = before.get(provider) ?? zero
          return [provider, {
            requests: t.requests - b.requests,
            rateLimited: t.rateLimited - b.rateLimited,
            retries: t.retries - b.retries
          }]
        }))
        return Effect.ignore(RunFigures.recordRequests(runId, delta))
      })
    ))

const runStored = (runId: string, stored: StoredOptions, resubmitAmbiguous: boolean) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const summary = yield* execute({ runId, ...stored, resubmitAmbiguous }).pipe(
      recordingRequests(runId),
      Effect.provide(providersLayer(stored.providers as ReadonlyArray<ContactProvider.ProviderName>, stored.target)),
      withPolling(stored.target),
      // Marking the run is a courtesy to `enrich status`: when the ledger cannot take even that (a full disk),
      // the run stays "running", still resumable, and the error that stopped it is what the user is told.
      Effect.onInterrupt(() =>
        Effect.zipRight(
          Effect.ignore(ledger.setRunState(runId, "interrupted")),
          Console.error(interruptedNote(runId, stored.target))
        )
      ),
      Effect.tapError(() => Effect.ignore(ledger.setRunState(runId, "failed")))
    )
    yield* ledger.setRunState(runId, "finished", summary)
    yield* Console.log(report(summary))
    const failures = failuresOf(summary)
    if (failures !== undefined) return yield* failures
    return summary
  })

/** An output that cannot be written is a mistake in the flags, found before anything is spent. */
const outputReady = (out: string) => Effect.mapError(Output.prepare(out), (error) => usageError(error.message))

export const run = (options: RunOptions) =>
  Effect.gen(function*() {
    // Keys and input first: a mistake there must not leave a run (or a ledger file) behind.
    if (options.target._tag === "Providers") yield* Providers.requiredKeys(options.providers)
    const format = formatOf(options.input, options.format)
    const source = yield* Input.open(options.input, format)
    const [first, ...rest] = options.fields
    // absolute, so `enrich resume` from another directory writes to the same place
    const out = NodePath.resolve(Option.getOrElse(options.out, () => defaultOut(options.input, format)))
    yield* outputReady(out)
    return yield* Effect.gen(function*() {
      // chosen once, before the run is recorded: a resume follows the stored order, never a newer choice
      const choice = options.order === "auto" ? yield* chooseOrder(options, format) : undefined
      const stored: StoredOptions = {
        providers: choice?.providers ?? options.providers,
        fields: [first!, ...rest],
        budget: options.budget,
        cacheDays: options.cacheDays,
        out,
        format,
        columns: source.columns,
        target: options.target,
        ...(choice === undefined ? {} : { order: { mode: "auto" as const, choice } })
      }
      if (choice !== undefined) yield* Console.log(CostReport.choiceLines(choice).join("\n"))
      const ledger = yield* Ledger
      const runId = newRunId()
      yield* ledger.createRun({
        id: runId,
        inputPath: NodePath.resolve(options.input),
        options: stored,
        rows: source.rows
      })
      yield* RunHold.hold(runId, { wait: false })
      return yield* runStored(runId, stored, options.resubmitAmbiguous)
    }).pipe(Effect.scoped, Effect.provide(ledgerLayer(options)))
    // connected first: an unreachable Redis leaves no run behind
  }).pipe(Effect.provide(limitsStoreLayer(options)))

/** The providers as the cost model reads them (their static capabilities), in this order. */
const offersOf = (names: ReadonlyArray<string>): Array<CostModel.Offer> =>
  names.map((name) => Providers.capabilitiesOf(name as ContactProvider.ProviderName))

/**
 * A list's rows and its distinct valid people by identifier kind, read as a stream: only the distinct keys are
 * held (to tell duplicates, which are not charged), not the rows.
 */
const countPeople = (input: string, format: "csv" | "jsonl") =>
  Effect.gen(function*() {
    const source = yield* Input.open(input, format)
    const seen = new Set<Identifier.PersonKey>()
    const byKind = new Map<Identifier.IdentifierKind, number>()
    const counts = { rows: 0, rejected: 0, duplicates: 0 }
    yield* Stream.runForEach(source.rows, (row) =>
      Effect.sync(() => {
        counts.rows++
        if (Either.isLeft(row.identifier)) return void counts.rejected++
        const { key, kind } = row.identifier.right
        if (seen.has(key)) return void counts.duplicates++
        seen.add(key)
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1)
      }))
    return { ...counts, people: seen.size, byKind }
  })

/** `--order auto`: the order of least expected credits for this list, from the ledger's history. */
const chooseOrder = (options: RunOptions, format: "csv" | "jsonl") =>
  Effect.gen(function*() {
    const { byKind } = yield* countPeople(options.input, format)
    const statistics = yield* HitStats.hitStats()
    return CostModel.chooseOrder(offersOf(options.providers), options.fields, statistics, { peopleByKind: byKind })
  })

/** The run named by `--run`, else the latest: a usage error when there is none. */
const chosenRun = (runId: Option.Option<string>, verb: string) =>
  Effect.flatMap(Ledger, (ledger) =>
    Effect.flatMap(
      Option.isSome(runId) ? ledger.getRun(runId.value) : ledger.latestRun(),
      Option.match({
        onNone: () =>
          Effect.fail(
            usageError(Option.isSome(runId) ? `no run ${runId.value} in the ledger` : `no run to ${verb} in the ledger`)
          ),
        onSome: Effect.succeed
      })
    ))

export const resume = (
  options: LedgerOptions & LimitsOptions & {
    readonly runId: Option.Option<string>
    readonly resubmitAmbiguous: boolean
    /** wait for another process that holds the run, instead of refusing */
    readonly wait?: boolean
    /** write the output here instead of where the run was started to write it */
    readonly out?: Option.Option<string>
  }
) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const found = yield* chosenRun(options.runId, "resume")
    // before anything is read or sent: another process may be working on this run right now
    yield* RunHold.hold(found.id, { wait: options.wait ?? false })
    const counts = yield* ledger.rowCounts(found.id)
    // only a ledger written before runs were created with their rows in one transaction can hold such a run
    if (counts.rows === 0) {
      return yield* usageError(
        `run ${found.id} has no input rows (it was stopped while being created): nothing to resume; ` +
          `start it again with enrich run`
      )
    }
    const recorded = found.options as StoredOptions
    if (recorded.shardSize !== undefined) {
      return yield* usageError(
        `run ${found.id} was submitted for workers: start \`enrich worker\` on this ledger (it takes over the ` +
          `shards of workers that stopped); \`enrich export --run ${found.id}\` writes its output`
      )
    }
    const stored: StoredOptions = Option.match(options.out ?? Option.none(), {
      onNone: () => recorded,
      onSome: (out) => ({ ...recorded, out: NodePath.resolve(out) })
    })
    yield* outputReady(stored.out)
    yield* Console.error(`resuming ${found.id} (${found.state})`)
    yield* ledger.setRunState(found.id, "running")
    return yield* runStored(found.id, stored, options.resubmitAmbiguous)
  }).pipe(Effect.scoped, Effect.provide(existingLedgerLayer(options)), Effect.provide(limitsStoreLayer(options)))

/** For a run that did not finish, how to continue it (the ledger cannot tell a live run from a killed one). */
const nextStep = (run: LedgerModule.Run): string | undefined => {
  if (run.state === "finished") return undefined
  const how = howToContinue((run.options as StoredOptions).target, `enrich resume --run ${run.id}`)
  return run.state === "running"
    ? `still running, or killed before it could say so: if no enrich process is working on it, ${how}`
    : how
}

/** Open chunks listed by `status --run`. */
const shownOpenChunks = 20

/**
 * The journal's run ids for a run: its own, or one per shard for a run submitted for workers (with a line on
 * how far the shards are).
 */
const journalLabels = (run: LedgerModule.Run) =>
  Effect.gen(function*() {
    const size = (run.options as StoredOptions).shardSize
    if (size === undefined) return [run.id]
    const shards = yield* Shards.ofRun(run.id)
    const done = shards.filter((s) => s.state === "finished").length
    yield* Console.log(`  shards: ${done} of ${shards.length} done (${size} rows each), worked by enrich worker`)
    return shards.map((s) => Shards.label(run.id, s.shard))
  })

/** Credits per provider over several journal run ids (the shards of a run). */
const creditsOver = (journal: Journal.JournalService, labels: ReadonlyArray<string>) =>
  Effect.map(Effect.forEach(labels, (label) => journal.creditsOfRun(label)), (parts) => {
    const byProvider = new Map<string, { provider: string; charged: number; estimated: number; reserved: number }>()
    for (const c of parts.flat()) {
      const was = byProvider.get(c.provider) ?? { provider: c.provider, charged: 0, estimated: 0, reserved: 0 }
      byProvider.set(c.provider, {
        provider: c.provider,
        charged: was.charged + c.charged,
        estimated: was.estimated + c.estimated,
        reserved: was.reserved + c.reserved
      })
    }
    return [...byProvider.values()]
  })

export const status = (options: LedgerOptions & { readonly runId: Option.Option<string> }) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const journal = yield* Journal.Journal
    if (Option.isNone(options.runId)) {
      const runs = yield* ledger.listRuns(20)
      if (runs.length === 0) return yield* Console.log("no runs yet")
      for (const r of runs) {
        const summary = r.summary as Summary | undefined
        yield* Console.log(
          `${r.id}  ${r.state.padEnd(11)} ${DateTime.formatIso(r.createdAt)}  ${r.inputPath}` +
            (summary === undefined
              ? ""
              : `  ${summary.people} people, ${credits(summary.credits, summary.estimatedCredits ?? 0)}`)
        )
      }
      return
    }
    const run = yield* ledger.getRun(options.runId.value)
    if (Option.isNone(run)) return yield* usageError(`no run ${options.runId.value} in the ledger`)
    yield* Console.log(`${run.value.id}: ${run.value.state}, input ${run.value.inputPath}`)
    const order = (run.value.options as StoredOptions).order
    if (order !== undefined) yield* Console.log(CostReport.choiceLines(order.choice).join("\n"))
    const labels = yield* journalLabels(run.value)
    // per provider, then the chunks still open: a run of a million people has thousands of finished chunks
    for (const p of yield* creditsOver(journal, labels)) {
      yield* Console.log(
        `  ${p.provider.padEnd(10)} booked ${credits(p.charged, p.estimated)}` +
          (p.reserved > 0 ? `, ${p.reserved} reserved by chunks not finished` : "")
      )
    }
    const open = (yield* Effect.forEach(labels, (label) => journal.openChunks(label))).flat()
    for (const chunk of open.slice(0, shownOpenChunks)) {
      yield* Console.log(
        `  ${chunk.provider.padEnd(10)} ${chunk.state.padEnd(9)} ${String(chunk.keys.length).padStart(5)} people  ` +
          `job ${chunk.job?.id ?? "-"}${chunk.message === undefined ? "" : `  ${chunk.message}`}`
      )
    }
    if (open.length > shownOpenChunks) yield* Console.log(`  … and ${open.length - shownOpenChunks} more open chunks`)
    const figures = yield* RunFigures.ofRun(
      [...new Set([run.value.id, ...labels])],
      (run.value.options as StoredOptions).providers ?? []
    )
    if (figures.length > 0) {
      yield* Console.log("per provider (found/asked per field, credits, chunks, HTTP requests, time):")
      for (const line of RunFigures.render(figures)) yield* Console.log(line)
    }
    if (run.value.summary !== undefined) yield* Console.log(report(run.value.summary as Summary))
    const next = nextStep(run.value)
    if (next !== undefined) yield* Console.log(next)
  }).pipe(Effect.provide(existingLedgerLayer(options)))

/**
 * Writes a run's output from the ledger, at any time: during a run (from another process), after a crash or
 * after it finished. People still on their way are `pending`. Nothing is sent to any provider.
 */
export const exportRun = (
  options: LedgerOptions & {
    readonly runId: Option.Option<string>
    readonly out: Option.Option<string>
    readonly format: Option.Option<"csv" | "jsonl">
  }
) =>
  Effect.gen(function*() {
    const found = yield* chosenRun(options.runId, "export")
    const stored = found.options as StoredOptions
    const out = Option.match(options.out, { onNone: () => stored.out, onSome: (path) => NodePath.resolve(path) })
    const format = Option.isSome(options.out) ? formatOf(out, options.format) : Option.getOrElse(
      options.format,
      () => stored.format
    )
    yield* outputReady(out)
    const written = yield* Export.write({
      runId: found.id,
      plan: planOf(stored.providers, stored.fields),
      path: out,
      format,
      inputColumns: stored.columns,
      labelOf: stored.shardSize === undefined ? undefined : yield* Shards.rowLabels(found.id, stored.shardSize)
    })
    const statuses = Object.entries(written.statuses).map(([status, n]) => `${n} ${status}`).join(", ")
    yield* Console.log(
      `run ${found.id} (${found.state}): ${written.rows} rows written to ${out}` +
        (statuses === "" ? "" : ` (${statuses})`)
    )
  }).pipe(Effect.provide(existingLedgerLayer(options)))

export const estimate = (
  options: LedgerOptions & {
    readonly input: string
    readonly format: Option.Option<"csv" | "jsonl">
    readonly providers: ReadonlyArray<ContactProvider.ProviderName>
    readonly fields: ReadonlyArray<Contact.Field>
    /** the order a run with the same flags would follow (both are estimated) */
    readonly order?: Order
  }
) =>
  Effect.gen(function*() {
    const counts = yield* countPeople(options.input, formatOf(options.input, options.format))
    const { byKind } = counts
    // Capabilities and cost models are static: clients pointed nowhere give them without any request.
    const registry = yield* ContactProvider.ContactProviders.pipe(
      Effect.provide(Providers.forSimulators("http://127.0.0.1:9", 1).pipe(Layer.provide(NodeHttpClient.layerUndici)))
    )
    const quotes = Waterfall.quoteByKind(byKind, options.providers.map((p) => registry.get(p)!), options.fields)
    yield* Console.log(
      `${counts.rows} rows: ${counts.people} people, ${counts.rejected} rejected, ` +
        `${counts.duplicates} duplicates (not charged)`
    )
    for (const q of quotes) {
      yield* Console.log(
        `  ${q.provider.padEnd(10)} up to ${q.people} people × [${
          q.fields.join(", ")
        }]: at most ${q.maxCredits} credits`
      )
    }
    const worstCase = quotes.reduce((n, q) => n + q.maxCredits, 0)
    yield* Console.log(
      `worst case ${worstCase} credits (every provider asked for everyone); the waterfall asks later providers ` +
        `only for what is still missing, so a run spends less. --budget caps it. Nothing was spent.`
    )
    // The history, when there is a ledger: an estimate never creates one.
    const location = yield* locate(options)
    const statistics = missingFile(location) ? [] : yield* HitStats.hitStats().pipe(Effect.provide(ledgerAt(location)))
    const rates = CostModel.ratesOf(statistics)
    const given = CostModel.expectedSpend(offersOf(options.providers), options.fields, byKind, rates)
    const choice = CostModel.chooseOrder(offersOf(options.providers), options.fields, statistics, {
      peopleByKind: byKind
    })
    const auto = CostModel.expectedSpend(offersOf(choice.providers), options.fields, byKind, rates)
    const chosen = (order: Order) => (options.order ?? "given") === order ? " (this run)" : ""
    yield* Console.log(
      `expected, given order ${options.providers.join(" → ")}: ${CostReport.spendText(given)}${chosen("given")}`
    )
    yield* Console.log(
      `expected, --order auto ${choice.providers.join(" → ")}: ${CostReport.spendText(auto)}${chosen("auto")}`
    )
    if (options.order === "auto") yield* Console.log(CostReport.choiceLines(choice).join("\n"))
    else yield* Console.log(`  ${CostReport.sourceLine(choice.observed)}`)
  })

/** The demo is the embedded default: its SQLite file unless `--database-url` says otherwise, whatever the environment. */
export const demo = (options: LedgerOptions & { readonly input: string; readonly out: Option.Option<string> }) =>
  run({
    ...options,
    db: Option.isSome(options.databaseUrl)
      ? options.db
      : Option.orElse(options.db, () => Option.some(Sql.defaultSqliteFile)),
    format: Option.none(),
    out: Option.orElse(options.out, () => Option.some(".enrich/demo/people.enriched.csv")),
    providers: ["fiber", "crustdata", "thehog"],
    fields: ["work_email", "personal_email", "phone"],
    budget: undefined,
    cacheDays: 0,
    resubmitAmbiguous: false,
    target: { _tag: "InProcess", timeScale: demoTimeScale }
  })
