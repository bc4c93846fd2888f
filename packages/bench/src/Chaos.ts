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
  const child = spawn(process.execPath, EnrichSimulate.nodeArgs(command, args), {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"]
  })
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

type Workspace = ReturnType<typeof workspace>

const log = (options: Options, line: string) => options.log(line)

/** The uninterrupted run against a fresh simulator of the same seed: what the chaos run is compared with. */
const reference = async (options: Options, root: string) => {
  log(options, `reference: ${options.people} people, faults ${options.faults}, time ×${options.timeScale}`)
  const sim = await simulator(options, root)
  const started = Date.now()
  // the reference's ledger is SQLite whatever the chaos run's: only what the simulator saw and the output count
  const ws = workspace({ ...options, databaseUrl: undefined }, root, "reference", sim)
  const running = ws.run()
  // when its first request reached the simulator: the run was created just before, which aims the creation kills
  let firstRequestMs = 0
  while (running.child.exitCode === null && firstRequestMs === 0) {
    if (totalSubmissions(await sim.counters()) > 0) firstRequestMs = Date.now() - started
    else await sleep(10)
  }
  const exit = await running.exited
  const seconds = (Date.now() - started) / 1000
  const counters = await sim.counters()
  await sim.stop()
  if (!finished(exit)) throw new Error(`the reference run failed (exit ${exit.code}): ${exit.stderr}`)
  log(options, `reference: exit ${exit.code} in ${seconds.toFixed(1)} s, ${billed(counters)} credits billed`)
  return { ws, exit, seconds, counters, firstRequestMs }
}

type Reference = Awaited<ReturnType<typeof reference>>

/**
 * The chaos run's bookkeeping: kills by moment, what went wrong, and the last finished resume. Every kill goes
 * through `kill`, which also notices double submissions as soon as the process after a kill has ended.
 */
const makeKiller = (sim: Simulator) => {
  const state = {
    kills: 0,
    emptyRuns: 0,
    phase: "creation",
    /** the kill whose resume came next: where a double submission appears, it is that kill's doing */
    previousKill: "none",
    doublesSeen: 0,
    byPhase: new Map<string, number>(),
    problems: [] as Array<string>,
    last: undefined as Exited | undefined
  }
  const kill = async (running: Running, at?: number): Promise<Exited> => {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL")
    const exit = await running.exited
    const doubles = extraSubmissions(await sim.counters())
    if (doubles > state.doublesSeen) {
      state.problems.push(
        `${doubles - state.doublesSeen} double submission(s) appeared after the kill "${state.previousKill}" ` +
          `(seen after the process that followed it ended)`
      )
      state.doublesSeen = doubles
    }
    if (exit.signal === "SIGKILL") {
      state.kills++
      state.byPhase.set(state.phase, (state.byPhase.get(state.phase) ?? 0) + 1)
      state.previousKill = `#${state.kills} ${state.phase}${at === undefined ? "" : ` at ${Math.round(at)} ms`}`
    }
    return exit
  }
  /** A resume's end: an empty run is the defect of issue 14 (4); a finished one is the last so far. */
  const ended = (exit: Exited) => {
    if (/has no input rows/.test(exit.stderr) || /: 0 rows, 0 people/.test(exit.stdout)) {
      state.emptyRuns++
      state.problems.push(`an empty run: ${exit.stderr.trim() || exit.stdout.trim()}`)
    }
    if (finished(exit)) state.last = exit
  }
  return { state, kill, ended }
}

type Killer = ReturnType<typeof makeKiller>

/** 1. Run creation: kill `enrich run` early, at growing delays, until a run with its rows exists. */
const killAroundCreation = async (
  options: Options,
  ws: Workspace,
  killer: Killer,
  firstRequestMs: number,
  rand: () => number
): Promise<string> => {
  log(options, "chaos: kills around run creation")
  let runId: string | undefined
  // from well before the first request towards it: some kills land before the run exists, some in its creation
  const step = Math.max(25, firstRequestMs / 12)
  for (let delay = firstRequestMs / 3; runId === undefined && delay < 10_000; delay += step) {
    const exit = await killer.kill(await killAfter(ws.run(), delay), delay)
    runId = finished(exit) ? /^run (\S+):/m.exec(exit.stdout)?.[1] : await ws.findRun()
    if (finished(exit)) killer.state.last = exit
  }
  if (runId === undefined) throw new Error("no run was created in 10 s")
  if (killer.state.last === undefined) {
    // the first resume after the creation kills: an empty run would show here
    const at = 300 + rand() * 1000
    killer.ended(await killer.kill(await killAfter(ws.resume(runId), at), at))
  }
  return runId
}

/** 2. During a submit: kill the moment the simulator has taken a new submission. */
const killDuringSubmits = async (options: Options, ws: Workspace, sim: Simulator, killer: Killer, id: string) => {
  log(options, "chaos: kills during a submit")
  killer.state.phase = "submit"
  for (let i = 0; i < 3 && killer.state.last === undefined; i++) {
    const before = totalSubmissions(await sim.counters())
    const running = ws.resume(id)
    while (running.child.exitCode === null) {
      if (totalSubmissions(await sim.counters()) > before) break
      await sleep(5)
    }
    killer.ended(await killer.kill(running))
  }
}

/** Two resumes at once: one must be refused (a run is held by one process); the other is killed at random. */
const killPair = async (options: Options, ws: Workspace, killer: Killer, id: string, i: number, at: number) => {
  const { state } = killer
  const [a, b] = [ws.resume(id), ws.resume(id)]
  const first = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)])
  const other = first === a ? b : a
  const refused = await first.exited
  if (refused.code === 2 && /is being worked on by/.test(refused.stderr)) {
    log(options, `  pair ${i}: one resume refused: ${refused.stderr.trim().split("\n")[0]}`)
  } else if (finished(refused)) {
    state.last = refused
    await killer.kill(other)
    state.problems.push(`two concurrent resumes both worked on the run (one exited ${refused.code})`)
  } else {
    state.problems.push(`a concurrent resume ended with exit ${refused.code}: ${refused.stderr.trim()}`)
  }
  state.phase = "pair"
  const exit = await killer.kill(await killAfter(other, at), at)
  state.phase = "random"
  killer.ended(exit)
}

/** 3. Random moments, with pairs of concurrent resumes among them. */
const killAtRandom = async (
  options: Options,
  ws: Workspace,
  killer: Killer,
  id: string,
  referenceSeconds: number,
  rand: () => number
) => {
  log(options, `chaos: ${options.kills} kills at random moments, ${options.pairs} pairs of concurrent resumes`)
  const { state } = killer
  // a kill lands within this many ms of a start: about twice the reference's duration spread over the kills
  state.phase = "random"
  const spread = Math.max(400, (2 * referenceSeconds * 1000) / Math.max(1, options.kills))
  const pairAt = new Set(
    Array.from({ length: options.pairs }, (_, i) => Math.floor(((i + 1) * options.kills) / (options.pairs + 1)))
  )
  for (let i = 0; i < options.kills && state.last === undefined; i++) {
    const at = 300 + rand() * spread
    if (pairAt.delete(i)) {
      await killPair(options, ws, killer, id, i, at)
      continue
    }
    const exit = await killer.kill(await killAfter(ws.resume(id), at), at)
    killer.ended(exit)
    if (!finished(exit) && exit.signal !== "SIGKILL") {
      state.problems.push(`a resume exited ${exit.code}: ${exit.stderr.trim()}`)
    }
  }
}

/** The output's temporary files: a killed write's leftovers, removed by the next start. */
const tempFilesOf = (ws: Workspace) => () => {
  const outDir = NodePath.dirname(ws.out)
  return NodeFs.existsSync(outDir) ? NodeFs.readdirSync(outDir).filter((f) => f.includes(".tmp-")) : []
}

/** 4. During the output write: kill when its temporary file appears. */
const killDuringOutputWrite = async (options: Options, ws: Workspace, killer: Killer, id: string) => {
  log(options, "chaos: kills during the output write")
  killer.state.phase = "output write"
  const tempFiles = tempFilesOf(ws)
  for (let i = 0; i < 2 && killer.state.last === undefined; i++) {
    const running = ws.resume(id)
    while (running.child.exitCode === null && tempFiles().length === 0) await sleep(2)
    killer.ended(await killer.kill(running))
  }
}

/** 5. Resumes, uninterrupted, until the run finishes. */
const resumeToEnd = async (ws: Workspace, killer: Killer, id: string): Promise<Exited> => {
  const { state } = killer
  while (state.last === undefined) {
    const exit = await ws.resume(id).exited
    killer.ended(exit)
    if (!finished(exit)) state.problems.push(`the final resume exited ${exit.code}: ${exit.stderr.trim()}`)
    if (state.problems.length > 20) throw new Error(state.problems.join("\n"))
  }
  return state.last
}

/** People submitted more than once per provider, for the problems list. */
const doubleSubmissionProblems = (counters: CountersJson, refCounters: CountersJson): Array<string> =>
  Object.entries(counters.submissions).flatMap(([provider, byPerson]) => {
    const twice = Object.entries(byPerson).filter(([, n]) => n > 1)
    if (twice.length === 0) return []
    return [
      `${provider}: ${twice.length} people submitted more than once (the uninterrupted run: ` +
      `${Object.values(refCounters.submissions[provider] ?? {}).filter((n) => n > 1).length}), e.g. ` +
      twice.slice(0, 3).map(([p, n]) => `${p} ×${n}`).join(", ")
    ]
  })

/** The chaos run's end against the reference: rows, double charges, credits and output, and the verdict line. */
const compare = (
  options: Options,
  ref: Reference,
  ws: Workspace,
  killer: Killer,
  last: Exited,
  counters: CountersJson,
  inputRows: ReadonlyArray<string>
): Outcome => {
  const { state } = killer
  const { problems } = state
  const output = NodeFs.readFileSync(ws.out, "utf8")
  const outputRows = output.trimEnd().split("\n").slice(1)
  const present = new Set(outputRows.map((row) => row.split(",").slice(0, 6).join(",")))
  const inputKeys = inputRows.map((row) => row.split(",").slice(0, 6).join(","))
  const rowsLost = Math.max(inputRows.length - outputRows.length, inputKeys.filter((k) => !present.has(k)).length)
  const doubleCharges = extraSubmissions(counters)
  const referenceDoubles = extraSubmissions(ref.counters)
  const booked = bookedCredits(last.stdout)
  const faultsOn = options.faults.trim() !== "none"
  const creditsEqual = booked?.total === billed(counters) && (faultsOn || billed(counters) === billed(ref.counters))
  if (!creditsEqual) {
    problems.push(
      `credits: the ledger booked ${booked?.line ?? "?"}, the simulator billed ${billed(counters)} ` +
        `(the uninterrupted run: ${billed(ref.counters)}); billed per provider: ${perProvider(counters)} ` +
        `(uninterrupted: ${perProvider(ref.counters)})`
    )
  }
  const refOutput = NodeFs.readFileSync(ref.ws.out, "utf8")
  const differing = refOutput.split("\n").filter((line, i) => output.split("\n")[i] !== line).length
  const outputIdentical = faultsOn ? undefined : refOutput === output
  if (doubleCharges > 0) problems.push(...doubleSubmissionProblems(counters, ref.counters))
  if (outputIdentical === false) problems.push(`output: ${differing} lines differ from the uninterrupted run's`)
  log(
    options,
    `chaos: the last resume exited ${last.code}; the uninterrupted run exited ${ref.exit.code}` +
      (referenceDoubles > 0 ? `, and itself submitted ${referenceDoubles} people twice` : "") +
      (faultsOn ? `; ${differing} output lines differ from it (fault draws follow request order)` : "")
  )
  if (problems.length > 0) log(options, `chaos: the last resume printed:\n${last.stdout.trimEnd()}`)
  const yes = (b: boolean) => b ? "yes" : "no"
  const line = `chaos: ${state.kills} kills, rows lost ${rowsLost}, double charges ${doubleCharges}, ` +
    `credits equal: ${yes(creditsEqual)}${faultsOn ? " (ledger = billed)" : ""}, output identical: ` +
    (outputIdentical === undefined ? "not compared under faults" : yes(outputIdentical))
  const ok = rowsLost === 0 && doubleCharges === 0 && creditsEqual && outputIdentical !== false &&
    state.emptyRuns === 0 && problems.length === 0
  return { kills: state.kills, rowsLost, doubleCharges, creditsEqual, outputIdentical, problems, line, ok }
}

export const run = async (options: Options): Promise<Outcome> => {
  const root = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "enrich-chaos-"))
  try {
    const list = start(options.enrich, EnrichSimulate.listArgs(options.people, options.seed), root, process.env)
    const listed = await list.exited
    if (listed.code !== 0) throw new Error(`enrich simulate --list failed: ${listed.stderr}`)
    NodeFs.writeFileSync(NodePath.join(root, "people.csv"), listed.stdout)
    const inputRows = listed.stdout.trimEnd().split("\n").slice(1)

    const ref = await reference(options, root)

    const sim = await simulator(options, root)
    const ws = workspace(options, root, "chaos", sim)
    const rand = random(options.seed)
    const killer = makeKiller(sim)
    const id = await killAroundCreation(options, ws, killer, ref.firstRequestMs, rand)
    await killDuringSubmits(options, ws, sim, killer, id)
    await killAtRandom(options, ws, killer, id, ref.seconds, rand)
    await killDuringOutputWrite(options, ws, killer, id)
    const last = await resumeToEnd(ws, killer, id)

    const counters = await sim.counters()
    await sim.stop()
    const { state } = killer
    if (extraSubmissions(counters) > state.doublesSeen) {
      state.problems.push(
        `${extraSubmissions(counters) - state.doublesSeen} double submission(s) appeared after the kill ` +
          `"${state.previousKill}"`
      )
    }
    log(options, `chaos: kills by moment: ${[...state.byPhase].map(([p, n]) => `${p} ${n}`).join(", ")}`)
    // the next start removes a write's leftovers; none must remain after the run finished
    const leftovers = tempFilesOf(ws)()
    if (leftovers.length > 0) state.problems.push(`temporary output files left behind: ${leftovers.join(", ")}`)
    return compare(options, ref, ws, killer, last, counters, inputRows)
  } finally {
    NodeFs.rmSync(root, { recursive: true, force: true })
  }
}

/** `running`, once `ms` have passed or it ended. */
const killAfter = async (running: Running, ms: number): Promise<Running> => {
  await Promise.race([running.exited, sleep(ms)])
  return running
}
