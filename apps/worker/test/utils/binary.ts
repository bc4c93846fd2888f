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
