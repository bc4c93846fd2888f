/**
 * Everything a program leaks through telemetry, as text: the spans it opened (names, attributes, events, and
 * how they ended) and every log line at any level. Secrets tests assert that a key appears nowhere in it.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Inspectable from "effect/Inspectable"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Tracer from "effect/Tracer"

export interface Observed<A, E> {
  readonly exit: Exit.Exit<A, E>
  /** spans opened, by name */
  readonly spanNames: ReadonlyArray<string>
  /** spans and log lines, rendered */
  readonly text: string
}

const render = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return Inspectable.format(value)
  }
}

/** Runs `effect` with a recording tracer (delegating to the current one) and a logger that keeps every line. */
export const observe = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Observed<A, E>, never, R> =>
  Effect.gen(function*() {
    const base = yield* Effect.tracer
    const spans: Array<Tracer.Span> = []
    const recording = Tracer.make({
      span: (...args) => {
        const span = base.span(...args)
        spans.push(span)
        return span
      },
      context: (f, fiber) => base.context(f, fiber)
    })
    const lines: Array<string> = []
    const logger = Logger.make(({ annotations, cause, message }) => {
      lines.push(render(message) + render([...annotations]) + Cause.pretty(cause))
    })
    const exit = yield* effect.pipe(
      Effect.withTracer(recording),
      Effect.provide(Logger.add(logger)),
      Logger.withMinimumLogLevel(LogLevel.All),
      Effect.exit
    )
    const spanText = spans.map((span) => {
      const ended = span.status._tag === "Ended" ?
        Exit.match(span.status.exit, {
          onFailure: (cause) => Cause.pretty(cause),
          onSuccess: () => "ok"
        }) :
        "open"
      const events = "events" in span ? render(span.events) : ""
      return `${span.name} ${render([...span.attributes])} ${events} ${ended}`
    })
    const failure = Exit.isFailure(exit) ? Cause.pretty(exit.cause) + render(exit.cause) : ""
    return { exit, spanNames: spans.map((s) => s.name), text: [...spanText, ...lines, failure].join("\n") }
  })
