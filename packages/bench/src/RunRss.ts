/**
 * A large list through the built `enrich run` (fiber, crustdata, thehog) against `enrich simulate` in a process of
 * its own, at a high time scale: the run's peak RSS (Linux `VmHWM`, as `/usr/bin/time` reports max RSS) and the
 * rows of its output against the input's. Memory must not grow with the list (issue 15).
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { createInterface } from "node:readline"
import { figure, say, tempDir } from "./Common.js"
import * as EnrichSimulate from "./EnrichSimulate.js"

export interface Options {
  readonly people: number
  readonly timeScale: number
  readonly seed: number
  /** the built worker, `apps/worker/dist/main.js` */
  readonly enrich: string
}

/** Provider seconds per real second: a million people at provider pace would take hours. */
export const defaultTimeScale = 6000

interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
}

/** `node enrich ...args` with stdout to `out` (a file) or ignored; its exit and stderr. */
const runEnrich = (enrich: string, args: ReadonlyArray<string>, cwd: string, out?: string) =>
  Effect.async<Exited & { readonly peakKb: number }>((resume) => {
    const stdout = out === undefined ? "ignore" : NodeFs.openSync(out, "w")
    // the embedded default is measured: a REDIS_URL set for the scale part would otherwise move the limits to
    // Redis (the CLI reads it when --redis-url is not given); --db below already wins over DATABASE_URL
    const { DATABASE_URL: _ledger, REDIS_URL: _limits, ...env } = process.env
    const child = spawn(process.execPath, EnrichSimulate.nodeArgs(enrich, args), {
      cwd,
      env,
      stdio: ["ignore", stdout, "pipe"]
    })
    let stderr = ""
    let peakKb = 0
    child.stderr!.on("data", (chunk) => stderr = (stderr + chunk).slice(-4000))
    // the kernel keeps the high-water mark: reading it until the process ends sees its peak
    const poll = setInterval(() => {
      try {
        const status = NodeFs.readFileSync(`/proc/${child.pid}/status`, "utf8")
        const hwm = /VmHWM:\s+(\d+) kB/.exec(status)
        if (hwm !== null) peakKb = Math.max(peakKb, Number(hwm[1]))
      } catch {
        // gone, or not Linux
      }
    }, 100)
    child.on("close", (code, signal) => {
      clearInterval(poll)
      if (typeof stdout === "number") NodeFs.closeSync(stdout)
      resume(Effect.succeed({ code, signal, stderr, peakKb }))
    })
  })

/** `enrich simulate` on a free port for the scope; its base URL. */
const simulator = (options: Options, cwd: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => EnrichSimulate.serve(options.enrich, options, cwd),
      catch: (error) => error instanceof Error ? error : new Error(String(error))
    }),
    (served) => Effect.promise(served.stop)
  ).pipe(Effect.map((served) => served.url))

/** Lines after the header (the output has one row per line: no field holds a newline). */
const rowsOf = (file: string) =>
  Effect.async<number>((resume) => {
    let rows = -1
    const lines = createInterface({ input: NodeFs.createReadStream(file) })
    lines.on("line", (line) => {
      if (line !== "") rows++
    })
    lines.on("close", () => resume(Effect.succeed(Math.max(0, rows))))
  })

const label = (people: number) => people % 1_000_000 === 0 ? `${people / 1_000_000}M` : String(people)

export const run = (options: Options) =>
  Effect.gen(function*() {
    if (!NodeFs.existsSync(options.enrich)) {
      yield* say(`  the worker is not built (${options.enrich}): pnpm build`)
      process.exitCode = 1
      return
    }
    const dir = yield* tempDir("rss")
    const list = NodePath.join(dir, "people.csv")
    const listed = yield* runEnrich(options.enrich, EnrichSimulate.listArgs(options.people, options.seed), dir, list)
    if (listed.code !== 0) {
      yield* say(`  enrich simulate --list failed (exit ${listed.code ?? listed.signal}): ${listed.stderr.trim()}`)
      process.exitCode = 1
      return
    }
    const inputRows = yield* rowsOf(list)
    const url = yield* simulator(options, dir).pipe(Effect.orDie)
    const out = NodePath.join(dir, "out.csv")
    const started = Date.now()
    const ran = yield* runEnrich(options.enrich, [
      "run",
      list,
      "--providers",
      "fiber,crustdata,thehog",
      "--simulator-url",
      url,
      "--time-scale",
      String(options.timeScale),
      "--db",
      NodePath.join(dir, "ledger.db"),
      "--out",
      out
    ], dir)
    const seconds = (Date.now() - started) / 1000
    const outputRows = NodeFs.existsSync(out) ? yield* rowsOf(out) : 0
    const mb = Math.round(ran.peakKb / 1024)
    yield* say(
      `  enrich run: ${inputRows} input rows, exit ${ran.code ?? ran.signal} after ${seconds.toFixed(0)} s real ` +
        `(×${options.timeScale} time scale), simulators in their own process`
    )
    if (ran.code !== 0) {
      yield* say(`  enrich run failed: ${ran.stderr.trim().split("\n").slice(-5).join(" / ")}`)
      process.exitCode = 1
    }
    yield* say(figure(`run peak RSS ${label(options.people)} people`, `${mb} MB`, "<= 300", mb <= 300))
    yield* say(
      figure("run output rows", `${outputRows} of ${inputRows} input rows`, "= input rows", outputRows === inputRows)
    )
  }).pipe(Effect.scoped)
