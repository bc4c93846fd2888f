/**
 * What every benchmark shares: the report line format, the people of a simulator universe as waterfall
 * input, the provider clients pointed at a served simulator, and a temp directory.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import { Budget, ContactProvider, Identifier, Journal, Polling } from "@enrich/core"
import type { Universe } from "@enrich/simulator"
import { Providers, Sql, SqlJournal } from "@enrich/worker"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export type ProviderName = ContactProvider.ProviderName

/** One figure: `label: figure (target ...)  OK|MISS`, so a reader sees at a glance what holds. */
export const figure = (label: string, value: string, target: string, ok: boolean | undefined): string =>
  `${label}: ${value} (target ${target})${ok === undefined ? "" : ok ? "  OK" : "  MISS"}`

/** Prints one line; the bench is a report on stdout. */
export const print = (text: string) => {
  process.stdout.write(`${text}\n`)
}

export const say = (text: string) => Effect.sync(() => print(text))

export const fixed = (n: number, digits = 2) => Number.isFinite(n) ? n.toFixed(digits) : String(n)

/** The first `n` people of the universe, by their LinkedIn URL (the identifier Fiber and Crustdata take). */
export const peopleOf = (universe: Universe.Universe, n: number): Array<ContactProvider.Person> =>
  universe.people.slice(0, n).map((person) => {
    const parsed = Identifier.parseLinkedIn(person.linkedinUrl)
    if (Either.isLeft(parsed)) throw new Error(`universe URL does not parse: ${person.linkedinUrl}`)
    return new ContactProvider.Person({ key: parsed.right.key, identifier: parsed.right })
  })

/** The real clients pointed at simulators served at `url`, wired exactly as the worker's `--simulator-url`. */
export const clients = (url: string, timeScale: number, names: ReadonlyArray<ProviderName>) =>
  Providers.forSimulators(url, timeScale, names).pipe(Layer.provide(traced(timeScale)))

/** The Fiber task a traced request is about (its JSON body's `taskId`), so one task's polls can be followed. */
const taskOf = (body: HttpBody.HttpBody): string => {
  if (body._tag !== "Uint8Array") return ""
  const task = /"taskId":"([^"]+)"/.exec(new TextDecoder().decode(body.body))
  return task === null ? "" : ` ${task[1]}`
}

/** The Node HTTP client; with `BENCH_TRACE` set, every request is printed with its provider time. */
const traced = (timeScale: number) => {
  if (process.env.BENCH_TRACE === undefined) return NodeHttpClient.layerUndici
  const start = process.hrtime.bigint()
  return Layer.effect(
    HttpClient.HttpClient,
    Effect.map(
      HttpClient.HttpClient,
      (client) =>
        HttpClient.tapRequest(
          client,
          (request) =>
            Effect.sync(() =>
              print(
                `    http t=${fixed(since(start) * timeScale / 1000, 1)}s ${request.method} ${request.url}${
                  taskOf(request.body)
                }`
              )
            )
        )
    )
  ).pipe(Layer.provide(NodeHttpClient.layerUndici))
}

/** The core polling defaults, every duration divided by the time scale (the deadline is left generous). */
export const scaledPolling = (timeScale: number): Polling.PollingPolicy => {
  const base = Polling.Polling.defaultValue()
  return {
    initialDelay: Duration.millis(Duration.toMillis(base.initialDelay) / timeScale),
    maxDelay: Duration.millis(Duration.toMillis(base.maxDelay) / timeScale),
    deadline: "30 minutes"
  }
}

/** A fresh directory under the system temp dir, removed with the scope. */
export const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), `enrich-bench-${prefix}-`))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** The worker's SQL journal on a SQLite file, and an unlimited budget: what `enrich run` uses. */
export const ledger = (file: string) =>
  Layer.merge(SqlJournal.layer.pipe(Layer.provide(Sql.layerSqlite(file))), Budget.layer(undefined))

export const memoryJournal = Layer.merge(Journal.layerMemory, Budget.layer(undefined))

/** Real milliseconds since `start`, from the monotonic clock. */
export const since = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6
