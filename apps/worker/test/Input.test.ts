import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as NodePath from "node:path"
import * as Input from "../src/Input.js"

/** Writes `content` to a fresh temp file named `name` and reads it back with `Input.read`. */
const readText = (name: string, content: string, format?: Input.Format) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "enrich-input-" })
    const path = NodePath.join(dir, name)
    yield* fs.writeFileString(path, content)
    return yield* Input.read(path, format)
  }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))

/** The row's person key, or its rejection reason prefixed with "!" */
const summary = (row: Input.InputRow) =>
  Either.match(row.identifier, { onLeft: (invalid) => `!${invalid.reason}`, onRight: (identifier) => identifier.key })

const lines = (file: Input.InputFile) => file.rows.map((row) => [row.line, summary(row)] as const)

describe("Input", () => {
  describe("CSV", () => {
    it.effect("matches identifier headers case-insensitively and trimmed, keeping the original names", () =>
      Effect.gen(function*() {
        const file = yield* readText(
          "people.csv",
          "Name, LinkedIn_URL ,EMAIL,Twitter,GitHub\n" +
            "Ada,https://uk.linkedin.com/in/Ada/,ada@acme.io,ada,ada-l\n" +
            "Alan,,Alan@Turing.org,alan,\n" +
            "Grace,,,@grace_h,gh\n" +
            "Linus,,,,torvalds\n"
        )
        assert.strictEqual(file.format, "csv")
        assert.deepStrictEqual(file.columns, ["Name", " LinkedIn_URL ", "EMAIL", "Twitter", "GitHub"])
        assert.deepStrictEqual(lines(file), [
          [2, "linkedin:in/ada"],
          [3, "email:alan@turing.org"],
          [4, "x:grace_h"],
          [5, "github:torvalds"]
        ])
        assert.strictEqual(file.rows[0]!.columns["Name"], "Ada")
        assert.strictEqual(file.rows[0]!.columns[" LinkedIn_URL "], "https://uk.linkedin.com/in/Ada/")
      }))

    it.effect("accepts every alias: linkedin, profile_url, x_handle, x, github_username", () =>
      Effect.gen(function*() {
        for (
          const [header, value, expected] of [
            ["linkedin", "linkedin.com/in/a-b", "linkedin:in/a-b"],
            ["Profile_URL", "\"https://www.linkedin.com/sales/lead/ACwAA,NAME\"", "linkedin:sales/lead/ACwAA"],
            ["x_handle", "https://x.com/Someone", "x:someone"],
            ["X", "someone_else", "x:someone_else"],
            ["github_username", "octo-cat", "github:octo-cat"]
          ] as const
        ) {
          const file = yield* readText("people.csv", `${header},note\n${value},n\n`)
          assert.deepStrictEqual(lines(file), [[2, expected]], header)
        }
      }))

    it.effect("uses the first non-empty identifier in priority order, even when it is invalid", () =>
      Effect.gen(function*() {
        const file = yield* readText(
          "people.csv",
          "github,email,linkedin_url\n" +
            "gh,ada@acme.io,https://linkedin.com/in/ada\n" +
            "gh,ada@acme.io,https://linkedin.com/company/acme\n" +
            "gh,  ,\n" +
            ",,\n" +
            "\"\",\"\",\" \"\n" +
            "x,,\n"
        )
        assert.deepStrictEqual(lines(file), [
          [2, "linkedin:in/ada"],
          [3, "!a LinkedIn company page, not a person"],
          [4, "github:gh"],
          // ",," and a line of blanks carry nothing: skipped like blank lines
          [7, "github:x"]
        ])
        const invalid = Either.getLeft(file.rows[1]!.identifier)
        assert.strictEqual(invalid._tag === "Some" && invalid.value.kind, "linkedin")
      }))

    it.effect("reports a row without any identifier value", () =>
      Effect.gen(function*() {
        const file = yield* readText("people.csv", "name,email,linkedin\nAda,,\nAlan,alan@turing.org,\n")
        assert.deepStrictEqual(lines(file), [[2, "!no identifier in row"], [3, "email:alan@turing.org"]])
        assert.strictEqual(file.rows[0]!.columns["name"], "Ada")
      }))

    it.effect("reads quoted fields: commas, escaped quotes, line breaks, stray quotes", () =>
      Effect.gen(function*() {
        const file = yield* readText(
          "people.csv",
          "name,email,notes\n" +
            "\"Lovelace, Ada\",ada@acme.io,\"said \"\"hi\"\"\"\n" +
            "Alan,alan@turing.org,\"two\nlines\"\n" +
            "Bob \"the builder\",bob@acme.io,plain\n"
        )
        assert.deepStrictEqual(lines(file), [
          [2, "email:ada@acme.io"],
          [3, "email:alan@turing.org"],
          [5, "email:bob@acme.io"]
        ])
        assert.strictEqual(file.rows[0]!.columns["name"], "Lovelace, Ada")
        assert.strictEqual(file.rows[0]!.columns["notes"], "said \"hi\"")
        assert.strictEqual(file.rows[1]!.columns["notes"], "two\nlines")
        assert.strictEqual(file.rows[2]!.columns["name"], "Bob \"the builder\"")
      }))

    it.effect("strips a BOM and keeps line numbers across blank lines and CRLF", () =>
      Effect.gen(function*() {
        const file = yield* readText(
          "people.csv",
          "\uFEFFemail,notes\r\n\r\nada@acme.io,\"multi\r\nline\"\r\n\r\n\r\nalan@turing.org,x\r\n\r\n"
        )
        assert.deepStrictEqual(file.columns, ["email", "notes"])
        assert.deepStrictEqual(lines(file), [[3, "email:ada@acme.io"], [7, "email:alan@turing.org"]])
        assert.strictEqual(file.rows[0]!.columns["notes"], "multi\r\nline")
      }))

    it.effect("reports malformed records with their line numbers and keeps reading", () =>
      Effect.gen(function*() {
        const file = yield* readText(
          "people.csv",
          "email,name\n" +
            "ada@acme.io,Ada\n" +
            "bob@acme.io,Bob,extra\n" +
            "carol@acme.io\n" + // a missing trailing field reads as empty
            "\n" +
            "dan@acme.io,Dan\n" +
            "\"eve@acme.io,Eve\n" +
            "frank@acme.io,Frank\n"
        )
        assert.deepStrictEqual(lines(file).map(([line]) => line), [2, 3, 4, 6, 7])
        assert.strictEqual(summary(file.rows[0]!), "email:ada@acme.io")
        assert.match(summary(file.rows[1]!), /^!malformed CSV record: it has more fields than the header/)
        assert.strictEqual(summary(file.rows[2]!), "email:carol@acme.io")
        assert.strictEqual(file.rows[2]!.columns["name"], "")
        assert.strictEqual(summary(file.rows[3]!), "email:dan@acme.io")
        assert.match(summary(file.rows[4]!), /^!malformed CSV record: a quoted field opened on line 7 is never closed/)
        const bad = Either.getLeft(file.rows[1]!.identifier)
        assert.strictEqual(bad._tag === "Some" && bad.value.input, "bob@acme.io,Bob,extra")
      }))

    it.effect("fails clearly when no column names an identifier", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(readText("people.csv", "name,company,Phone\nAda,Acme,1\n"))
        assert.strictEqual(error._tag, "InputError")
        assert.include(error.message, "\"name\", \"company\", \"Phone\"")
        assert.include(
          error.message,
          "linkedin_url, linkedin, profile_url, email, x_handle, twitter, x, github_username, github"
        )
      }))

    it.effect("fails on an empty file and on a header that cannot be read", () =>
      Effect.gen(function*() {
        const empty = yield* Effect.flip(readText("people.csv", "\n\n"))
        assert.include(empty.message, "empty")
        const header = yield* Effect.flip(readText("people.csv", "\"email,name\nada@acme.io,Ada\n"))
        assert.include(header.message, "header")
      }))

    it.effect("names duplicate and empty header columns uniquely", () =>
      Effect.gen(function*() {
        const file = yield* readText("people.csv", "email,note,note,\nada@acme.io,a,b,c\n")
        assert.deepStrictEqual(file.columns, ["email", "note", "note_2", "column_4"])
        assert.deepStrictEqual(file.rows[0]!.columns, { email: "ada@acme.io", note: "a", note_2: "b", column_4: "c" })
      }))
  })

  describe("encodings and ambiguous headers", () => {
    /** Writes raw bytes to a temp file and reads it back. */
    const readBytes = (name: string, bytes: Uint8Array) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "enrich-input-" })
        const path = NodePath.join(dir, name)
        yield* fs.writeFile(path, bytes)
        return yield* Input.read(path)
      }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))

    const utf16 = (text: string, bigEndian: boolean) => {
      const bytes = new Uint8Array(2 + text.length * 2)
      bytes.set(bigEndian ? [0xfe, 0xff] : [0xff, 0xfe])
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i)
        bytes[2 + 2 * i] = bigEndian ? code >> 8 : code & 0xff
        bytes[3 + 2 * i] = bigEndian ? code & 0xff : code >> 8
      }
      return bytes
    }

    it.effect("reads UTF-16 files that announce themselves with a byte-order mark", () =>
      Effect.gen(function*() {
        const text = "name,email\nZoë,zoe@acme.io\nAda,ada@acme.io\n"
        for (const bigEndian of [false, true]) {
          const file = yield* readBytes("people.csv", utf16(text, bigEndian))
          assert.deepStrictEqual(file.columns, ["name", "email"])
          assert.deepStrictEqual(lines(file), [[2, "email:zoe@acme.io"], [3, "email:ada@acme.io"]])
          assert.strictEqual(file.rows[0]!.columns["name"], "Zoë")
        }
        const jsonl = yield* readBytes("people.jsonl", utf16("{\"email\":\"ada@acme.io\"}\n", false))
        assert.deepStrictEqual(lines(jsonl), [[1, "email:ada@acme.io"]])
      }))

    it.effect("refuses bytes that are not UTF-8 in one message, instead of sending U+FFFD", () =>
      Effect.gen(function*() {
        // "Zoë" in Latin-1: 0xEB is not valid UTF-8 here
        const latin1 = new Uint8Array([
          ...new TextEncoder().encode("name,email\nZo"),
          0xeb,
          ...new TextEncoder().encode(",zoe@acme.io\n")
        ])
        for (const name of ["people.csv", "people.jsonl"]) {
          const error = yield* Effect.flip(readBytes(name, latin1))
          assert.strictEqual(error._tag, "InputError")
          assert.include(error.message, "is not valid UTF-8")
          assert.include(error.message, "save it as UTF-8")
        }
      }))

    it.effect("refuses two identifier headers that differ only in case, naming both", () =>
      Effect.gen(function*() {
        const csv = yield* Effect.flip(readText("people.csv", "Email,name,email\n,Ada,ada@acme.io\n"))
        assert.include(csv.message, `"Email" and "email"`)
        const jsonl = yield* Effect.flip(readText("people.jsonl", "{\"Email\":\"\",\"email\":\"ada@acme.io\"}\n"))
        assert.include(jsonl.message, `"Email" and "email"`)
        // other columns may differ only in case: they are all kept
        const fine = yield* readText("people.csv", "email,Note,note\nada@acme.io,a,b\n")
        assert.deepStrictEqual(fine.rows[0]!.columns, { email: "ada@acme.io", Note: "a", note: "b" })
      }))

    it.effect("says on which line an unclosed quote starts and how many lines it swallowed", () =>
      Effect.gen(function*() {
        const file = yield* readText(
          "people.csv",
          "name,email\nAda,ada@acme.io\n\"Alan,alan@turing.org\nGrace,grace@navy.mil\nLinus,linus@kernel.org\n"
        )
        assert.strictEqual(file.rows.length, 2)
        const reason = Either.getLeft(file.rows[1]!.identifier)
        assert.isTrue(reason._tag === "Some")
        if (reason._tag === "Some") {
          assert.include(reason.value.reason, "opened on line 3 is never closed")
          assert.include(reason.value.reason, "lines 3–5 (3 lines")
        }
      }))

    it.effect("reads a row of nothing but separators, wider than the header, as a blank line", () =>
      Effect.gen(function*() {
        const file = yield* readText("people.csv", "name,email\n,,,,\nAda,ada@acme.io\n")
        assert.deepStrictEqual(lines(file), [[3, "email:ada@acme.io"]])
      }))
  })

  describe("JSON lines", () => {
    it.effect("reads one object per line, reporting bad lines with their numbers", () =>
      Effect.gen(function*() {
        const file = yield* readText(
          "people.jsonl",
          "\uFEFF{\"name\":\"Ada\",\"LinkedIn\":\"linkedin.com/in/ada\",\"age\":36,\"vip\":true,\"tags\":[\"a\"]}\n" +
            "\n" +
            "{\"name\": \"Alan\", \"email\": \"alan@turing.org\", \"extra\": null}\n" +
            "{not json}\n" +
            "[1, 2]\n" +
            "{\"name\": \"Nobody\"}\n" +
            "{\"github\": \"octocat\"}" // no trailing newline
        )
        assert.strictEqual(file.format, "jsonl")
        assert.deepStrictEqual(file.columns, ["name", "LinkedIn", "age", "vip", "tags", "email", "extra", "github"])
        assert.deepStrictEqual(lines(file).map(([line]) => line), [1, 3, 4, 5, 6, 7])
        assert.strictEqual(summary(file.rows[0]!), "linkedin:in/ada")
        assert.deepStrictEqual(file.rows[0]!.columns, {
          name: "Ada",
          LinkedIn: "linkedin.com/in/ada",
          age: "36",
          vip: "true",
          tags: "[\"a\"]"
        })
        assert.strictEqual(summary(file.rows[1]!), "email:alan@turing.org")
        assert.strictEqual(file.rows[1]!.columns["extra"], "")
        assert.match(summary(file.rows[2]!), /^!invalid JSON/)
        const notJson = Either.getLeft(file.rows[2]!.identifier)
        assert.strictEqual(notJson._tag === "Some" && notJson.value.input, "{not json}")
        assert.strictEqual(summary(file.rows[3]!), "!not a JSON object")
        assert.strictEqual(summary(file.rows[4]!), "!no identifier in row")
        assert.strictEqual(summary(file.rows[5]!), "github:octocat")
      }))

    it.effect("takes .ndjson and .json as JSON lines, and --format over the extension", () =>
      Effect.gen(function*() {
        for (const name of ["p.ndjson", "p.json", "p.JSONL"]) {
          const file = yield* readText(name, "{\"email\":\"ada@acme.io\"}\n")
          assert.strictEqual(file.format, "jsonl", name)
          assert.strictEqual(file.rows.length, 1)
        }
        const csv = yield* readText("people.txt", "email\nada@acme.io\n", "csv")
        assert.deepStrictEqual(lines(csv), [[2, "email:ada@acme.io"]])
      }))

    it.effect("fails clearly on a JSON array and on a file with no identifier key", () =>
      Effect.gen(function*() {
        const array = yield* Effect.flip(readText("people.json", "[\n{\"email\":\"ada@acme.io\"}\n]\n"))
        assert.include(array.message, "JSON array")
        const none = yield* Effect.flip(readText("people.jsonl", "{\"name\":\"Ada\"}\n{\"phone\":\"1\"}\n"))
        assert.include(none.message, "no identifier column")
        assert.include(none.message, "\"name\", \"phone\"")
      }))

    it.effect("fails clearly when not one line is a JSON object (a CSV file read as JSON lines)", () =>
      Effect.gen(function*() {
        const csv = yield* Effect.flip(
          readText("people.csv", "linkedin_url\nhttps://www.linkedin.com/in/ada\n", "jsonl")
        )
        assert.include(csv.message, "none of its 2 lines is a JSON object")
        assert.include(csv.message, "line 1: invalid JSON")
        assert.include(csv.message, "--format csv")
        // one good line is enough for the rest to be reported as bad rows, as before
        const mixed = yield* readText("people.jsonl", "{\"email\":\"ada@acme.io\"}\n{bad\n")
        assert.deepStrictEqual(lines(mixed).map(([line, what]) => [line, what.slice(0, 13)]), [
          [1, "email:ada@acm"],
          [2, "!invalid JSON"]
        ])
      }))
  })

  it.effect("fails with the path when the file is missing, a directory, or of unknown format", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(Input.read("/nonexistent/people.csv"))
      assert.strictEqual(missing._tag, "InputError")
      assert.strictEqual(missing.path, "/nonexistent/people.csv")
      assert.include(missing.message, "not found: /nonexistent/people.csv")
      const directory = yield* Effect.flip(Input.read("/tmp", "csv"))
      assert.include(directory.message, "not a file: /tmp")
      const unknown = yield* Effect.flip(Input.read("/tmp/people.xlsx"))
      assert.include(unknown.message, "--format")
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
