/**
 * `pnpm chaos`: the built `enrich` binary SIGKILLed at random moments and in the known windows (run creation,
 * a submit, the output write), resumed after each kill, with pairs of concurrent resumes, against
 * `enrich simulate` in a process of its own with a fault mix on. The result is compared with an uninterrupted
 * run against a fresh simulator of the same seed, by what the simulator itself saw: people submitted more than
 * once per provider (double charges), credits billed, and the output file.
 *
 * Under faults, which request draws which fault depends on the order requests arrive in, and that order depends
 * on timing: two uninterrupted runs of one seed can already differ (a chunk failed in one, not in the other). So
 * with faults on, "credits equal" compares the ledger's credits with what the simulator billed this run, and the
 * output is compared row for row only with `--faults none`; without faults both are compared with the reference.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as EnrichSimulate from "./EnrichSimulate.js"

export interface Options {
  readonly people: number
  readonly kills: number
  readonly seed: number
  /** the `enrich simulate --faults` mix, or "none" */
  readonly faults: string
  readonly timeScale: number
  /** pairs of concurrent `enrich resume` */
  readonly pairs: number
  readonly databaseUrl: string | undefined
  /** where the binary is (apps/worker/dist/main.js) */
  readonly enrich: string
  readonly log: (line: string) => void
}

export const defaults = {
  people: 5000,
  kills: 100,
  seed: 42,
  faults: "5xx=0.05,429=0.05,truncated=0.02,malformed=0.02,slow=2",
  timeScale: 60,
  pairs: 3
}

export interface Outcome {
  readonly kills: number
  readonly rowsLost: number
  readonly doubleCharges: number
  readonly creditsEqual: boolean
  /** undefined: not comparable (faults on) */
  readonly outputIdentical: boolean | undefined
  readonly problems: ReadonlyArray<string>
  readonly line: string
  readonly ok: boolean
}

interface CountersJson {
  readonly submissions: Record<string, Record<string, number>>
  readonly netCredits: Record<string, number>
}

/** A seeded generator (mulberry32), so a chaos run's kill moments repeat for a seed. */
const random = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

interface Running {
  readonly child: ChildProcess
  readonly exited: Promise<Exited>
}

const start = (command: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv): Running => {
  const child = spawn(process.execPath, [command, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (chunk) => stdout += chunk)
  child.stderr!.on("data", (chunk) => stderr += chunk)
  const exited = new Promise<Exited>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  )
  return { child, exited }
}

/** `enrich simulate` on a free port with the run's faults, until `stop`, and its counters. */
const simulator = async (options: Options, cwd: string) => {
  const { stop, url } = await EnrichSimulate.serve(options.enrich, options, cwd)
  const counters = async (): Promise<CountersJson> => {
    const response = await fetch(`${url}/_simulator/counters`)
    return await response.json() as CountersJson
  }
  return { url, counters, stop }
}

type Simulator = Awaited<ReturnType<typeof simulator>>

const totalSubmissions = (counters: CountersJson) =>
  Object.values(counters.submissions).reduce(
    (n, byPerson) => n + Object.values(byPerson).reduce((m, k) => m + k, 0),
    0
  )

/** Submissions beyond the first, per person × provider. */
const extraSubmissions = (counters: CountersJson) =>
  Object.values(counters.submissions).reduce(
    (n, byPerson) => n + Object.values(byPerson).reduce((m, k) => m + Math.max(0, k - 1), 0),
    0
  )

const billed = (counters: CountersJson) => Object.values(counters.netCredits).reduce((n, c) => n + c, 0)

/** What the simulator billed each provider's account, for a line that says where credits differ. */
const perProvider = (counters: CountersJson) =>
  Object.entries(counters.netCredits).map(([provider, credits]) => `${provider} ${credits}`).join(", ")

/** The ledger's credits, from the summary a finished run prints (`credits: 1234 (~56 of them estimated)`). */
const bookedCredits = (stdout: string): { readonly total: number; readonly line: string } | undefined => {
  const match = /^credits: (\d+).*$/m.exec(stdout)
  return match === null ? undefined : { total: Number(match[1]), line: match[0] }
}

const finished = (exit: Exited) => exit.code === 0 || exit.code === 3

/** One workspace: the input, a ledger, an output, and the `enrich` flags that point at them and the simulator. */
const workspace = (options: Options, root: string, name: string, sim: Simulator) => {
  const dir = NodePath.join(root, name)
  NodeFs.mkdirSync(dir, { recursive: true })
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "", NO_COLOR: "1" }
  const ledger = options.databaseUrl === undefined
    ? ["--db", NodePath.join(dir, "ledger.db")]
    : ["--database-url", `${options.databaseUrl}`]
  const out = NodePath.join(dir, "out", "people.enriched.csv")
  const target = ["--simulator-url", sim.url, "--time-scale", String(options.timeScale)]
  const runArgs = ["run", NodePath.join(root, "people.csv"), ...ledger, ...target, "--out", out, "--cache-days", "0"]
  const input = NodePath.join(root, "people.csv")
  return {
    dir,
    out,
    run: () => start(options.enrich, runArgs, dir, env),
    /** by id: a ledger may hold other runs (Postgres), and `resume` alone takes the latest */
    resume: (runId: string) => start(options.enrich, ["resume", ...ledger, "--run", runId], dir, env),
    /** the id of the run of this input, if the ledger has one */
    findRun: async (): Promise<string | undefined> => {
      const status = await start(options.enrich, ["status", ...ledger], dir, env).exited
      const line = status.stdout.split("\n").find((l) => l.includes(input))
      return line?.split(" ")[0]
    }
  }
}

export const run = async (options: Options): Promise<Outcome> => {
  const log = options.log
  const root = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "enrich-chaos-"))
  const problems: Array<string> = []
  try {
    const list = start(options.enrich, EnrichSimulate.listArgs(options.people, options.seed), root, process.env)
    const listed = await list.exited
    if (listed.code !== 0) throw new Error(`enrich simulate --list failed: ${listed.stderr}`)
    NodeFs.writeFileSync(NodePath.join(root, "people.csv"), listed.stdout)
    const inputRows = listed.stdout.trimEnd().split("\n").slice(1)

    // ---- the reference: uninterrupted, against a fresh simulator of the same seed ----
    log(`reference: ${options.people} people, faults ${options.faults}, time ×${options.timeScale}`)
    const refSim = await simulator(options, root)
    const refStarted = Date.now()
    // the reference's ledger is SQLite whatever the chaos run's: only what the simulator saw and the output count
    const ref = workspace({ ...options, databaseUrl: undefined }, root, "reference", refSim)
    const refRunning = ref.run()
    // when its first request reached the simulator: the run was created just before, which aims the creation kills
    let firstRequestMs = 0
    while (refRunning.child.exitCode === null && firstRequestMs === 0) {
      if (totalSubmissions(await refSim.counters()) > 0) firstRequestMs = Date.now() - refStarted
      else await sleep(10)
    }
    const refExit = await refRunning.exited
    const refSeconds = (Date.now() - refStarted) / 1000
    const refCounters = await refSim.counters()
    await refSim.stop()
    if (!finished(refExit)) throw new Error(`the reference run failed (exit ${refExit.code}): ${refExit.stderr}`)
    log(`reference: exit ${refExit.code} in ${refSeconds.toFixed(1)} s, ${billed(refCounters)} credits billed`)

    // ---- the chaos run ----
    const sim = await simulator(options, root)
    const ws = workspace(options, root, "chaos", sim)
    const rand = random(options.seed)
    let kills = 0
    let emptyRuns = 0
    let last: Exited | undefined

    const byPhase = new Map<string, number>()
    let phase = "creation"
    /** the kill whose resume came next: where a double submission appears, it is that kill's doing */
    let previousKill = "none"
    let doublesSeen = 0
    const kill = async (running: Running, at?: number): Promise<Exited> => {
      if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL")
      const exit = await running.exited
      const doubles = extraSubmissions(await sim.counters())
      if (doubles > doublesSeen) {
        problems.push(
          `${doubles - doublesSeen} double submission(s) appeared after the kill "${previousKill}" ` +
            `(seen after the process that followed it ended)`
        )
        doublesSeen = doubles
      }
      if (exit.signal === "SIGKILL") {
        kills++
        byPhase.set(phase, (byPhase.get(phase) ?? 0) + 1)
        previousKill = `#${kills} ${phase}${at === undefined ? "" : ` at ${Math.round(at)} ms`}`
      }
      return exit
    }
    /** A resume that refuses because the run is empty is the defect of issue 14 (4). */
    const checkEmpty = (exit: Exited) => {
      if (/has no input rows/.test(exit.stderr) || /: 0 rows, 0 people/.test(exit.stdout)) {
        emptyRuns++
        problems.push(`an empty run: ${exit.stderr.trim() || exit.stdout.trim()}`)
      }
    }

    // 1. run creation: kill `enrich run` early, at growing delays, until a run with its rows exists
    log("chaos: kills around run creation")
    let runId: string | undefined
    // from well before the first request towards it: some kills land before the run exists, some in its creation
    const step = Math.max(25, firstRequestMs / 12)
    for (let delay = firstRequestMs / 3; runId === undefined && delay < 10_000; delay += step) {
      const exit = await kill(await killAfter(ws.run(), delay), delay)
      runId = finished(exit) ? /^run (\S+):/m.exec(exit.stdout)?.[1] : await ws.findRun()
      if (finished(exit)) last = exit
    }
    if (runId === undefined) throw new Error("no run was created in 10 s")
    const id = runId
    if (last === undefined) {
      // the first resume after the creation kills: an empty run would show here
      const at = 300 + rand() * 1000
      const exit = await kill(await killAfter(ws.resume(id), at), at)
      checkEmpty(exit)
      if (finished(exit)) last = exit
    }

    // 2. during a submit: kill the moment the simulator has taken a new submission
    log("chaos: kills during a submit")
    phase = "submit"
    for (let i = 0; i < 3 && last === undefined; i++) {
      const before = totalSubmissions(await sim.counters())
      const running = ws.resume(id)
      while (running.child.exitCode === null) {
        if (totalSubmissions(await sim.counters()) > before) break
        await sleep(5)
      }
      const exit = await kill(running)
      checkEmpty(exit)
      if (finished(exit)) last = exit
    }

    // 3. random moments, with pairs of concurrent resumes among them
    log(`chaos: ${options.kills} kills at random moments, ${options.pairs} pairs of concurrent resumes`)
    // a kill lands within this many ms of a start: about twice the reference's duration spread over the kills
    phase = "random"
    const spread = Math.max(400, (2 * refSeconds * 1000) / Math.max(1, options.kills))
    const pairAt = new Set(
      Array.from({ length: options.pairs }, (_, i) => Math.floor(((i + 1) * options.kills) / (options.pairs + 1)))
    )
    for (let i = 0; i < options.kills && last === undefined; i++) {
      if (pairAt.has(i)) {
        pairAt.delete(i)
        const [a, b] = [ws.resume(id), ws.resume(id)]
        const first = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)])
        const other = first === a ? b : a
        const refused = await first.exited
        if (refused.code === 2 && /is being worked on by/.test(refused.stderr)) {
          log(`  pair ${i}: one resume refused: ${refused.stderr.trim().split("\n")[0]}`)
        } else if (finished(refused)) {
          last = refused
          await kill(other)
          problems.push(`two concurrent resumes both worked on the run (one exited ${refused.code})`)
        } else {
          problems.push(`a concurrent resume ended with exit ${refused.code}: ${refused.stderr.trim()}`)
        }
        phase = "pair"
        const at = 300 + rand() * spread
        const exit = await kill(await killAfter(other, at), at)
        phase = "random"
        checkEmpty(exit)
        if (finished(exit)) last = exit
        continue
      }
      const at = 300 + rand() * spread
      const exit = await kill(await killAfter(ws.resume(id), at), at)
      checkEmpty(exit)
      if (finished(exit)) last = exit
      else if (exit.signal !== "SIGKILL") problems.push(`a resume exited ${exit.code}: ${exit.stderr.trim()}`)
    }

    // 4. during the output write: kill when its temporary file appears
    log("chaos: kills during the output write")
    phase = "output write"
    const outDir = NodePath.dirname(ws.out)
    const tempFiles = () =>
      NodeFs.existsSync(outDir) ? NodeFs.readdirSync(outDir).filter((f) => f.includes(".tmp-")) : []
    for (let i = 0; i < 2 && last === undefined; i++) {
      const running = ws.resume(id)
      while (running.child.exitCode === null && tempFiles().length === 0) await sleep(2)
      const exit = await kill(running)
      checkEmpty(exit)
      if (finished(exit)) last = exit
    }

    // 5. to the end
    while (last === undefined) {
      const exit = await ws.resume(id).exited
      checkEmpty(exit)
      if (finished(exit)) last = exit
      else problems.push(`the final resume exited ${exit.code}: ${exit.stderr.trim()}`)
      if (problems.length > 20) throw new Error(problems.join("\n"))
    }
    const counters = await sim.counters()
    await sim.stop()
    if (extraSubmissions(counters) > doublesSeen) {
      problems.push(
        `${extraSubmissions(counters) - doublesSeen} double submission(s) appeared after the kill "${previousKill}"`
      )
    }
    log(`chaos: kills by moment: ${[...byPhase].map(([p, n]) => `${p} ${n}`).join(", ")}`)
    // the next start removes a write's leftovers; none must remain after the run finished
    if (tempFiles().length > 0) problems.push(`temporary output files left behind: ${tempFiles().join(", ")}`)

    // ---- compare ----
    const output = NodeFs.readFileSync(ws.out, "utf8")
    const outputRows = output.trimEnd().split("\n").slice(1)
    const present = new Set(outputRows.map((row) => row.split(",").slice(0, 6).join(",")))
    const inputKeys = inputRows.map((row) => row.split(",").slice(0, 6).join(","))
    const rowsLost = Math.max(inputRows.length - outputRows.length, inputKeys.filter((k) => !present.has(k)).length)
    const doubleCharges = extraSubmissions(counters)
    const referenceDoubles = extraSubmissions(refCounters)
    const booked = bookedCredits(last.stdout)
    const faultsOn = options.faults.trim() !== "none"
    const creditsEqual = booked?.total === billed(counters) && (faultsOn || billed(counters) === billed(refCounters))
    if (!creditsEqual) {
      problems.push(
        `credits: the ledger booked ${booked?.line ?? "?"}, the simulator billed ${billed(counters)} ` +
          `(the uninterrupted run: ${billed(refCounters)}); billed per provider: ${perProvider(counters)} ` +
          `(uninterrupted: ${perProvider(refCounters)})`
      )
    }
    const refOutput = NodeFs.readFileSync(ref.out, "utf8")
    const differing = refOutput.split("\n").filter((line, i) => output.split("\n")[i] !== line).length
    const outputIdentical = faultsOn ? undefined : refOutput === output
    if (doubleCharges > 0) {
      for (const [provider, byPerson] of Object.entries(counters.submissions)) {
        const twice = Object.entries(byPerson).filter(([, n]) => n > 1)
        if (twice.length > 0) {
          problems.push(
            `${provider}: ${twice.length} people submitted more than once (the uninterrupted run: ` +
              `${Object.values(refCounters.submissions[provider] ?? {}).filter((n) => n > 1).length}), e.g. ` +
              twice.slice(0, 3).map(([p, n]) => `${p} ×${n}`).join(", ")
          )
        }
      }
    }
    if (outputIdentical === false) problems.push(`output: ${differing} lines differ from the uninterrupted run's`)
    log(
      `chaos: the last resume exited ${last.code}; the uninterrupted run exited ${refExit.code}` +
        (referenceDoubles > 0 ? `, and itself submitted ${referenceDoubles} people twice` : "") +
        (faultsOn ? `; ${differing} output lines differ from it (fault draws follow request order)` : "")
    )
    if (problems.length > 0) log(`chaos: the last resume printed:\n${last.stdout.trimEnd()}`)
    const yes = (b: boolean) => b ? "yes" : "no"
    const line = `chaos: ${kills} kills, rows lost ${rowsLost}, double charges ${doubleCharges}, ` +
      `credits equal: ${yes(creditsEqual)}${faultsOn ? " (ledger = billed)" : ""}, output identical: ` +
      (outputIdentical === undefined ? "not compared under faults" : yes(outputIdentical))
    const ok = rowsLost === 0 && doubleCharges === 0 && creditsEqual && outputIdentical !== false &&
      emptyRuns === 0 && problems.length === 0
    return { kills, rowsLost, doubleCharges, creditsEqual, outputIdentical, problems, line, ok }
  } finally {
    NodeFs.rmSync(root, { recursive: true, force: true })
  }
}

/** `running`, once `ms` have passed or it ended. */
const killAfter = async (running: Running, ms: number): Promise<Running> => {
  await Promise.race([running.exited, sleep(ms)])
  return running
}
