/** A built script of this package run as a reader runs it: its exit code and both outputs. */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Command from "@effect/platform/Command"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

export interface Ran {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

/** `node script ...args`, inheriting the environment, or with `env` only when given. */
export const runNode = (script: string, args: ReadonlyArray<string>, env?: Record<string, string>) =>
  Effect.scoped(Effect.gen(function*() {
    const command = Command.make("node", script, ...args)
    const process = yield* Command.start(env === undefined ? command : Command.env(command, env, { extendEnv: false }))
    const [stdout, stderr, exitCode] = yield* Effect.all([
      Stream.mkString(Stream.decodeText(process.stdout)),
      Stream.mkString(Stream.decodeText(process.stderr)),
      process.exitCode
    ], { concurrency: "unbounded" })
    return { stdout, stderr, exitCode: Number(exitCode) } satisfies Ran
  })).pipe(Effect.provide(NodeContext.layer))
