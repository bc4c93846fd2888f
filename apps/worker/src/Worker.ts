/**
 * Several worker processes on one ledger: `enrich submit` records a run and queues its shards; any number of
 * `enrich worker` processes (on any machines that reach the same Postgres) take shards from the queue, each
 * worked as its own waterfall, until the run is done.
 *
 * The queue is `@effect/sql`'s `SqlPersistedQueue` (in the ledger's database): a shard is leased by one worker,
 * the lease is refreshed while it works and lapses when the worker dies, and another worker then takes the shard
 * and resumes it from the ledger with the resume rules of `enrich resume` (TheHog's Idempotency-Key, Crustdata's
 * job list, ambiguous Fiber chunks reported, never resent silently). `@effect/cluster` and `@effect/workflow`
 * would do this too, but on the v3 line their multi-runner issues are still open; the providers and the
 * waterfall know nothing of the queue, so moving later touches this module only.
 *
 * @since 0.1.0
 */
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlPersistedQueue from "@effect/sql/SqlPersistedQueue"
import { Budget, type ChunkPlan, type ContactProvider, Waterfall } from "@enrich/core"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RcMap from "effect/RcMap"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as Export from "./Export.js"
import * as Input from "./Input.js"
import * as JobWakeups from "./JobWakeups.js"
import { Ledger, LedgerError } from "./Ledger.js"
import * as Providers from "./Providers.js"
import * as Runner from "./Runner.js"
import * as Shards from "./Shards.js"
import * as Sql from "./Sql.js"
import * as SqlBudget from "./SqlBudget.js"
import * as Webhooks from "./Webhooks.js"
import * as WebhookTokens from "./WebhookTokens.js"

/** What the queue carries: a shard of a run (its rows are in the ledger). */
const ShardItem = Schema.Struct({ runId: Schema.String, shard: Schema.Number })

const queueName = "enrich-shards"
const queueTable = "enrich_queue"

/** A shard that fails this many times in a row is left in the queue, failed (its last error kept there). */
const maxAttempts = 5

/** How soon a dead worker's shard is taken over unless `--lease-seconds` says otherwise. */
export const defaultLeaseSeconds = 60

const queueLayer = (leaseSeconds: number) =>
  PersistedQueue.layer.pipe(
    Layer.provide(
      SqlPersistedQueue.layerStore({
        tableName: queueTable,
        pollInterval: Duration.millis(500),
        lockRefreshInterval: Duration.seconds(Math.max(1, leaseSeconds / 3)),
        lockExpiration: Duration.seconds(leaseSeconds)
      }).pipe(
        // the store creates its table when it starts: workers started at once on a new database race for it
        Layer.retry(Sql.retryLostCreateRace)
      )
    )
  )

const shardQueue = PersistedQueue.make({ name: queueName, schema: ShardItem })

/** A queue entry id: one per shard, so queuing a shard twice (a submit run again) queues it once. */
const itemId = (runId: string, shard: number) => `${runId}#${shard}`

export interface SubmitOptions extends Runner.RunOptions {
  readonly shardSize: number
  /** where workers' `--listen` is reached from outside: Crustdata calls back `<url>/webhooks/crustdata/<token>` */
  readonly publicUrl?: Option.Option<string> | undefined
}

/**
 * Records a run with its rows, cuts it into shards and queues them; prints the run id. Nothing is sent to a
 * provider: workers do that.
 */
export const submit = (options: SubmitOptions) =>
  Effect.gen(function*() {
    if (options.target._tag === "InProcess") {
      return yield* Runner.usageError(
        "submit: simulators inside this process would stop with it; serve them with `enrich simulate` and pass " +
          "--simulator-url"
      )
    }
    if (options.target._tag === "Providers") yield* Providers.requiredKeys(options.providers)
    const format = Runner.formatOf(options.input, options.format)
    const source = yield* Input.open(options.input, format)
    const [first, ...rest] = options.fields
    const stored: Runner.StoredOptions = {
      providers: options.providers,
      fields: [first!, ...rest],
      budget: options.budget,
      cacheDays: options.cacheDays,
      out: NodePath.resolve(Option.getOrElse(options.out, () => Runner.defaultOut(options.input, format))),
      format,
      columns: source.columns,
      target: options.target,
      shardSize: options.shardSize
    }
    return yield* Effect.gen(function*() {
      const ledger = yield* Ledger
      const runId = Runner.newRunId()
      const publicUrl = Option.getOrUndefined(options.publicUrl ?? Option.none())
      yield* WebhookTokens.record(runId, { token: WebhookTokens.newToken(), publicUrl })
      yield* ledger.createRun({
        id: runId,
        inputPath: NodePath.resolve(options.input),
        options: stored,
        rows: source.rows
      })
      // one budget for the whole run, in the ledger, reserved against by every worker
      if (options.budget !== undefined) yield* SqlBudget.record(runId, options.budget)
      const queued = yield* enqueue(runId, options.shardSize)
      const counts = yield* ledger.rowCounts(runId)
      yield* Console.log(runId)
      yield* Console.error(
        `submitted ${runId}: ${counts.rows} rows (${counts.people} people) in ${queued} shards; workers on this ` +
          `ledger (enrich worker --database-url …) take them; enrich status --run ${runId} shows progress` +
          (publicUrl === undefined ? "" : `; Crustdata calls back ${WebhookTokens.redacted(publicUrl)}`)
      )
      return runId
    }).pipe(Effect.provide(queueLayer(defaultLeaseSeconds)), Effect.provide(Runner.ledgerLayer(options)))
  })

/** Cuts the run into shards and queues those not finished (again: both are idempotent). */
const enqueue = (runId: string, size: number) =>
  Effect.gen(function*() {
    const queue = yield* shardQueue
    yield* Shards.record(runId, size)
    const shards = (yield* Shards.ofRun(runId)).filter((s) => s.state !== "finished")
    yield* Effect.forEach(shards, (s) => queue.offer({ runId, shard: s.shard }, { id: itemId(runId, s.shard) }), {
      discard: true
    })
    return shards.length
  })

export interface WorkerOptions extends Runner.LedgerOptions, Runner.LimitsOptions {
  readonly concurrency: number
  /** exit once no queued shard is left (also none held by others), instead of waiting for more runs */
  readonly drain: boolean
  readonly leaseSeconds: number
  /** serve Crustdata's callbacks and `/healthz` here */
  readonly listen?: Option.Option<Webhooks.Address> | undefined
}

/** The worker lost a shard's lease (it stalled past it and another worker took the shard over). */
class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", { message: Schema.String }) {}

/**
 * Renews the lease on the queue entry `id` every `every` for as long as it runs; fails with `LeaseLost` once the
 * entry is no longer held by whoever held it when this started. `SqlPersistedQueue` (0.52) has a lock refresh
 * that never renews anything (the entries it takes are never added to the set it refreshes: effect-smol#2606,
 * fixed on the v4 line only), so a shard that ran past the lease was taken by a second worker while the first
 * still worked on it, and people were sent twice. Racing the shard against this also stops a worker that did
 * stall past its lease before it sends anything more.
 */
const keepLease = (id: string, every: Duration.Duration, holders: Set<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = sql.onDialectOrElse({ pg: () => sql.literal("NOW()"), orElse: () => sql.literal("CURRENT_TIMESTAMP") })
    const [held] = yield* sql<{ readonly acquired_by: string | null }>`
      SELECT acquired_by FROM ${sql(queueTable)} WHERE id = ${id}`
    const holder = held?.acquired_by ?? null
    if (holder === null) return yield* new LeaseLost({ message: `queue entry ${id} is not held` })
    holders.add(holder)
    const renew = sql`UPDATE ${sql(queueTable)} SET acquired_at = ${now}
      WHERE id = ${id} AND acquired_by = ${holder} RETURNING id`.pipe(
      Effect.flatMap((rows) =>
        rows.length > 0
          ? Effect.void
          : new LeaseLost({ message: `the lease on ${id} lapsed and another worker took it` })
      )
    )
    return yield* Effect.zipRight(Effect.sleep(every), renew).pipe(Effect.forever)
  })

/** One JSON line per waterfall event on stderr, naming the run and shard (never a person). */
const logEvent = (runId: string, shard: number) => (event: Waterfall.Event) =>
  Effect.sync(() => {
    process.stderr.write(JSON.stringify({ at: new Date().toISOString(), runId, shard, ...event }) + "\n")
  })

const note = (line: string) => Effect.sync(() => process.stderr.write(line + "\n"))

/**
 * A shard is taken as worked at the same time as the run's other unfinished shards, as many as this worker holds
 * at once (with other workers, more of them may be): each plans on its share of a paced provider's starts. When
 * they are all the run has left, they start together and split the starts as one plan for shards of the largest
 * one's rows (`ChunkPlan.Part.people`); otherwise evenly, since their minutes do not line up.
 */
const partOfRun = (
  shards: ReadonlyArray<Shards.ShardState>,
  shard: number,
  concurrency: number
): ChunkPlan.Part => {
  const open = shards.filter((s) => s.state !== "finished")
  const of = Math.max(1, Math.min(concurrency, open.length))
  const index = Math.max(0, open.findIndex((s) => s.shard === shard)) % of
  if (open.length > of) return { index, of }
  return { index, of, people: Math.max(...open.map((s) => s.upTo - s.after)) }
}

/**
 * Gives back every queue entry still held under `holders` (the queue's ids for this process), once the queue has
 * stopped. `SqlPersistedQueue` (0.52) polls entries for its waiting takers in an interruptible loop: a stop that
 * lands while a poll is in flight leaves the entries that poll took held in the table but in no one's hands, and
 * they came back only when their lease lapsed (10 minutes in a test, where 4 takers made it likely).
 */
const giveBack = (holders: ReadonlySet<string>) =>
  Effect.gen(function*() {
    if (holders.size === 0) return
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE ${sql(queueTable)} SET acquired_at = NULL, acquired_by = NULL
      WHERE completed = FALSE AND ${sql.in("acquired_by", [...holders])}`
  }).pipe(Effect.catchAll((error) => note(`giving back the shards in hand: ${error.message}`)))

/** Queue entries not done yet (waiting, or held by a worker), for `--drain`. */
const unfinishedItems = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM ${sql(queueTable)}
    WHERE queue_name = ${queueName} AND completed = FALSE AND attempts < ${maxAttempts}`
  return Number(row?.n ?? 0)
})

/** A queued run, and the options it was submitted with (what its shards and providers are built from). */
const storedRun = (runId: string) =>
  Effect.gen(function*() {
    const run = yield* (yield* Ledger).getRun(runId)
    if (Option.isNone(run)) return yield* Runner.usageError(`queued run ${runId} is not in the ledger`)
    return { run: run.value, stored: run.value.options as Runner.StoredOptions }
  })

/**
 * One provider registry per run in this process, shared by its shards: their rate limits are one. Built from the
 * run's stored options (providers, target, Crustdata's webhook when the run has a public URL), dropped a minute
 * after its last shard here.
 */
const providerRegistries = (wakeups: JobWakeups.JobWakeups) =>
  RcMap.make({
    lookup: (runId: string) =>
      Effect.gen(function*() {
        const { stored } = yield* storedRun(runId)
        // Crustdata calls back only runs submitted with a public URL
        const webhook = Option.flatMap(
          yield* WebhookTokens.ofRun(runId),
          (w) => Option.map(Option.fromNullable(w.publicUrl), (base) => WebhookTokens.url(base, w.token))
        )
        const registry = yield* Layer.build(
          Runner.providersLayer(stored.providers as ReadonlyArray<ContactProvider.ProviderName>, stored.target, {
            crustdataWebhookUrl: Option.getOrUndefined(webhook)
          })
        ).pipe(
          // e.g. a provider key missing in this worker's environment
          Effect.mapError((error) => Runner.usageError(`cannot set up the providers of ${runId}: ${String(error)}`))
        )
        yield* wakeups.register(runId, registry)
        return registry
      }),
    idleTimeToLive: Duration.minutes(1)
  })

/** One shard's waterfall, its result recorded; the run finished by whoever works its last shard. */
const workShardHeld = (
  item: typeof ShardItem.Type,
  context: {
    readonly worker: string
    readonly registries: Effect.Effect.Success<ReturnType<typeof providerRegistries>>
    readonly concurrency: number
  }
) =>
  Effect.gen(function*() {
    const { registries, worker } = context
    const ledger = yield* Ledger
    const { run, stored } = yield* storedRun(item.runId)
    const shards = yield* Shards.ofRun(item.runId)
    const state = shards.find((s) => s.shard === item.shard)
    if (state === undefined || state.state === "finished") return
    const shard: Shards.Shard = { runId: item.runId, shard: item.shard, after: state.after, upTo: state.upTo }
    yield* note(`${worker}: working on ${item.runId} shard ${item.shard} (rows ${state.after + 1}-${state.upTo})`)
    const people = yield* ledger.peopleOfRun(item.runId, state)
    const registry = yield* RcMap.get(registries, item.runId)
    const result = yield* Waterfall.run({
      runId: Shards.label(item.runId, item.shard),
      people,
      providers: stored.providers,
      fields: stored.fields,
      cacheMaxAge: Duration.days(stored.cacheDays),
      resubmitAmbiguous: false,
      partOfRun: partOfRun(shards, item.shard, context.concurrency),
      ...Runner.waitsFor(stored.target),
      onEvent: logEvent(item.runId, item.shard)
    }).pipe(
      Effect.provide(stored.budget === undefined ? Budget.layer(undefined) : SqlBudget.layer(item.runId)),
      Effect.provide(registry),
      Runner.withPolling(stored.target)
    )
    const left = yield* Shards.finish(shard, result, worker)
    yield* note(`${worker}: ${item.runId} shard ${item.shard} done (${left} left)`)
    if (left === 0) yield* finishRun(item.runId, stored, run.createdAt.epochMillis)
  }).pipe(
    Effect.scoped,
    Effect.tapError((error) =>
      note(`${context.worker}: ${item.runId} shard ${item.shard} failed, queued again: ${error.message}`)
    )
  )

/**
 * Works on queued shards, `concurrency` at a time, until stopped (SIGTERM / Ctrl-C: the shards in hand stop
 * where the ledger has them, their leases are released for another worker, exit 0) or, with `drain`, until the
 * queue is empty.
 */
export const work = (options: WorkerOptions) => {
  // the queue's ids for this process, as seen on the entries it took (see `giveBack`)
  const holders = new Set<string>()
  return Effect.gen(function*() {
    const worker = `${NodeOs.hostname()}:${process.pid}`
    const queue = yield* shardQueue
    const ledger = yield* Ledger
    const wakeups = yield* JobWakeups.make
    const registries = yield* providerRegistries(wakeups)
    const renewEvery = Duration.seconds(Math.max(1, options.leaseSeconds / 3))
    // shards held now, for /healthz
    let inHand = 0
    const workShard = (item: typeof ShardItem.Type, entry: { readonly id: string }) =>
      Effect.acquireUseRelease(
        Effect.sync(() => inHand++),
        () =>
          Effect.raceFirst(
            workShardHeld(item, { worker, registries, concurrency: options.concurrency }),
            keepLease(entry.id, renewEvery, holders).pipe(
              Effect.catchTag("SqlError", (error) => new LedgerError({ message: `renewing a lease: ${error.message}` }))
            )
          ),
        () => Effect.sync(() => inHand--)
      )

    const takers = Effect.forEach(
      Array.from({ length: options.concurrency }),
      () => Effect.forever(queue.take(workShard, { maxAttempts })),
      { concurrency: "unbounded", discard: true }
    )
    // a submit stopped between recording its run and queuing its shards is completed by any worker that starts
    for (const run of yield* ledger.listRuns(100)) {
      const size = (run.options as Runner.StoredOptions).shardSize
      if (run.state === "running" && size !== undefined) yield* enqueue(run.id, size)
    }
    const listen = options.listen ?? Option.none()
    if (Option.isSome(listen)) {
      const bound = yield* Webhooks.serve({
        address: listen.value,
        worker,
        shardsInHand: Effect.sync(() => inHand),
        wake: wakeups.publish,
        onReceived: (runId, batchId) =>
          note(`${worker}: webhook: crustdata job ${batchId} of ${runId} called back; its worker checks it now`)
      }).pipe(Effect.mapError((error) => Runner.usageError(error.message)))
      const host = bound.host.includes(":") ? `[${bound.host}]` : bound.host
      yield* note(
        `${worker}: listening on http://${host}:${bound.port} (Crustdata callbacks under ` +
          `${WebhookTokens.pathPrefix}, /healthz; wake-ups ${
            wakeups.via === "postgres" ? "shared through Postgres LISTEN/NOTIFY" : "for this process"
          })`
      )
    }
    yield* note(`${worker}: taking shards (${options.concurrency} at a time)`)
    const drained = unfinishedItems.pipe(
      Effect.repeat({ schedule: Schedule.spaced(Duration.millis(500)), until: (n) => n === 0 })
    )
    yield* (options.drain ? Effect.raceFirst(takers, drained) : takers).pipe(
      // stopped by a signal: the leases of the shards in hand are given back as they unwind; that is a clean stop
      Effect.onInterrupt(() =>
        Effect.zipRight(
          note(`${worker}: stopped; shards in hand are back in the queue`),
          Effect.sync(() => {
            process.exitCode = 0
          })
        )
      )
    )
    yield* note(`${worker}: no queued shard left`)
  }).pipe(
    Effect.scoped,
    Effect.provide(queueLayer(options.leaseSeconds)),
    // stopped: once the queue has stopped polling, nothing this process took stays held
    Effect.onInterrupt(() => giveBack(holders)),
    Effect.provide(Runner.existingLedgerLayer(options)),
    // the providers' limits: in Redis, every worker on it stays within them together
    Effect.provide(Runner.limitsStoreLayer(options))
  )
}

/** The last shard's worker marks the run finished with the shards' combined summary. */
const finishRun = (runId: string, stored: Runner.StoredOptions, createdAt: number) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const counts = yield* ledger.rowCounts(runId)
    const result = yield* Shards.resultOf(runId)
    const written = yield* Export.tally(
      runId,
      Runner.planOf(stored.providers, stored.fields),
      yield* Shards.rowLabels(runId, stored.shardSize ?? Shards.defaultSize)
    )
    const summary = Runner.summaryOf({
      runId,
      counts,
      filled: written.filled,
      // the shards' budgets are one (the run's, in the ledger): its limit is the run's
      result: { ...result, credits: { ...result.credits, limit: stored.budget } },
      // workers write no file: the output is exported from the ledger, wherever it is wanted
      out: `not written by workers: enrich export --run ${runId} --out FILE`,
      seconds: (Date.now() - createdAt) / 1000
    })
    if (yield* ledger.finishRunning(runId, summary)) {
      yield* note(`run ${runId} finished: enrich export --run ${runId} writes its output`)
    }
  })
