/**
 * Writes the enriched rows: every input column (in input order) followed by the contact columns, `status` and
 * `reason`. The file appears whole or not at all: rows go to a temporary file next to the target, which is
 * synced and then renamed over it; on any failure the temporary file is removed and the target is untouched.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { stringify } from "csv-stringify/sync"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import * as NodePath from "node:path"
import type { Format } from "./Input.js"

/** @since 0.1.0 @category Errors */
export class OutputError extends Schema.TaggedError<OutputError>()("OutputError", {
  path: Schema.String,
  message: Schema.String
}) {}

/** The contact columns, in output order. */
export const valueColumns = [
  "work_email",
  "work_email_verdict",
  "personal_email",
  "personal_email_verdict",
  "phone",
  "phone_kind",
  "provider_work_email",
  "provider_personal_email",
  "provider_phone"
] as const

/** @since 0.1.0 @category Models */
export type ValueColumn = typeof valueColumns[number]

/** Every column the output adds after the input columns. */
export const outputColumns: ReadonlyArray<string> = [...valueColumns, "status", "reason"]

/** @since 0.1.0 @category Models */
export interface OutputRow {
  /** the row's input columns */
  readonly columns: Readonly<Record<string, string>>
  /** missing values are written as empty (CSV) or null (JSONL) */
  readonly values: {
    readonly work_email?: string | undefined
    readonly work_email_verdict?: string | undefined
    readonly personal_email?: string | undefined
    readonly personal_email_verdict?: string | undefined
    readonly phone?: string | undefined
    readonly phone_kind?: string | undefined
    readonly provider_work_email?: string | undefined
    readonly provider_personal_email?: string | undefined
    readonly provider_phone?: string | undefined
  }
  readonly status: string
  readonly reason: string
}

/** @since 0.1.0 @category Models */
export interface Layout {
  /** the header: input columns (renamed where they clash) then `outputColumns` */
  readonly header: ReadonlyArray<string>
  /** input column → its name in the output */
  readonly input: ReadonlyArray<readonly [column: string, name: string]>
}

/**
 * The output columns for these input columns. An input column named like an output column is kept as
 * `input_<name>` (prefixed again in the unlikely case that name is taken too), so no input value is lost.
 *
 * @since 0.1.0 @category Layout
 */
export const layout = (inputColumns: ReadonlyArray<string>): Layout => {
  const reserved = new Set(outputColumns)
  const taken = new Set([...outputColumns, ...inputColumns])
  const input = inputColumns.map((column): readonly [string, string] => {
    if (!reserved.has(column)) return [column, column]
    let name = `input_${column}`
    while (taken.has(name)) name = `input_${name}`
    taken.add(name)
    return [column, name]
  })
  return { header: [...input.map(([, name]) => name), ...outputColumns], input }
}

/** Input columns in order of first appearance, for callers that do not pass them. */
const columnsOf = (rows: Iterable<OutputRow>): Array<string> => {
  const seen = new Set<string>()
  for (const row of rows) for (const column of Object.keys(row.columns)) seen.add(column)
  return [...seen]
}

const cells = (shape: Layout, row: OutputRow): Array<string | null> => [
  ...shape.input.map(([column]) => row.columns[column] ?? ""),
  ...valueColumns.map((column) => row.values[column] ?? null),
  row.status,
  row.reason
]

const renderCsv = (shape: Layout, rows: ReadonlyArray<OutputRow>, withHeader: boolean): string =>
  stringify([
    ...(withHeader ? [shape.header] : []),
    ...rows.map((row) => cells(shape, row).map((cell) => cell ?? ""))
  ], { record_delimiter: "\n" })

const renderJsonLines = (shape: Layout, rows: ReadonlyArray<OutputRow>): string =>
  rows.map((row) => {
    const values = cells(shape, row)
    const record: Record<string, string | null> = {}
    shape.header.forEach((name, i) => {
      record[name] = values[i] ?? null
    })
    return JSON.stringify(record) + "\n"
  }).join("")

// Rows rendered and written per step: bounded memory for large outputs.
const batchSize = 1000

/**
 * Writes `rows` to `path` atomically (the parent directory is created when missing). Pass the input's column
 * order as `inputColumns` (e.g. `Input.read(...).columns`): otherwise it is taken from the rows' keys, where
 * JavaScript puts integer-like names first and a file without rows has no input columns.
 *
 * @since 0.1.0 @category Writing
 */
export const write = (
  path: string,
  format: Format,
  rows: ReadonlyArray<OutputRow>,
  options: { readonly inputColumns?: ReadonlyArray<string> | undefined } = {}
): Effect.Effect<void, OutputError, FileSystem.FileSystem> =>
  writeStream(path, format, Stream.fromIterable(rows), { inputColumns: options.inputColumns ?? columnsOf(rows) })

/**
 * Writes a stream of rows to `path` atomically: into a temporary file beside it (removed if anything fails,
 * the stream's own errors included), synced, then renamed over `path`. Rows are rendered and written in
 * batches, so memory does not grow with the output.
 *
 * @since 0.1.0 @category Writing
 */
export const writeStream = <E, R>(
  path: string,
  format: Format,
  rows: Stream.Stream<OutputRow, E, R>,
  options: { readonly inputColumns: ReadonlyArray<string> }
): Effect.Effect<void, OutputError | E, FileSystem.FileSystem | R> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const shape = layout(options.inputColumns)
    const temp = `${path}.tmp-${randomBytes(6).toString("hex")}`
    const encoder = new TextEncoder()
    const fail = (message: string) => new OutputError({ path, message: `cannot write ${path}: ${message}` })

    const writeTemp = Effect.scoped(Effect.gen(function*() {
      // "wx": never reuse a file that is already there
      const file = yield* fs.open(temp, { flag: "wx" }).pipe(Effect.mapError((error) => fail(error.message)))
      const append = (text: string) =>
        file.writeAll(encoder.encode(text)).pipe(Effect.mapError((error) => fail(error.message)))
      let first = true
      yield* rows.pipe(
        Stream.grouped(batchSize),
        Stream.runForEach((batch) =>
          Effect.gen(function*() {
            const text = yield* Effect.try({
              try: () =>
                format === "csv"
                  ? renderCsv(shape, Chunk.toReadonlyArray(batch), first)
                  : renderJsonLines(shape, Chunk.toReadonlyArray(batch)),
              catch: (error) => fail(error instanceof Error ? error.message : String(error))
            })
            first = false
            yield* append(text)
          })
        )
      )
      if (first && format === "csv") yield* append(renderCsv(shape, [], true))
      // on disk before the rename makes it visible
      yield* file.sync.pipe(Effect.mapError((error) => fail(error.message)))
    }))

    yield* fs.makeDirectory(NodePath.dirname(NodePath.resolve(path)), { recursive: true }).pipe(
      Effect.mapError((error) => fail(error.message))
    )
    yield* writeTemp.pipe(
      Effect.zipRight(fs.rename(temp, path).pipe(Effect.mapError((error) => fail(error.message)))),
      Effect.onError(() => Effect.ignore(fs.remove(temp)))
    )
  })

/** The temporary files `write` makes for `path`: `<name>.tmp-<12 hex digits>` beside it. */
const isTempOf = (path: string) => {
  const prefix = `${NodePath.basename(path)}.tmp-`
  return (name: string) => name.startsWith(prefix) && /^[0-9a-f]{12}$/.test(name.slice(prefix.length))
}

/**
 * Before a run spends anything: the output's directory is created and proved writable (a probe file is made
 * and removed), so that an unwritable `--out` is a clear error now rather than after the credits are spent; and
 * temporary files that a killed earlier write left beside the output (they hold personal data) are removed.
 *
 * @since 0.1.0 @category Writing
 */
export const prepare = (path: string): Effect.Effect<void, OutputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const fail = (message: string) => new OutputError({ path, message: `cannot write ${path}: ${message}` })
    const dir = NodePath.dirname(NodePath.resolve(path))
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError((error) => fail(error.message)))
    const stale = (yield* fs.readDirectory(dir).pipe(Effect.orElseSucceed(() => []))).filter(isTempOf(path))
    yield* Effect.forEach(stale, (name) => Effect.ignore(fs.remove(NodePath.join(dir, name))), { discard: true })
    const probe = `${path}.tmp-${randomBytes(6).toString("hex")}`
    yield* fs.open(probe, { flag: "wx" }).pipe(
      Effect.scoped,
      Effect.zipRight(fs.remove(probe)),
      Effect.mapError((error) => fail(error.message))
    )
    const existing = yield* fs.stat(path).pipe(Effect.option)
    if (existing._tag === "Some" && existing.value.type !== "File") return yield* fail("it is not a file")
  })
