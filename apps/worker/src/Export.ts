/**
 * A run's output, streamed from the ledger in input order: each page of input rows is joined with the
 * outcomes and set-aside people the journal holds for them, so memory holds one page, not the list. Works at any
 * time: during a run, after a crash (people still on their way are `pending`) or after it finished.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import { type Contact, ContactProvider, type Identifier, Journal, type Merge, Route } from "@enrich/core"
import * as Arr from "effect/Array"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Format } from "./Input.js"
import { Ledger, type LedgerError, rowsOfRun, type RunRow } from "./Ledger.js"
import * as Output from "./Output.js"

const failureOf = (provider: string, ending: Route.Ending): string | undefined =>
  ending._tag === "Outcome"
    ? ending.outcome._tag === "Failed" ? `${provider}: ${ending.outcome.reason}` : undefined
    : ending.setAside.kind === "failed"
    ? `${provider}: ${ending.setAside.reason}`
    : undefined

/** The values columns of a merged answer, with the provider each value came from. */
export const valuesOf = (best: Merge.Merged["best"]): Output.OutputRow["values"] => ({
  ...(best.work_email === undefined ? {} : {
    work_email: best.work_email.value,
    work_email_verdict: best.work_email.verdict,
    provider_work_email: best.work_email.provenance.provider
  }),
  ...(best.personal_email === undefined ? {} : {
    personal_email: best.personal_email.value,
    personal_email_verdict: best.personal_email.verdict,
    provider_personal_email: best.personal_email.provenance.provider
  }),
  ...(best.phone === undefined ? {} : {
    phone: best.phone.value,
    phone_kind: best.phone.phoneKind ?? "unknown",
    provider_phone: best.phone.provenance.provider
  })
})

/** One input row's output line, from the person's outcomes and set-asides in this run. */
export const outputRowOf = (
  plan: Route.Plan,
  row: RunRow,
  outcomes: ReadonlyArray<Journal.RunOutcome>,
  setAside: ReadonlyArray<Journal.SetAside>
): Output.OutputRow => {
  if (row.outcome === "rejected" || row.key === undefined || row.identifier === undefined) {
    return { columns: row.columns, values: {}, status: "rejected", reason: row.reason ?? "rejected" }
  }
  const best = Route.bestPerProvider(plan, outcomes.map((o) => o.outcome))
  const merged = Route.mergedOf(plan, row.key, best)
  const values = valuesOf(merged.best)
  if (row.outcome === "duplicate") {
    return { columns: row.columns, values, status: "duplicate", reason: `same person as line ${row.duplicateOf}` }
  }
  if (Object.keys(merged.best).length > 0) return { columns: row.columns, values, status: "found", reason: "" }
  if (setAside.some((s) => s.kind === "budget")) {
    return { columns: row.columns, values, status: "skipped", reason: "budget reached before this person was sent" }
  }
  const answered = new Set([...outcomes.map((o) => o.provider), ...setAside.map((s) => s.provider)])
  const person = new ContactProvider.Person({ key: row.key, identifier: row.identifier })
  if (Route.next(plan, person, merged, answered) !== undefined) {
    return { columns: row.columns, values, status: "pending", reason: "not finished yet: enrich resume continues" }
  }
  const endings = Route.endingsOf(plan, outcomes, setAside)
  const failures = endings.flatMap(({ ending, provider }) => {
    const failure = failureOf(provider, ending)
    return failure === undefined ? [] : [failure]
  })
  return failures.length > 0 && failures.length === endings.length
    ? { columns: row.columns, values, status: "failed", reason: failures.join("; ") }
    : { columns: row.columns, values, status: "not_found", reason: "" }
}

/**
 * Every input row of a run as an output row, in input order, read page by page.
 *
 * @since 0.1.0 @category Streams
 */
export const rows = (
  runId: string,
  plan: Route.Plan,
  /** the journal's run id for a row's person: the run's own, or its shard's for a run worked by workers */
  labelOf: (row: RunRow) => string = () => runId
): Stream.Stream<Output.OutputRow, LedgerError | Journal.JournalError, Ledger | Journal.Journal> =>
  Stream.unwrap(Effect.gen(function*() {
    const ledger = yield* Ledger
    const journal = yield* Journal.Journal
    return rowsOfRun(ledger, runId).pipe(
      Stream.chunks,
      Stream.mapEffect((page) =>
        Effect.gen(function*() {
          const outcomes = new Map<Identifier.PersonKey, ReadonlyArray<Journal.RunOutcome>>()
          const setAside = new Map<Identifier.PersonKey, ReadonlyArray<Journal.SetAside>>()
          for (const [label, members] of Object.entries(Arr.groupBy(Chunk.toReadonlyArray(page), labelOf))) {
            const keys: Array<Identifier.PersonKey> = []
            for (const row of members) if (row.key !== undefined) keys.push(row.key)
            for (const entry of yield* journal.outcomesOfRun(label, keys)) outcomes.set(...entry)
            for (const entry of yield* journal.setAsideOf(label, keys)) setAside.set(...entry)
          }
          return Array.from(page, (row) =>
            outputRowOf(
              plan,
              row,
              row.key === undefined ? [] : outcomes.get(row.key) ?? [],
              row.key === undefined ? [] : setAside.get(row.key) ?? []
            ))
        })
      ),
      Stream.flattenIterables
    )
  }))

/** What an export wrote: rows per status and values per field. */
export interface Written {
  readonly rows: number
  readonly filled: Readonly<Record<Contact.Field, number>>
  readonly statuses: Readonly<Record<string, number>>
}

/** `rows` counted as they pass: rows per status and values per field, read once the stream has run. */
const counting = (
  stream: Stream.Stream<Output.OutputRow, LedgerError | Journal.JournalError, Ledger | Journal.Journal>
) => {
  const filled = { work_email: 0, personal_email: 0, phone: 0 }
  const statuses: Record<string, number> = {}
  let count = 0
  return {
    stream: stream.pipe(Stream.tap((row) =>
      Effect.sync(() => {
        count++
        statuses[row.status] = (statuses[row.status] ?? 0) + 1
        if (row.status === "duplicate") return
        if (row.values.work_email !== undefined) filled.work_email++
        if (row.values.personal_email !== undefined) filled.personal_email++
        if (row.values.phone !== undefined) filled.phone++
      })
    )),
    written: (): Written => ({ rows: count, filled, statuses })
  }
}

/**
 * Writes a run's output to `path` atomically (see `Output.writeStream`), streamed from the ledger.
 *
 * @since 0.1.0 @category Writing
 */
export const write = (options: {
  readonly runId: string
  readonly plan: Route.Plan
  readonly path: string
  readonly format: Format
  readonly inputColumns: ReadonlyArray<string>
  readonly labelOf?: ((row: RunRow) => string) | undefined
}): Effect.Effect<
  Written,
  LedgerError | Journal.JournalError | Output.OutputError,
  Ledger | Journal.Journal | FileSystem.FileSystem
> =>
  Effect.suspend(() => {
    const counted = counting(rows(options.runId, options.plan, options.labelOf))
    return Output.writeStream(options.path, options.format, counted.stream, { inputColumns: options.inputColumns })
      .pipe(Effect.map(counted.written))
  })

/**
 * What `write` would write, counted without writing it (a run finished by workers, whose output is exported
 * wherever it is wanted).
 *
 * @since 0.1.0 @category Writing
 */
export const tally = (
  runId: string,
  plan: Route.Plan,
  labelOf?: (row: RunRow) => string
): Effect.Effect<Written, LedgerError | Journal.JournalError, Ledger | Journal.Journal> =>
  Effect.suspend(() => {
    const counted = counting(rows(runId, plan, labelOf))
    return Effect.map(Stream.runDrain(counted.stream), counted.written)
  })
