/**
 * The built `enrich` executable, run as a user runs it. The README's test command builds it first
 * (`pnpm test` = `pnpm build && vitest run`).
 */
import * as Command from "@effect/platform/Command"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as NodePath from "node:path"

export const root = NodePath.resolve(import.meta.dirname, "../../../..")
export const main = NodePath.join(root, "apps/worker/dist/main.js")
export const examplePeople = NodePath.join(root, "examples/people.csv")

/** `enrich ...args` in `cwd` with `env` only (plus PATH): exit code and both outputs. */
export const enrich = (args: ReadonlyArray<string>, options: { cwd: string; env?: Record<string, string> }) =>
  Effect.scoped(Effect.gen(function*() {
    const process = yield* Command.make("node", main, ...args).pipe(
      Command.workingDirectory(options.cwd),
      // a clean environment: no provider keys or DATABASE_URL leak in from the test runner
      Command.env({ PATH: globalThis.process.env.PATH ?? "", NO_COLOR: "1", ...options.env }, { extendEnv: false }),
      Command.start
    )
    const [stdout, stderr, exitCode] = yield* Effect.all([
      Stream.mkString(Stream.decodeText(process.stdout)),
      Stream.mkString(Stream.decodeText(process.stderr)),
      process.exitCode
    ], { concurrency: "unbounded" })
    return { stdout, stderr, exitCode: Number(exitCode) }
  }))

/** A progress event of the worker (one JSON line on stderr). */
export interface Event {
  readonly _tag: string
  readonly provider?: string
}

/**
 * Runs the worker; when `killAt` matches a progress event (JSON lines on stderr), sends `signal`.
 * Returns whether the kill happened (false: the run ended first), the exit code, and the stderr lines that are
 * not events (messages to the user).
 */
export const runUntil = (
  command: Command.Command,
  killAt: ((event: Event) => boolean) | undefined,
  signal: "SIGKILL" | "SIGTERM" = "SIGKILL"
) =>
  Effect.scoped(Effect.gen(function*() {
    const process = yield* Command.start(command)
    let hit = false
    const notes: Array<string> = []
    yield* process.stderr.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.map((line): Event | undefined => {
        try {
          return JSON.parse(line) as Event
        } catch {
          if (line.trim() !== "") notes.push(line)
          return undefined
        }
      }),
      // keep reading to the end after the kill: a closed pipe would fail the worker's last writes (EPIPE)
      Stream.runForEach((event) => {
        // `killAt` may count events, so it sees each event once, and only until it matched
        if (hit || event === undefined || killAt === undefined || !killAt(event)) return Effect.void
        hit = true
        return process.kill(signal)
      })
    )
    // a process ended by a signal has no exit code: the platform reports it as a failure naming the signal
    const exitCode = yield* process.exitCode.pipe(
      Effect.catchAll((error) => Effect.succeed(String(error.message).match(/SIG[A-Z]+/)?.[0] ?? "unknown"))
    )
    return { killed: hit, exitCode, notes }
  }))

/** The n-th event of this kind at this provider. */
export const nth = (tag: string, provider: string, n: number) => {
  let count = 0
  return (event: Event) => event._tag === tag && event.provider === provider && ++count === n
}
