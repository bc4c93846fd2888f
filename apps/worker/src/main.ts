#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * The `enrich` executable: the only place that picks Node implementations and runs effects.
 * SIGINT/SIGTERM interrupt the program; the waterfall stops submitting, checkpoints through the ledger
 * (every page is already committed) and the run is marked interrupted, ready for `enrich resume`.
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { cli } from "./Cli.js"
import * as HeapTuning from "./HeapTuning.js"
import * as PrivateFiles from "./PrivateFiles.js"
import * as Telemetry from "./Telemetry.js"

/** Missing or bad environment, named by variable (Config.redacted hides the message, never the path). */
const configProblem = (error: ConfigError.ConfigError): string =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left, right) => `${left}; ${right}`,
    orCase: (_, left, right) => `${left}, or ${right}`,
    invalidDataCase: (_, path) => `${path.join("_")} is not valid`,
    missingDataCase: (_, path) => `${path.join("_")} is not set`,
    sourceUnavailableCase: (_, path) => `${path.join("_")} could not be read`,
    unsupportedCase: (_, path) => `${path.join("_")} is not supported`
  })

/** One line for the terminal: what went wrong, never a stack trace (and never a secret). */
const oneLine = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value
    // @effect/cli already printed the usage problem with its help
    if (ValidationError.isValidationError(error)) return ""
    if (ConfigError.isConfigError(error)) {
      return `enrich: ${configProblem(error)} (provider keys come from the environment; --simulators needs none)`
    }
    const tagged = error as { _tag?: string; message?: string }
    return `enrich: ${tagged.message || tagged._tag || String(error)}`
  }
  return `enrich: unexpected error: ${Cause.pretty(cause).split("\n")[0]}`
}

/**
 * 2 for a mistake in how enrich was called (flags, input file, environment, a run another process holds), 3 for a
 * run that finished with people failed at a provider (output written, summary printed), 1 for a failure while
 * working.
 */
const exitCodeOf = (cause: Cause.Cause<unknown>): number => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "None") return 1
  const error = failure.value
  if ((error as { _tag?: string })._tag === "FinishedWithFailures") return 3
  return ValidationError.isValidationError(error) || ConfigError.isConfigError(error) ||
      ["UsageError", "InputError", "RunHeld"].includes((error as { _tag?: string })._tag ?? "")
    ? 2
    : 1
}

HeapTuning.apply()
PrivateFiles.apply()

cli(process.argv).pipe(
  // exporters only when OTEL_EXPORTER_OTLP_ENDPOINT is set; flushed when the program ends, interrupted or not
  Effect.provide(Telemetry.layer),
  Effect.provide(NodeContext.layer),
  Effect.catchAllCause((cause) =>
    Effect.gen(function*() {
      // Ctrl-C / SIGTERM end in the teardown below (exit 130); the run has marked itself interrupted
      if (Cause.isInterruptedOnly(cause)) return
      const line = oneLine(cause)
      if (line !== "") yield* Console.error(line)
      process.exitCode = exitCodeOf(cause)
    })
  ),
  (effect) =>
    NodeRuntime.runMain(effect, {
      disablePrettyLogger: true,
      // a worker stopped by a signal has given its shards back: it sets exit code 0 for that clean stop
      teardown: (exit, onExit) =>
        onExit(Exit.isInterrupted(exit) ? Number(process.exitCode ?? 130) : Number(process.exitCode ?? 0))
    })
)
