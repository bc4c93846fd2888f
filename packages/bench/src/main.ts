/**
 * `pnpm bench` (flags: `usage` below; what they mean: BENCHMARKS.md): reproducible benchmarks against the
 * simulators. Every figure is a ratio against a bound or a baseline measured in this same process, so the
 * results carry across machines.
 */
import { HeapTuning } from "@enrich/worker"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import * as NodePath from "node:path"
import * as Baseline from "./Baseline.js"
import * as Ceiling from "./Ceiling.js"
import { say } from "./Common.js"
import * as Credits from "./Credits.js"
import * as Ingest from "./Ingest.js"
import * as RunRss from "./RunRss.js"
import * as Scale from "./Scale.js"
import * as SimulatorProcess from "./SimulatorProcess.js"
import * as WaterfallBound from "./WaterfallBound.js"

const parts = ["baseline", "ceiling", "ingest", "credits", "waterfall", "rss", "scale"] as const
/** internal: the ingest part run alone in a child process, so its peak RSS is its own */
const ingestChild = "ingest-child"
type Part = typeof parts[number]

const ceilingProvidersOf = (raw: string | undefined): ReadonlyArray<"fiber" | "crustdata"> => {
  if (raw === undefined) return ["fiber", "crustdata"]
  if (raw === "fiber" || raw === "crustdata") return [raw]
  throw new Error(`--provider must be fiber or crustdata, got ${raw}`)
}

const setUpsOf = (raw: string | undefined): ReadonlyArray<string> => {
  const names = WaterfallBound.setUps.map((s) => s.name)
  if (raw === undefined) return names
  if (names.includes(raw)) return [raw]
  throw new Error(`--setup must be ${names.join(" or ")}, got ${raw}`)
}

const parse = (argv: ReadonlyArray<string>) => {
  const flags = new Map<string, string>()
  const chosen: Array<Part> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--no-naive") flags.set("no-naive", "true")
    else if (arg.startsWith("--")) {
      const [name, inline] = arg.slice(2).split("=", 2) as [string, string | undefined]
      const value = inline ?? argv[++i]
      if (value === undefined) throw new Error(`--${name} needs a value`)
      flags.set(name, value)
    } else if (arg === ingestChild) flags.set(ingestChild, "true")
    else if (arg === SimulatorProcess.childFlag) flags.set(SimulatorProcess.childFlag, "true")
    else if ((parts as ReadonlyArray<string>).includes(arg)) chosen.push(arg as Part)
    else throw new Error(`unknown part "${arg}" (parts: ${parts.join(", ")})`)
  }
  const number = (name: string, fallback: number) => {
    const raw = flags.get(name)
    if (raw === undefined) return fallback
    const n = Number(raw.replace(/_/g, ""))
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${raw}`)
    return n
  }
  return {
    parts: chosen.length === 0 ? parts : chosen,
    named: chosen,
    people: number("people", 20_000),
    records: number("records", 1_000_000),
    timeScale: flags.has("time-scale") ? number("time-scale", 20) : undefined,
    naiveTimeScale: number("naive-time-scale", 100),
    seed: number("seed", 42),
    creditPeople: number("credit-people", 2_000),
    rssPeople: number("rss-people", 1_000_000),
    rssTimeScale: number("rss-time-scale", RunRss.defaultTimeScale),
    scalePeople: number("people", Scale.defaults.people),
    ingestTimeScale: number("ingest-time-scale", Scale.defaults.ingestTimeScale),
    shardSize: flags.has("shard-size") ? number("shard-size", 1) : undefined,
    workers: workersOf(flags.get("workers")),
    naive: flags.get("no-naive") === undefined,
    ceilingProviders: ceilingProvidersOf(flags.get("provider")),
    setUps: setUpsOf(flags.get("setup")),
    child: flags.get(ingestChild) !== undefined,
    simulatorChild: flags.get(SimulatorProcess.childFlag) === undefined ? undefined : flags.get("options") ?? "{}"
  }
}

const program = (options: ReturnType<typeof parse>) =>
  Effect.gen(function*() {
    const started = Date.now()
    // The baseline always runs first: every other figure is read against this machine's speed.
    yield* Baseline.run
    const want = (part: Part) => options.parts.includes(part)
    if (want("ceiling")) {
      yield* say("\n# ceiling")
      const settings = {
        people: options.people,
        naiveTimeScale: options.naiveTimeScale,
        seed: options.seed
      }
      for (const provider of options.ceilingProviders) {
        const timeScale = options.timeScale ?? Ceiling.defaultTimeScale[provider]
        yield* Ceiling.run(provider, { ...settings, timeScale }, options.naive)
      }
    }
    if (want("ingest")) {
      yield* say("\n# ingest")
      const child = spawnSync(process.execPath, [
        "--expose-gc",
        process.argv[1]!,
        ingestChild,
        "--records",
        String(options.records),
        "--seed",
        String(options.seed)
      ], { stdio: "inherit" })
      if (child.status !== 0) {
        yield* say(`  ingest child process failed (exit ${child.status ?? child.signal})`)
        // the other parts still run, but the bench as a whole failed
        process.exitCode = 1
      }
    }
    if (want("credits")) {
      yield* say("\n# credits")
      yield* Credits.run({ people: options.creditPeople, seed: options.seed, timeScale: 600 })
    }
    if (want("waterfall")) {
      yield* say("\n# waterfall")
      yield* WaterfallBound.run({
        people: options.people,
        seed: options.seed,
        timeScale: options.timeScale ?? WaterfallBound.defaultTimeScale,
        setUps: options.setUps
      })
    }
    if (want("rss")) {
      yield* say("\n# rss")
      yield* RunRss.run({
        people: options.rssPeople,
        timeScale: options.rssTimeScale,
        seed: options.seed,
        enrich: NodePath.resolve(import.meta.dirname, "../../../apps/worker/dist/main.js")
      })
    }
    if (want("scale")) {
      yield* say("\n# scale")
      const empty = (name: string) => process.env[name] === "" ? undefined : process.env[name]
      yield* Scale.run({
        people: options.scalePeople,
        timeScale: options.timeScale ?? Scale.defaults.timeScale,
        ingestTimeScale: options.ingestTimeScale,
        seed: options.seed,
        shardSize: options.shardSize,
        workers: options.workers,
        enrich: NodePath.resolve(import.meta.dirname, "../../../apps/worker/dist/main.js"),
        databaseUrl: empty("DATABASE_URL"),
        redisUrl: empty("REDIS_URL"),
        required: options.named.includes("scale")
      })
    }
    yield* say(`\nbench finished in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  })

/** `--workers 1,2,4`: the worker counts the scale part measures. */
const workersOf = (raw: string | undefined): ReadonlyArray<number> => {
  if (raw === undefined) return Scale.defaults.workers
  return raw.split(",").map((n) => {
    const count = Number(n)
    if (!Number.isInteger(count) || count <= 0) throw new Error(`--workers takes counts such as 1,2,4, got ${raw}`)
    return count
  })
}

const usage = "usage: pnpm bench [baseline|ceiling|ingest|credits|waterfall|rss|scale ...] [--people N] " +
  "[--records N] [--time-scale N] [--naive-time-scale N] [--credit-people N] [--seed N] [--no-naive] " +
  "[--provider fiber|crustdata] [--setup default|comparable] [--rss-people N] [--rss-time-scale N] " +
  "[--ingest-time-scale N] [--shard-size N] [--workers N,N...]\n" +
  "  scale: needs DATABASE_URL (Postgres) and REDIS_URL; --people (default 20000), --time-scale (default 2, as the ceiling part's Fiber run), " +
  "--ingest-time-scale (default 100), --shard-size (default a quarter of --people), --workers (default 1,2,4)"

/** The flags, or a one-line error and exit code 2 (a mistake in the command line is not a crash). */
const parseOrExit = (argv: ReadonlyArray<string>): ReturnType<typeof parse> => {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${usage}\nParts and flags: BENCHMARKS.md.\n`)
    process.exit(0)
  }
  try {
    return parse(argv)
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n${usage}\n`)
    process.exit(2)
  }
}

const options = parseOrExit(process.argv.slice(2))
// the process runs the worker's code: it gets the worker's V8 settings, so the figures are the worker's
HeapTuning.apply()
Effect.runPromise<void, unknown>(
  options.simulatorChild !== undefined
    ? SimulatorProcess.runChild(JSON.parse(options.simulatorChild))
    : options.child
    ? Ingest.run({ records: options.records, seed: options.seed })
    : program(options)
)
  .catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
    process.exitCode = 1
  })
