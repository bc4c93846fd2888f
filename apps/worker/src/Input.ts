/**
 * Reads the people to enrich from a CSV or JSON-lines file. Every data line comes back as a row, with its
 * 1-based line number: rows without a usable identifier, malformed CSV records and invalid JSON lines are
 * rows whose identifier is an `InvalidIdentifier` carrying the reason, never dropped and never a crash.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Identifier } from "@enrich/core"
import type { CsvError } from "csv-parse"
import { parse } from "csv-parse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/** @since 0.1.0 @category Errors */
export class InputError extends Schema.TaggedError<InputError>()("InputError", {
  path: Schema.String,
  message: Schema.String
}) {}

/** @since 0.1.0 @category Models */
export type Format = "csv" | "jsonl"

/** @since 0.1.0 @category Models */
export interface InputRow {
  /** 1-based line in the file where the record starts (the CSV header is line 1) */
  readonly line: number
  readonly columns: Readonly<Record<string, string>>
  readonly identifier: Either.Either<Identifier.Identifier, Identifier.InvalidIdentifier>
}

/** @since 0.1.0 @category Models */
export interface InputFile {
  readonly path: string
  readonly format: Format
  /** column names in input order (CSV: the header; JSONL: keys in order of first appearance) */
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<InputRow>
}

/**
 * Accepted identifier columns, matched case-insensitively after trimming. When a row has values in several,
 * the first non-empty one in this order is used (LinkedIn, then email, then X, then GitHub; within a kind in
 * the listed order) and the others are ignored, even if that first value turns out to be invalid: the row is
 * then rejected with that value's reason rather than silently matched on a weaker identifier.
 *
 * @since 0.1.0 @category Models
 */
export const identifierColumns: ReadonlyArray<readonly [Identifier.IdentifierKind, ReadonlyArray<string>]> = [
  ["linkedin", ["linkedin_url", "linkedin", "profile_url"]],
  ["email", ["email"]],
  ["x", ["x_handle", "twitter", "x"]],
  ["github", ["github_username", "github"]]
]

const acceptedNames = identifierColumns.flatMap(([, names]) => names).join(", ")

interface IdentifierColumn {
  readonly kind: Identifier.IdentifierKind
  readonly column: string
}

/**
 * Identifier columns are matched case-insensitively, so two headers that differ only in case (`Email`, `email`)
 * would leave one of them silently unread: the file is refused, naming both.
 */
const ambiguousIdentifierColumns = (path: string, columns: Iterable<string>): InputError | undefined => {
  const accepted = new Set(identifierColumns.flatMap(([, names]) => names))
  const byName = new Map<string, string>()
  for (const column of columns) {
    const name = column.trim().toLowerCase()
    const earlier = byName.get(name)
    if (earlier !== undefined && accepted.has(name)) {
      return new InputError({
        path,
        message: `${path} has two identifier columns that differ only in case or spaces: ` +
          `${JSON.stringify(earlier)} and ${JSON.stringify(column)}; rename or remove one`
      })
    }
    if (earlier === undefined) byName.set(name, column)
  }
  return undefined
}

/** The identifier columns among `columns`, in priority order. */
const findIdentifierColumns = (columns: Iterable<string>): ReadonlyArray<IdentifierColumn> => {
  const byName = new Map<string, string>()
  for (const column of columns) {
    const name = column.trim().toLowerCase()
    if (!byName.has(name)) byName.set(name, column)
  }
  return identifierColumns.flatMap(([kind, names]) =>
    names.flatMap((name) => {
      const column = byName.get(name)
      return column === undefined ? [] : [{ kind, column }]
    })
  )
}

const invalid = (kind: Identifier.IdentifierKind, input: string, reason: string) =>
  Either.left(new Identifier.InvalidIdentifier({ kind, input, reason }))

/** Malformed lines are quoted back in their row, shortened: a runaway quoted field can swallow a whole file. */
const excerpt = (text: string): string => text.length > 200 ? `${text.slice(0, 200)}…` : text

const identify = (
  found: ReadonlyArray<IdentifierColumn>,
  columns: Readonly<Record<string, string>>
): Either.Either<Identifier.Identifier, Identifier.InvalidIdentifier> => {
  for (const { column, kind } of found) {
    const value = columns[column]
    if (value !== undefined && value.trim() !== "") return Identifier.parse(kind, value)
  }
  return invalid(found[0]?.kind ?? "linkedin", "", "no identifier in row")
}

/**
 * The format from `--format`, else from the extension (`.csv`; `.jsonl`, `.ndjson` and `.json` are read as
 * JSON lines).
 *
 * @since 0.1.0 @category Parsing
 */
export const formatOf = (path: string, format?: Format | undefined): Either.Either<Format, InputError> => {
  if (format !== undefined) return Either.right(format)
  const extension = /\.([^./\\]+)$/.exec(path)?.[1]?.toLowerCase()
  switch (extension) {
    case "csv":
      return Either.right("csv")
    case "jsonl":
    case "ndjson":
    case "json":
      return Either.right("jsonl")
    default:
      return Either.left(
        new InputError({
          path,
          message: `cannot tell the format of ${path} from its extension; use .csv, .jsonl, .ndjson or .json ` +
            `(one JSON object per line), or pass --format csv|jsonl`
        })
      )
  }
}

const readError = (path: string) => (error: { readonly message: string }) =>
  new InputError({ path, message: `cannot read ${path}: ${error.message}` })

/** The text encodings a file can announce with a byte-order mark; anything else must be UTF-8. */
const byteOrderMarks: ReadonlyArray<readonly [label: string, mark: ReadonlyArray<number>]> = [
  ["utf-8", [0xef, 0xbb, 0xbf]],
  ["utf-16le", [0xff, 0xfe]],
  ["utf-16be", [0xfe, 0xff]]
]

const encodingOf = (head: Uint8Array): string =>
  byteOrderMarks.find(([, mark]) => mark.every((byte, i) => head[i] === byte))?.[0] ?? "utf-8"

/**
 * The file as text: UTF-8, or UTF-16 when a byte-order mark says so (spreadsheets export "Unicode text" that
 * way); the mark itself is dropped. Bytes that are not valid UTF-8 (a Latin-1 export, say) fail the whole file
 * with the offset of the first one, instead of reaching providers as U+FFFD.
 */
const readTextStream = (fs: FileSystem.FileSystem, path: string): Stream.Stream<string, InputError> =>
  Stream.suspend(() => {
    let decoder: TextDecoder | undefined
    let offset = 0
    const decode = (bytes: Uint8Array | undefined) =>
      Effect.try({
        try: () => {
          decoder ??= new TextDecoder(encodingOf(bytes ?? new Uint8Array(0)), { fatal: true })
          const text = bytes === undefined ? decoder.decode() : decoder.decode(bytes, { stream: true })
          offset += bytes?.length ?? 0
          return text
        },
        catch: () =>
          new InputError({
            path,
            message:
              `${path} is not valid ${decoder?.encoding === "utf-8" ? "UTF-8" : decoder?.encoding.toUpperCase()} ` +
              `text (first bad byte within bytes ${offset}–${offset + (bytes?.length ?? 0)}); ` +
              `save it as UTF-8 (e.g. "CSV UTF-8" in a spreadsheet) and try again`
          })
      })
    return fs.stream(path).pipe(
      Stream.mapError(readError(path)),
      Stream.mapEffect(decode),
      Stream.concat(Stream.fromEffect(decode(undefined))),
      Stream.filter((text) => text.length > 0)
    )
  })

/** The file must exist and be a regular file: a clear message beats a stream error later. */
const checkFile = (fs: FileSystem.FileSystem, path: string) =>
  fs.stat(path).pipe(
    Effect.mapError((error) =>
      new InputError({
        path,
        message: error._tag === "SystemError" && error.reason === "NotFound"
          ? `input file not found: ${path}`
          : `cannot read ${path}: ${error.message}`
      })
    ),
    Effect.filterOrFail(
      (info) => info.type === "File",
      () => new InputError({ path, message: `not a file: ${path}` })
    )
  )

const noIdentifierColumn = (path: string, columns: ReadonlyArray<string>) =>
  new InputError({
    path,
    message: `no identifier column in ${path}: found ${
      columns.length === 0 ? "no columns" : columns.map((c) => JSON.stringify(c)).join(", ")
    }; expected one of ${acceptedNames} (case-insensitive)`
  })

// ---------------------------------------------------------------------------------------------------------------
// CSV

/**
 * Counts line breaks across the raw text of consecutive records ("\r\n", "\r" and "\n" count once each, also
 * when "\r\n" is split between two records). csv-parse's own `info.lines` counts a quoted "\r\n" twice, so
 * line numbers are derived from the raw text instead.
 */
const makeLineCounter = () => {
  let line = 1
  let pendingCR = false
  /** the line the record starts on (after any blank lines it carries in front), and advances past it */
  return (raw: string): number => {
    let i = 0
    let start: number | undefined
    for (; i < raw.length; i++) {
      const c = raw[i]
      if (start === undefined && c !== "\r" && c !== "\n") start = line
      if (c === "\n") {
        if (!pendingCR) line++
        pendingCR = false
      } else if (c === "\r") {
        line++
        pendingCR = true
      } else {
        pendingCR = false
      }
    }
    return start ?? line
  }
}

type CsvEvent =
  | { readonly _tag: "Record"; readonly line: number; readonly fields: ReadonlyArray<string> }
  | { readonly _tag: "Malformed"; readonly line: number; readonly raw: string; readonly reason: string }

const csvReason = (error: CsvError, line: number, raw: string): string => {
  switch (error.code) {
    case "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH":
      return `malformed CSV record: it has more fields than the header`
    case "CSV_QUOTE_NOT_CLOSED": {
      const last = line + (raw.replace(/[\r\n]+$/, "").match(/\r\n|\r|\n/g)?.length ?? 0)
      return `malformed CSV record: a quoted field opened on line ${line} is never closed, so lines ${line}–${last} ` +
        `(${last - line + 1} lines, to the end of the file) were read as this one record and none of them is enriched`
    }
    default:
      return `malformed CSV record: ${error.message}`
  }
}

/**
 * The file's records and malformed records, in file order, each with its starting line: parsed as the text
 * arrives, so that only the records of one chunk of text are held at a time.
 */
const csvEvents = (fs: FileSystem.FileSystem, path: string): Stream.Stream<CsvEvent, InputError> =>
  Stream.suspend(() => {
    const events: Array<CsvEvent> = []
    const lineOf = makeLineCounter()
    const parser = parse({
      bom: true,
      raw: true,
      // A stray quote inside an unquoted field (`Bob "the builder"`) is kept as text, not an error.
      relax_quotes: true,
      // Rows missing trailing fields (spreadsheets drop empty trailing cells) read those fields as empty;
      // rows with more fields than the header are reported instead, since their data would be misplaced.
      relax_column_count_less: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      // Records are collected here, in parse order, as each chunk of text is written (the parser handles a
      // write synchronously), instead of being pushed through the readable side. With `raw`, each record
      // arrives as `{ record, raw }`.
      on_record: (record: unknown) => {
        const { raw, record: fields } = record as { readonly record: Array<string>; readonly raw: string }
        events.push({ _tag: "Record", line: lineOf(raw), fields })
        return null
      },
      on_skip: (error: CsvError | undefined, raw: string | undefined) => {
        const text = raw ?? (error as (CsvError & { readonly raw?: string }) | undefined)?.raw ?? ""
        const line = lineOf(text)
        const trimmed = text.replace(/^[\r\n]+|[\r\n]+$/g, "")
        events.push({
          _tag: "Malformed",
          line,
          raw: trimmed,
          reason: error === undefined ? "malformed CSV record" : csvReason(error, line, trimmed)
        })
        return undefined
      }
    })
    // Listen from the start: an "error" without a listener would crash the process, and "end" may come
    // before the fiber gets to wait for it.
    let settled: { readonly error?: Error } | undefined
    let notify: (() => void) | undefined
    parser.on("end", () => {
      settled ??= {}
      notify?.()
    })
    parser.on("error", (error) => {
      settled ??= { error }
      notify?.()
    })
    parser.resume()
    const finished = Effect.async<void, InputError>((resume) => {
      const settle = () => {
        const error = settled?.error
        resume(error === undefined ? Effect.void : Effect.fail(readError(path)(error)))
      }
      if (settled !== undefined) settle()
      else notify = settle
    })
    const taken = () => events.splice(0, events.length)
    const end = Effect.sync(() => parser.end()).pipe(Effect.zipRight(finished), Effect.map(taken))
    return readTextStream(fs, path).pipe(
      Stream.mapEffect((text) =>
        Effect.sync(() => {
          parser.write(text)
          return taken()
        })
      ),
      Stream.concat(Stream.fromEffect(end)),
      Stream.flattenIterables,
      Stream.ensuring(Effect.sync(() => parser.destroy()))
    )
  })

/** Unique, non-empty column names: later duplicates get `_2`, `_3`, ...; empty names become `column_<n>`. */
const uniqueColumns = (header: ReadonlyArray<string>): Array<string> => {
  const seen = new Set<string>()
  return header.map((name, i) => {
    const base = name.trim() === "" ? `column_${i + 1}` : name
    let candidate = base
    for (let n = 2; seen.has(candidate); n++) candidate = `${base}_${n}`
    seen.add(candidate)
    return candidate
  })
}

const openCsv = (fs: FileSystem.FileSystem, path: string) =>
  Effect.gen(function*() {
    // the header is the first record: read up to it, then the rows are read afresh as they are consumed
    const head = yield* Stream.runHead(csvEvents(fs, path))
    if (Option.isNone(head)) return yield* new InputError({ path, message: `${path} is empty: no header row` })
    const first = head.value
    if (first._tag === "Malformed") {
      return yield* new InputError({ path, message: `cannot read the header of ${path}: ${first.reason}` })
    }
    const columns = uniqueColumns(first.fields)
    const ambiguous = ambiguousIdentifierColumns(path, first.fields)
    if (ambiguous !== undefined) return yield* ambiguous
    const found = findIdentifierColumns(columns)
    if (found.length === 0) return yield* noIdentifierColumn(path, columns)
    const primary = found[0]!.kind
    const toRow = (event: CsvEvent): Option.Option<InputRow> => {
      // A record of nothing but separators (",,,,", wider than the header or not) carries nothing: a blank line.
      if (event._tag === "Malformed") {
        return /^[\s,"]*$/.test(event.raw)
          ? Option.none()
          : Option.some({
            line: event.line,
            columns: {},
            identifier: invalid(primary, excerpt(event.raw), event.reason)
          })
      }
      // A record whose fields are all blank (",,," from a spreadsheet) carries nothing: treated as a blank line.
      if (event.fields.every((field) => field.trim() === "")) return Option.none()
      const record: Record<string, string> = {}
      columns.forEach((column, i) => {
        record[column] = event.fields[i] ?? ""
      })
      return Option.some({ line: event.line, columns: record, identifier: identify(found, record) })
    }
    const rows = csvEvents(fs, path).pipe(Stream.drop(1), Stream.filterMap(toRow))
    return { path, format: "csv" as const, columns, rows }
  })

// ---------------------------------------------------------------------------------------------------------------
// JSON lines

const textOf = (value: unknown): string =>
  typeof value === "string"
    ? value
    : value === null || value === undefined
    ? ""
    : typeof value === "object"
    ? JSON.stringify(value)
    : String(value)

/** One line of a JSON-lines file: blank, an object (as text columns), or invalid with the reason. */
type JsonLine =
  | { readonly _tag: "Blank"; readonly line: number }
  | { readonly _tag: "Object"; readonly line: number; readonly columns: Record<string, string> }
  | { readonly _tag: "Invalid"; readonly line: number; readonly text: string; readonly reason: string }

const parseJsonLine = (raw: string, line: number): JsonLine => {
  const text = line === 1 ? raw.replace(/^\uFEFF/, "") : raw
  if (text.trim() === "") return { _tag: "Blank", line }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return { _tag: "Invalid", line, text, reason: `invalid JSON: ${(error as Error).message}` }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { _tag: "Invalid", line, text, reason: "not a JSON object" }
  }
  const columns: Record<string, string> = {}
  for (const [key, field] of Object.entries(value)) columns[key] = textOf(field)
  return { _tag: "Object", line, columns }
}

const jsonLines = (fs: FileSystem.FileSystem, path: string): Stream.Stream<JsonLine, InputError> =>
  readTextStream(fs, path).pipe(
    Stream.splitLines,
    Stream.zipWithIndex,
    Stream.map(([raw, i]) => parseJsonLine(raw, i + 1))
  )

/** What the whole file says before any row is used: its columns and whether it is JSON lines at all. */
interface JsonScan {
  readonly columns: Array<string>
  readonly seen: Set<string>
  lines: number
  invalid: number
  firstInvalid: (JsonLine & { readonly _tag: "Invalid" }) | undefined
  anyIdentifierColumn: boolean
  array: boolean
}

const scanJsonLines = (fs: FileSystem.FileSystem, path: string) =>
  jsonLines(fs, path).pipe(
    Stream.filter((entry) => entry._tag !== "Blank"),
    Stream.runFold(
      {
        columns: [],
        seen: new Set(),
        lines: 0,
        invalid: 0,
        firstInvalid: undefined,
        anyIdentifierColumn: false,
        array: false
      } as JsonScan,
      (scan, entry) => {
        if (scan.lines === 0 && entry._tag === "Invalid" && entry.text.trimStart().startsWith("[")) scan.array = true
        scan.lines++
        if (entry._tag === "Invalid") {
          scan.invalid++
          scan.firstInvalid ??= entry
        } else if (entry._tag === "Object") {
          for (const key of Object.keys(entry.columns)) {
            if (!scan.seen.has(key)) {
              scan.seen.add(key)
              scan.columns.push(key)
            }
          }
          if (!scan.anyIdentifierColumn && findIdentifierColumns(Object.keys(entry.columns)).length > 0) {
            scan.anyIdentifierColumn = true
          }
        }
        return scan
      }
    )
  )

const openJsonLines = (fs: FileSystem.FileSystem, path: string) =>
  Effect.gen(function*() {
    // Two passes: the columns (and whether there is an identifier column at all) are known only at the end of
    // the file; the rows are then read afresh as they are consumed, so neither pass holds the file.
    const scan = yield* scanJsonLines(fs, path)
    if (scan.array) {
      return yield* new InputError({
        path,
        message: `${path} holds a JSON array; write one JSON object per line (JSON lines) instead`
      })
    }
    // Not one object: this is no JSON lines file (CSV read as JSONL, say), not a file of bad rows.
    if (scan.lines > 0 && scan.invalid === scan.lines && scan.firstInvalid !== undefined) {
      return yield* new InputError({
        path,
        message: `${path} was read as JSON lines, but none of its ${scan.lines} lines is a JSON object ` +
          `(line ${scan.firstInvalid.line}: ${scan.firstInvalid.reason}); if it is CSV, name it .csv or pass ` +
          `--format csv`
      })
    }
    const columns = scan.columns
    if (scan.lines > 0 && !scan.anyIdentifierColumn) return yield* noIdentifierColumn(path, columns)
    const ambiguous = ambiguousIdentifierColumns(path, columns)
    if (ambiguous !== undefined) return yield* ambiguous
    const primary = findIdentifierColumns(columns)[0]?.kind ?? "linkedin"
    const rows = jsonLines(fs, path).pipe(
      Stream.filterMap((entry): Option.Option<InputRow> =>
        entry._tag === "Blank"
          ? Option.none()
          : entry._tag === "Invalid"
          ? Option.some({
            line: entry.line,
            columns: {},
            identifier: invalid(primary, excerpt(entry.text), entry.reason)
          })
          : Option.some({
            line: entry.line,
            columns: entry.columns,
            identifier: identify(findIdentifierColumns(Object.keys(entry.columns)), entry.columns)
          })
      )
    )
    return { path, format: "jsonl" as const, columns, rows }
  })

// ---------------------------------------------------------------------------------------------------------------

/** An input file whose rows are read as they are consumed (and again each time the stream is run). */
export interface InputSource {
  readonly path: string
  readonly format: Format
  /** column names in input order (CSV: the header; JSONL: keys in order of first appearance) */
  readonly columns: ReadonlyArray<string>
  readonly rows: Stream.Stream<InputRow, InputError>
}

/**
 * Opens `path` for streaming: problems with the whole file (missing, unreadable, unknown format, no identifier
 * column) fail here; problems with single rows are rows. Memory does not grow with the file.
 *
 * @since 0.1.0 @category Reading
 */
export const open = (
  path: string,
  format?: Format | undefined
): Effect.Effect<InputSource, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const chosen = yield* formatOf(path, format)
    const fs = yield* FileSystem.FileSystem
    yield* checkFile(fs, path)
    return chosen === "csv" ? yield* openCsv(fs, path) : yield* openJsonLines(fs, path)
  })

/**
 * Reads every row of `path` into memory (`open` streams them). Fails with `InputError` only for problems with
 * the whole file; problems with single rows are rows.
 *
 * @since 0.1.0 @category Reading
 */
export const read = (
  path: string,
  format?: Format | undefined
): Effect.Effect<InputFile, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const source = yield* open(path, format)
    const rows = yield* Stream.runCollect(source.rows)
    return { path: source.path, format: source.format, columns: source.columns, rows: Array.from(rows) }
  })
