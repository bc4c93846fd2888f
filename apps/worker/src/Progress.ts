/**
 * Progress of a run: a live line on a terminal (people done, providers working, found, credits, rate), one JSON line per event
 * otherwise, so logs stay machine-readable. Writes to stderr: stdout is for results and summaries.
 */
import type { Waterfall } from "@enrich/core"
import * as Effect from "effect/Effect"

export interface Progress {
  readonly onEvent: (event: Waterfall.Event) => Effect.Effect<void>
  readonly done: Effect.Effect<void>
}

export const make = (people: number): Effect.Effect<Progress> =>
  Effect.sync(() => {
    const tty = process.stderr.isTTY === true
    const started = Date.now()
    let outcomes = 0
    let done = 0
    let found = 0
    let credits = 0
    /** the part of `credits` that is our estimate (the provider reported no figure) */
    let estimated = 0
    /** providers working now: they all work at once */
    const working = new Set<string>()
    let lastDraw = 0
    const line = () => {
      const seconds = (Date.now() - started) / 1000
      const rate = seconds > 0 ? (outcomes / seconds).toFixed(1) : "0"
      const credited = estimated > 0 ? `${credits} credits (~${estimated} estimated)` : `${credits} credits`
      return `${done} of ${people} people done (${[...working].join(", ") || "-"} working), ${outcomes} answers, ` +
        `${found} found, ${credited}, ${rate}/s, ${seconds.toFixed(0)} s`
    }
    const draw = (force: boolean) => {
      const now = Date.now()
      if (!force && now - lastDraw < 200) return
      lastDraw = now
      process.stderr.write(`\r\x1b[2K${line()}`)
    }
    const log = (event: Waterfall.Event) =>
      process.stderr.write(JSON.stringify({ at: new Date().toISOString(), ...event, done, found, credits }) + "\n")
    return {
      onEvent: (event) =>
        Effect.sync(() => {
          if (event._tag === "StageStarted") working.add(event.provider)
          if (event._tag === "StageFinished") working.delete(event.provider)
          if (event._tag === "PeopleDone") done += event.people
          if (event._tag === "PageCommitted") {
            outcomes += event.outcomes
            found += event.found
          }
          if (event._tag === "ChunkFinished") {
            credits += event.charged
            if (event.estimated) estimated += event.charged
          }
          if (tty) {
            // what needs the user's attention gets a line of its own above the live line
            if (event._tag === "ProviderStopped" || event._tag === "ChunkStalled") {
              process.stderr.write(
                `\r\x1b[2Kenrich: ${event.provider}: ${
                  event._tag === "ProviderStopped"
                    ? `stopped, nothing more is sent to it: ${event.reason}`
                    : event.reason
                }\n`
              )
            }
            draw(event._tag !== "PageCommitted" && event._tag !== "PeopleDone")
          } else if (event._tag !== "PageCommitted" && event._tag !== "PeopleDone") log(event)
        }),
      done: Effect.sync(() => {
        if (tty) process.stderr.write(`\r\x1b[2K${line()}\n`)
      })
    }
  })
