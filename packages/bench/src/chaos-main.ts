/**
 * `pnpm chaos` (flags: `usage` below; what it does: `Chaos.ts`, BENCHMARKS.md). The last line is the verdict;
 * the exit code is 0 only when it holds.
 */
import * as NodePath from "node:path"
import * as Chaos from "./Chaos.js"

const usage = "usage: pnpm chaos [--people N] [--kills N] [--pairs N] [--seed N] [--faults MIX|none] " +
  "[--time-scale N] [--database-url postgres://…]"

const parse = (argv: ReadonlyArray<string>): Chaos.Options => {
  const flags = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith("--")) throw new Error(`unexpected argument "${arg}"`)
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined]
    const value = inline ?? argv[++i]
    if (value === undefined) throw new Error(`--${name} needs a value`)
    if (!["people", "kills", "pairs", "seed", "faults", "time-scale", "database-url"].includes(name)) {
      throw new Error(`unknown flag --${name}`)
    }
    flags.set(name, value)
  }
  const number = (name: string, fallback: number, min: number) => {
    const raw = flags.get(name)
    if (raw === undefined) return fallback
    const n = Number(raw.replace(/_/g, ""))
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number of at least ${min}, got ${raw}`)
    return n
  }
  return {
    people: number("people", Chaos.defaults.people, 1),
    kills: number("kills", Chaos.defaults.kills, 0),
    pairs: number("pairs", Chaos.defaults.pairs, 0),
    seed: number("seed", Chaos.defaults.seed, 0),
    timeScale: number("time-scale", Chaos.defaults.timeScale, 1),
    faults: flags.get("faults") ?? Chaos.defaults.faults,
    databaseUrl: flags.get("database-url") ?? process.env.DATABASE_URL,
    enrich: NodePath.resolve(import.meta.dirname, "../../../apps/worker/dist/main.js"),
    log: (line) => process.stdout.write(`${line}\n`)
  }
}

const argv = process.argv.slice(2)
if (argv.includes("--help") || argv.includes("-h")) {
  process.stdout.write(`${usage}\nWhat it does: BENCHMARKS.md (pnpm chaos).\n`)
  process.exit(0)
}
let options: Chaos.Options
try {
  options = parse(argv)
} catch (error) {
  process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n${usage}\n`)
  process.exit(2)
}
Chaos.run(options).then(
  (outcome) => {
    for (const problem of outcome.problems) process.stdout.write(`  ${problem}\n`)
    process.stdout.write(`${outcome.line}\n`)
    process.exitCode = outcome.ok ? 0 : 1
  },
  (error) => {
    process.stderr.write(`chaos: ${error instanceof Error ? error.stack : String(error)}\n`)
    process.exitCode = 1
  }
)
