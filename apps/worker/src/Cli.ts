/**
 * The `enrich` command line: parsing and help only; the work is in `Runner`.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { Contact, ContactProvider } from "@enrich/core"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { fileURLToPath } from "node:url"
import * as Runner from "./Runner.js"
import * as Shards from "./Shards.js"
import * as Simulate from "./Simulate.js"
import * as SimulatorFaults from "./SimulatorFaults.js"
import * as Webhooks from "./Webhooks.js"
import * as Worker from "./Worker.js"

/** What the exit code says, in the help of every command that runs the waterfall (and in the README). */
const exitCodes = "Exit codes: 0 done, 3 finished with failures (people failed at a provider: the summary says " +
  "which, how many and why), 1 failed while working, 2 a mistake in flags, input or environment, 130 interrupted."

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/** A numeric flag's value when it is at least `min`, else a usage error naming the flag. */
const atLeast = (name: string, min: number) => (n: number) =>
  n >= min ? Effect.succeed(n) : Effect.fail(invalid(`--${name} must be ${min} or more (got ${n})`))

const providerNames: ReadonlyArray<ContactProvider.ProviderName> = ContactProvider.ProviderName.literals

const list = <A extends string>(name: string, allowed: ReadonlyArray<A>, fallback: string, description: string) =>
  Options.text(name).pipe(
    Options.withDefault(fallback),
    Options.withDescription(`${description} Comma-separated, from: ${allowed.join(", ")}. Default: ${fallback}.`),
    Options.mapEffect((raw) => {
      const items = raw.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "")
      const unknown = items.filter((s) => !allowed.includes(s as A))
      if (items.length === 0) return Effect.fail(invalid(`--${name} needs at least one of ${allowed.join(", ")}`))
      if (unknown.length > 0) {
        return Effect.fail(invalid(`--${name}: unknown ${unknown.join(", ")} (expected ${allowed.join(", ")})`))
      }
      return Effect.succeed([...new Set(items)] as Array<A>)
    })
  )

const providers = list(
  "providers",
  providerNames,
  "fiber,crustdata,thehog",
  "Providers to ask, in waterfall order: a person goes to the next one only for fields still missing."
)
const fields = list("fields", Contact.allFields, "work_email,personal_email,phone", "Fields to find.")
const order = Options.choice("order", ["given", "auto"]).pipe(
  Options.withDefault("given" as const),
  Options.withDescription(
    "given (default): ask the providers in the order of --providers. auto: per field and identifier kind, in the " +
      "order of least expected credits per value found, learnt from the ledger's history (what each provider found " +
      "for each field and kind) under each provider's billing; the run prints the order and the numbers behind it " +
      "and keeps them in the ledger."
  )
)

// No defaults here: Runner.locate resolves the ledger, so that DATABASE_URL from the environment never wins
// over an explicit --db.
const db = Options.text("db").pipe(
  Options.withDescription(
    "SQLite ledger file (results, jobs, credits; makes runs resumable). Default: .enrich/ledger.db, or the " +
      "Postgres of DATABASE_URL when that is set and neither --db nor --database-url is given."
  ),
  Options.optional
)
const databaseUrl = Options.redacted("database-url").pipe(
  Options.withDescription(
    "Postgres ledger instead of SQLite (postgres://…); DATABASE_URL is used when neither this nor --db is given."
  ),
  Options.optional
)
const redisUrl = Options.redacted("redis-url").pipe(
  Options.withDescription(
    "Count the providers' rate limits and Crustdata's active jobs in Redis (redis://…), shared by every enrich " +
      "process using it, instead of in this process; also read from REDIS_URL."
  ),
  Options.withFallbackConfig(Config.redacted("REDIS_URL")),
  Options.optional
)
const out = Options.text("out").pipe(
  Options.withDescription("Output file (default: <input>.enriched.<format> next to the input)."),
  Options.optional
)
const format = Options.choice("format", ["csv", "jsonl"]).pipe(
  Options.withDescription("Input and output format (default: from the file extension)."),
  Options.optional
)
const budget = Options.integer("budget").pipe(
  Options.mapEffect(atLeast("budget", 0)),
  Options.withDescription("Hard credit cap for the run: never exceeded; the run stops submitting when reached."),
  Options.optional
)
const cacheDays = Options.integer("cache-days").pipe(
  Options.mapEffect(atLeast("cache-days", 0)),
  Options.withDescription("Reuse results bought within this many days instead of buying them again (0: never)."),
  Options.withDefault(30)
)
const resubmitAmbiguous = Options.boolean("resubmit-ambiguous").pipe(
  Options.withDescription(
    "On resume, resend chunks that may have reached a provider without an idempotency key before a crash (may pay twice)."
  )
)
const simulators = Options.boolean("simulators").pipe(
  Options.withDescription(
    "Run against simulators started in this process instead of the real providers (no keys, no spend; a killed " +
      "run cannot be resumed, the simulators die with it)."
  )
)
const simulatorUrl = Options.text("simulator-url").pipe(
  Options.withDescription(
    "Run against `enrich simulate` at this URL (e.g. http://127.0.0.1:8787) with its built-in keys; resumable."
  ),
  Options.optional
)
const timeScale = Options.float("time-scale").pipe(
  Options.withDescription(
    "Provider seconds per real second of the simulators (--simulators default 600; --simulator-url: the value " +
      "given to `enrich simulate`, default 60). Scales rate limits and polling to match."
  ),
  Options.optional
)

/** Where the run's requests go; a usage error when the flags contradict each other. */
const target = Options.all({ simulators, simulatorUrl, timeScale }).pipe(
  Options.mapEffect(({ simulatorUrl, simulators, timeScale }): Effect.Effect<
    Runner.Target,
    ValidationError.ValidationError
  > => {
    if (simulators && Option.isSome(simulatorUrl)) {
      return Effect.fail(invalid("--simulators and --simulator-url exclude each other: pick one"))
    }
    if (Option.isSome(timeScale) && !(timeScale.value > 0)) {
      return Effect.fail(invalid("--time-scale must be a positive number"))
    }
    if (Option.isSome(simulatorUrl)) {
      if (!URL.canParse(simulatorUrl.value)) {
        return Effect.fail(invalid(`--simulator-url: not a URL: ${simulatorUrl.value}`))
      }
      return Effect.succeed({
        _tag: "Simulator",
        url: simulatorUrl.value,
        timeScale: Option.getOrElse(timeScale, () => 60)
      })
    }
    if (simulators) {
      return Effect.succeed({ _tag: "InProcess", timeScale: Option.getOrElse(timeScale, () => Runner.demoTimeScale) })
    }
    if (Option.isSome(timeScale)) return Effect.fail(invalid("--time-scale only applies to simulators"))
    return Effect.succeed({ _tag: "Providers" })
  })
)
const runId = Options.text("run").pipe(Options.withDescription("Run id (default: the latest run)."), Options.optional)
const input = Args.file({ name: "input", exists: "yes" }).pipe(
  Args.withDescription("CSV or JSONL with a linkedin_url, email, x_handle or github_username column.")
)

const ledger = { db, databaseUrl }

const run = Command.make(
  "run",
  { ...ledger, input, out, format, providers, fields, order, budget, cacheDays, target, redisUrl },
  (o) => Runner.run({ ...o, resubmitAmbiguous: false, budget: Option.getOrUndefined(o.budget) })
).pipe(
  Command.withDescription(
    `Enrich a list: waterfall across providers, results written atomically to --out. ${exitCodes}`
  )
)

const estimate = Command.make(
  "estimate",
  { ...ledger, input, format, providers, fields, order },
  (o) => Runner.estimate(o)
).pipe(
  Command.withDescription(
    "Quote the credits a run could spend, without spending any: the worst case per provider, and the expected " +
      "credits with a 95% range in the given order and in --order auto, from the ledger's history (--db / " +
      "--database-url, when there is one: an estimate never creates a ledger)."
  )
)

const status = Command.make("status", { ...ledger, runId }, (o) => Runner.status(o)).pipe(
  Command.withDescription("Show recent runs, or one run's chunks, results and credits.")
)

const wait = Options.boolean("wait").pipe(
  Options.withDescription(
    "When another enrich process is working on the run, wait for it to stop instead of refusing (one process " +
      "works on a run at a time, so nothing is sent twice)."
  )
)
const resumeOut = Options.text("out").pipe(
  Options.withDescription("Write the output here this time (default: where the run was started to write it)."),
  Options.optional
)

const resume = Command.make(
  "resume",
  { ...ledger, runId, resubmitAmbiguous, wait, out: resumeOut, redisUrl },
  (o) => Runner.resume(o)
).pipe(
  Command.withDescription(
    `Continue an interrupted run: polls jobs already submitted instead of submitting again. ${exitCodes}`
  )
)

const exportOut = Options.text("out").pipe(
  Options.withDescription("Write the output here (default: where the run writes it)."),
  Options.optional
)

const exportCommand = Command.make(
  "export",
  { ...ledger, runId, out: exportOut, format },
  (o) => Runner.exportRun(o)
).pipe(
  Command.withDescription(
    "Write a run's output from the ledger, at any time: while it runs, after a crash, or after it finished " +
      "(rows still on their way have status pending). Sends nothing to any provider."
  )
)

const shardSize = Options.integer("shard-size").pipe(
  Options.mapEffect(atLeast("shard-size", 1)),
  Options.withDefault(Shards.defaultSize),
  Options.withDescription(
    "Input rows per shard: the unit a worker takes from the queue (and that another worker takes over if it dies)."
  )
)

const publicUrl = Options.text("public-url").pipe(
  Options.withDescription(
    "Base URL at which the workers' --listen is reached from the internet (e.g. https://enrich.example.com/hooks): " +
      "Crustdata is asked to call back <url>/webhooks/crustdata/<token> (a secret per run) when a job ends, so the " +
      "waiting worker checks it at once instead of at its next poll. Without it, workers poll only."
  ),
  Options.mapEffect((raw) => {
    const url = URL.canParse(raw) ? new URL(raw) : undefined
    return url !== undefined && (url.protocol === "https:" || url.protocol === "http:") && url.search === "" &&
        url.hash === ""
      ? Effect.succeed(raw.replace(/\/+$/, ""))
      : Effect.fail(invalid(`--public-url: expected an http(s) URL without query or fragment, got ${raw}`))
  }),
  Options.optional
)

const submit = Command.make(
  "submit",
  { ...ledger, input, out, format, providers, fields, budget, cacheDays, target, shardSize, publicUrl },
  (o) => Worker.submit({ ...o, resubmitAmbiguous: false, budget: Option.getOrUndefined(o.budget) })
).pipe(
  Command.withDescription(
    "Record a run on the ledger (usually Postgres: --database-url) and queue it, in shards, for `enrich worker` " +
      "processes on any machine that reaches that database; prints the run id. Sends nothing itself. Its output " +
      "is written by `enrich export --run ID`."
  )
)

const worker = Command.make(
  "worker",
  {
    ...ledger,
    redisUrl,
    concurrency: Options.integer("concurrency").pipe(
      Options.mapEffect(atLeast("concurrency", 1)),
      Options.withDefault(4),
      Options.withDescription(
        "Shards worked at once by this process. A shard mostly waits on providers' jobs, so a few cost little CPU; " +
          "a run's shards worked at once share a paced provider's starts in their chunk plans."
      )
    ),
    drain: Options.boolean("drain").pipe(
      Options.withDescription("Exit once no queued shard is left, instead of waiting for new runs.")
    ),
    leaseSeconds: Options.integer("lease-seconds").pipe(
      Options.mapEffect(atLeast("lease-seconds", 2)),
      Options.withDefault(Worker.defaultLeaseSeconds),
      Options.withDescription(
        "How long a shard stays with a worker that stopped renewing it (a killed worker) before another takes it."
      )
    ),
    listen: Options.text("listen").pipe(
      Options.withDescription(
        "Serve Crustdata's job callbacks (POST /webhooks/crustdata/<token>, for runs submitted with --public-url) " +
          "and GET /healthz on PORT or HOST:PORT; without a host, 127.0.0.1 only (0.0.0.0: every interface). A " +
          "callback wakes the job's waiting worker, wherever it runs (Postgres LISTEN/NOTIFY); polling stays."
      ),
      Options.mapEffect((raw) =>
        Either.match(Webhooks.parseAddress(raw), {
          onLeft: (message) => Effect.fail(invalid(`--listen: ${message}`)),
          onRight: Effect.succeed
        })
      ),
      Options.optional
    )
  },
  (o) => Worker.work(o)
).pipe(
  Command.withDescription(
    "Work on the shards queued by `enrich submit` on this ledger, with any number of other workers, until " +
      "stopped (SIGTERM or Ctrl-C: the shards in hand go back to the queue, exit 0). The providers' keys come " +
      "from this process's environment."
  )
)

// resolved from this module (dist/ or src/ of apps/worker), so `enrich demo` works from any directory
const examplePeople = fileURLToPath(new URL("../../../examples/people.csv", import.meta.url))

const demo = Command.make(
  "demo",
  {
    ...ledger,
    out: out,
    input: Options.text("input").pipe(
      Options.withDescription("Input list (default: the repository's examples/people.csv, from any directory)."),
      Options.withDefault(examplePeople)
    )
  },
  (o) => Runner.demo(o)
).pipe(
  Command.withDescription(
    "Start the three simulators in-process and run the waterfall over examples/people.csv with the SQLite ledger. " +
      exitCodes
  )
)

const simulate = Command.make(
  "simulate",
  {
    port: Options.integer("port").pipe(
      Options.mapEffect((port) =>
        port >= 0 && port <= 65535
          ? Effect.succeed(port)
          : Effect.fail(invalid(`--port must be 0 to 65535 (got ${port})`))
      ),
      Options.withDefault(8787),
      Options.withDescription("Port on 127.0.0.1 (0: any free port; the first line printed gives the URL).")
    ),
    timeScale: Options.float("time-scale").pipe(
      Options.mapEffect((scale) =>
        scale > 0 ? Effect.succeed(scale) : Effect.fail(invalid("--time-scale must be a positive number"))
      ),
      Options.withDefault(60),
      Options.withDescription("Provider seconds per real second (60: a provider minute passes in a second).")
    ),
    seed: Options.integer("seed").pipe(
      Options.withDefault(42),
      Options.withDescription("Seed of the universe and of the fault draws.")
    ),
    people: Options.integer("people").pipe(
      Options.mapEffect(atLeast("people", 1)),
      Options.withDefault(5000),
      Options.withDescription("People in the simulators' universe.")
    ),
    faults: Options.text("faults").pipe(
      Options.withDefault("none"),
      Options.withDescription(
        "Fault mix, comma-separated (default none), e.g. 5xx=0.3,429=0.4,truncated=0.3,malformed=0.3," +
          "failed-jobs=0.5,expired-links,slow=10,unknown-enums; a fiber:, crustdata: or thehog: prefix limits one " +
          "to that provider (thehog:429=0.5). Rates are probabilities per request or job, drawn from --seed."
      ),
      Options.mapEffect((raw): Effect.Effect<
        { readonly text: string | undefined; readonly mix: SimulatorFaults.FaultMix },
        ValidationError.ValidationError
      > =>
        raw.trim() === "none"
          ? Effect.succeed({ text: undefined, mix: { faults: {}, expiredLinks: 0 } })
          : Either.match(SimulatorFaults.parse(raw), {
            onLeft: (message) => Effect.fail(invalid(`--faults: ${message}`)),
            onRight: (mix) => Effect.succeed({ text: raw.trim(), mix })
          })
      )
    ),
    list: Options.integer("list").pipe(
      Options.mapEffect(atLeast("list", 1)),
      Options.withDescription(
        "Print a CSV of this many people the simulators know (as examples/people.csv: mostly LinkedIn URLs, some " +
          "emails, X handles, GitHub usernames, duplicates and broken rows) and exit, serving nothing."
      ),
      Options.optional
    )
  },
  (o) =>
    Option.match(o.list, {
      onSome: (size) =>
        Effect.sync(() => process.stdout.write(Simulate.list({ seed: o.seed, people: o.people, size }))),
      onNone: () =>
        Simulate.simulate({
          port: o.port,
          timeScale: o.timeScale,
          seed: o.seed,
          people: o.people,
          faults: o.faults.mix,
          ...(o.faults.text === undefined ? {} : { faultsText: o.faults.text })
        })
    })
).pipe(
  Command.withDescription(
    "Serve the Fiber AI, Crustdata and TheHog simulators under /fiber, /crustdata, /thehog, and their counters " +
      `(requests, 429s, submissions per person and provider, credits) as JSON at GET ${Simulate.countersPath}.`
  )
)

export const command = Command.make("enrich").pipe(
  Command.withDescription(
    "Turn lists of people (LinkedIn URLs, emails, X handles, GitHub usernames) into verified work emails, personal " +
      "emails and phones through Fiber AI, Crustdata and TheHog, with a durable ledger. Keys: FIBER_API_KEY, " +
      "CRUSTDATA_API_KEY, THEHOG_ACCESS_KEY + THEHOG_SECRET_KEY (and *_BASE_URL to point elsewhere). " + exitCodes
  ),
  Command.withSubcommands([run, estimate, status, resume, exportCommand, submit, worker, demo, simulate])
)

export const cli = Command.run(command, { name: "enrich", version: "0.1.0" })
