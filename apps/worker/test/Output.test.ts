import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { parse } from "csv-parse/sync"
import * as Effect from "effect/Effect"
import * as NodePath from "node:path"
import * as Input from "../src/Input.js"
import * as Output from "../src/Output.js"

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-output-" }))

const ada: Output.OutputRow = {
  columns: { name: "Lovelace, Ada", linkedin_url: "https://linkedin.com/in/ada", notes: "said \"hi\"\nthen left" },
  values: {
    work_email: "ada@acme.io",
    work_email_verdict: "valid",
    phone: "+14155550100",
    phone_kind: "mobile",
    provider_work_email: "fiber",
    provider_phone: "thehog"
  },
  status: "found",
  reason: ""
}
const alan: Output.OutputRow = {
  columns: { name: "Alan", linkedin_url: "nope", notes: "" },
  values: {},
  status: "rejected",
  reason: "not a LinkedIn URL, sorry"
}

const expectedHeader = [
  "name",
  "linkedin_url",
  "notes",
  "work_email",
  "work_email_verdict",
  "personal_email",
  "personal_email_verdict",
  "phone",
  "phone_kind",
  "provider_work_email",
  "provider_personal_email",
  "provider_phone",
  "status",
  "reason"
]

describe("Output", () => {
  it.scoped("writes CSV that reads back to the same values, and that Input reads again", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = NodePath.join(yield* tempDir, "out", "people.enriched.csv")
      yield* Output.write(path, "csv", [ada, alan], { inputColumns: ["name", "linkedin_url", "notes"] })
      const records: Array<Array<string>> = parse(yield* fs.readFileString(path))
      assert.deepStrictEqual(records[0], expectedHeader)
      assert.deepStrictEqual(records[1], [
        "Lovelace, Ada",
        "https://linkedin.com/in/ada",
        "said \"hi\"\nthen left",
        "ada@acme.io",
        "valid",
        "",
        "",
        "+14155550100",
        "mobile",
        "fiber",
        "",
        "thehog",
        "found",
        ""
      ])
      assert.deepStrictEqual(records[2]!.slice(-2), ["rejected", "not a LinkedIn URL, sorry"])
      assert.strictEqual(records.length, 3)

      const again = yield* Input.read(path)
      assert.deepStrictEqual(again.columns, expectedHeader)
      assert.strictEqual(again.rows[0]!.columns["notes"], "said \"hi\"\nthen left")
      assert.deepStrictEqual(again.rows.map((row) => row.line), [2, 4], "the quoted line break spans a line")
      assert.deepStrictEqual(yield* fs.readDirectory(NodePath.dirname(path)), ["people.enriched.csv"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("writes JSON lines, one object per row, null for missing values", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = NodePath.join(yield* tempDir, "people.jsonl")
      yield* Output.write(path, "jsonl", [ada, alan])
      const lines = (yield* fs.readFileString(path)).split("\n")
      assert.strictEqual(lines.length, 3)
      assert.strictEqual(lines[2], "")
      const first = JSON.parse(lines[0]!)
      assert.deepStrictEqual(Object.keys(first), expectedHeader)
      assert.strictEqual(first.notes, "said \"hi\"\nthen left")
      assert.strictEqual(first.work_email, "ada@acme.io")
      assert.strictEqual(first.personal_email, null)
      assert.strictEqual(JSON.parse(lines[1]!).reason, "not a LinkedIn URL, sorry")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("keeps an input column that clashes with an output column as input_<name>", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = NodePath.join(yield* tempDir, "out.csv")
      const row: Output.OutputRow = {
        columns: { email: "ada@acme.io", status: "customer", work_email: "old@acme.io", input_status: "x" },
        values: { work_email: "ada@acme.io" },
        status: "found",
        reason: ""
      }
      yield* Output.write(path, "csv", [row], { inputColumns: ["email", "status", "work_email", "input_status"] })
      const [header, values] = parse(yield* fs.readFileString(path)) as Array<Array<string>>
      assert.deepStrictEqual(header!.slice(0, 5), [
        "email",
        "input_input_status",
        "input_work_email",
        "input_status",
        "work_email"
      ])
      assert.deepStrictEqual(values!.slice(0, 5), ["ada@acme.io", "customer", "old@acme.io", "x", "ada@acme.io"])
      assert.strictEqual(new Set(header).size, header!.length, "no duplicate column names")
      assert.deepStrictEqual(Output.layout(["status"]).input, [["status", "input_status"]])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("writes only a header for no rows", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = NodePath.join(yield* tempDir, "empty.csv")
      yield* Output.write(path, "csv", [], { inputColumns: ["linkedin"] })
      assert.strictEqual(yield* fs.readFileString(path), ["linkedin", ...Output.outputColumns].join(",") + "\n")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("leaves no partial file when writing fails, and the previous file untouched", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      const path = NodePath.join(dir, "out.csv")
      yield* fs.writeFileString(path, "previous run\n")
      const broken: Output.OutputRow = {
        ...alan,
        get status(): string {
          throw new Error("row 1500 could not be rendered")
        }
      }
      // more rows than one write batch: the first batch reaches the temp file before the failure
      const rows = [...Array.from({ length: 1499 }, () => ada), broken]
      for (const format of ["csv", "jsonl"] as const) {
        const error = yield* Effect.flip(Output.write(path, format, rows))
        assert.strictEqual(error._tag, "OutputError")
        assert.include(error.message, "row 1500 could not be rendered")
        assert.strictEqual(yield* fs.readFileString(path), "previous run\n")
        assert.deepStrictEqual(yield* fs.readDirectory(dir), ["out.csv"], "the temp file is removed")
      }
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("removes the temp file when the rename fails", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      const path = NodePath.join(dir, "taken")
      yield* fs.makeDirectory(NodePath.join(path, "inside"), { recursive: true })
      const error = yield* Effect.flip(Output.write(path, "csv", [ada]))
      assert.strictEqual(error._tag, "OutputError")
      assert.include(error.message, path)
      assert.deepStrictEqual(yield* fs.readDirectory(dir), ["taken"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("prepare removes what a killed write left beside the output, and only that", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      const path = NodePath.join(dir, "out.csv")
      for (
        const name of [
          "out.csv.tmp-0123456789ab",
          "out.csv.tmp-ba9876543210",
          "other.csv.tmp-0123456789ab",
          "out.csv.tmp-notours",
          "keep.csv"
        ]
      ) {
        yield* fs.writeFileString(NodePath.join(dir, name), "name,phone\nAda,+14155550100\n")
      }
      yield* Output.prepare(path)
      const left = [...yield* fs.readDirectory(dir)].sort()
      assert.deepStrictEqual(left, ["keep.csv", "other.csv.tmp-0123456789ab", "out.csv.tmp-notours"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("prepare finds an output that cannot be written before anything is spent", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      const file = NodePath.join(dir, "a-file")
      yield* fs.writeFileString(file, "")
      const underFile = yield* Effect.flip(Output.prepare(NodePath.join(file, "out.csv")))
      assert.strictEqual(underFile._tag, "OutputError")
      assert.include(underFile.message, "cannot write")
      yield* fs.makeDirectory(NodePath.join(dir, "out.csv"))
      const directory = yield* Effect.flip(Output.prepare(NodePath.join(dir, "out.csv")))
      assert.include(directory.message, "not a file")
      // a writable place: created, and nothing left behind by the probe
      const fresh = NodePath.join(dir, "new", "out.csv")
      yield* Output.prepare(fresh)
      assert.deepStrictEqual(yield* fs.readDirectory(NodePath.join(dir, "new")), [])
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
