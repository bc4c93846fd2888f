/**
 * The CLI as a user meets it: help, one-line errors with exit code 2 for mistakes, and the README's main
 * job (`enrich demo`) producing a complete output and a summary.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Command from "@effect/platform/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { enrich, examplePeople, main } from "./utils/binary.js"

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-cli-" }))

/** A mistake is one line on stderr, exit code 2, and no stack trace. */
const assertUsageError = (result: { stderr: string; exitCode: number }, mentions: RegExp) => {
  assert.strictEqual(result.exitCode, 2, result.stderr)
  assert.match(result.stderr, mentions)
  assert.notMatch(result.stderr, /\n\s+at /, "a stack trace leaked")
}

describe("enrich CLI", () => {
  it.scoped("--help lists every command", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const result = yield* enrich(["--help"], { cwd: dir })
      assert.strictEqual(result.exitCode, 0)
      for (const command of ["run", "estimate", "status", "resume", "demo", "simulate"]) {
        assert.match(result.stdout, new RegExp(`- ${command} `), command)
      }
      // the exit codes, 3 for a run that finished with failures among them, in the help of the commands that run
      assert.match(result.stdout, /3 finished with failures/)
      for (const command of ["run", "resume", "demo"]) {
        const help = yield* enrich([command, "--help"], { cwd: dir })
        assert.strictEqual(help.exitCode, 0, help.stderr)
        assert.match(help.stdout, /Exit codes: 0 done, 3 finished with failures .*130 interrupted/s, command)
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("the executable runs by itself, its shebang starting node with a smaller young generation", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // as the README's alias runs it: the file itself, no `node` in front
      const first = NodeFs.readFileSync(main, "utf8").split("\n", 1)[0]
      assert.strictEqual(first, "#!/usr/bin/env -S node --max-semi-space-size=8")
      assert.isTrue((NodeFs.statSync(main).mode & 0o111) !== 0, "dist/main.js is not executable")
      const direct = yield* Command.make(main, "--version").pipe(
        Command.workingDirectory(dir),
        Command.env({ PATH: process.env.PATH ?? "" }),
        Command.exitCode
      )
      assert.strictEqual(Number(direct), 0)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("bad flags and files are one-line errors with exit code 2", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      assertUsageError(yield* enrich(["run", "missing.csv"], { cwd: dir }), /missing\.csv/)
      assertUsageError(
        yield* enrich(["run", examplePeople, "--providers", "fiber,nope"], { cwd: dir }),
        /unknown nope/
      )
      assertUsageError(
        yield* enrich(["run", examplePeople, "--simulators", "--simulator-url", "http://127.0.0.1:1"], { cwd: dir }),
        /exclude each other/
      )
      // --out in the temp dir: were a bad flag accepted, the run would not write next to the shipped example
      const out = NodePath.join(dir, "out.csv")
      assertUsageError(
        yield* enrich(["run", examplePeople, "--simulators", "--budget", "-1", "--out", out], { cwd: dir }),
        /--budget must be 0 or more \(got -1\)/
      )
      assertUsageError(
        yield* enrich(["run", examplePeople, "--simulators", "--cache-days", "-3", "--out", out], { cwd: dir }),
        /--cache-days must be 0 or more \(got -3\)/
      )
      assertUsageError(yield* enrich(["simulate", "--port", "70000"], { cwd: dir }), /--port must be 0 to 65535/)
      assertUsageError(
        yield* enrich(["simulate", "--time-scale", "0"], { cwd: dir }),
        /--time-scale must be a positive number/
      )
      assert.isFalse(NodeFs.existsSync(NodePath.join(dir, ".enrich")), "a run was recorded despite a bad flag")
      assert.isFalse(NodeFs.existsSync(out), "an output was written despite a bad flag")
      NodeFs.writeFileSync(NodePath.join(dir, "names.csv"), "name,company\nAda,Acme\n")
      assertUsageError(
        yield* enrich(["run", "names.csv", "--simulators"], { cwd: dir }),
        /^enrich: no identifier column in .*names\.csv/m
      )
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("missing provider keys are named, before anything is recorded or spent", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const result = yield* enrich(["run", examplePeople, "--providers", "crustdata,thehog"], {
        cwd: dir,
        env: { THEHOG_ACCESS_KEY: "ak_visible_only_if_leaked" }
      })
      assertUsageError(result, /CRUSTDATA_API_KEY is not set; THEHOG_SECRET_KEY is not set/)
      assert.notInclude(result.stderr, "ak_visible_only_if_leaked")
      assert.isFalse(NodeFs.existsSync(NodePath.join(dir, ".enrich")), "a run was recorded without keys")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("an explicit --db wins over DATABASE_URL from the environment, which wins over the default file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // nothing listens on port 1: were this URL used, the error would be about Postgres, not the file
      const env = { DATABASE_URL: "postgres://enrich:env-pw@127.0.0.1:1/enrich?connect_timeout=2" }
      const typo = NodePath.join(dir, "typo.db")
      assertUsageError(yield* enrich(["status", "--db", typo], { cwd: dir, env }), /no ledger at .*typo\.db/)
      const both = yield* enrich(["status", "--db", typo, "--database-url", env.DATABASE_URL], { cwd: dir })
      assertUsageError(both, /either --db .* or --database-url .*, not both/)
      const fromEnvironment = yield* enrich(["status"], { cwd: dir, env })
      assert.notStrictEqual(fromEnvironment.exitCode, 0)
      assert.match(fromEnvironment.stderr, /Postgres/)
      assert.notInclude(fromEnvironment.stderr, "env-pw")
      assertUsageError(yield* enrich(["status"], { cwd: dir }), /no ledger at \.enrich\/ledger\.db/)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("estimate quotes every provider and spends nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const result = yield* enrich(["estimate", examplePeople], { cwd: dir })
      assert.strictEqual(result.exitCode, 0, result.stderr)
      assert.match(result.stdout, /300 rows: 284 people, 10 rejected, 6 duplicates/)
      for (const provider of ["fiber", "crustdata", "thehog"]) {
        assert.match(result.stdout, new RegExp(`${provider}\\s+up to \\d+ people .*at most \\d+ credits`))
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("demo: one output row per input row, rejected rows with reasons, and a summary", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // from a directory other than the repository: the shipped example is found without --input
      const result = yield* enrich(["demo"], { cwd: dir })
      assert.strictEqual(result.exitCode, 0, result.stderr)
      assert.match(result.stdout, /filled: work_email \d+ \(\d+%\), personal_email \d+ \(\d+%\), phone \d+ \(\d+%\)/)
      assert.match(result.stdout, /credits: [1-9]\d*/)
      assert.match(result.stdout, /line \d+ rejected: /)
      const output = NodeFs.readFileSync(NodePath.join(dir, ".enrich/demo/people.enriched.csv"), "utf8")
      const lines = output.trimEnd().split("\n")
      assert.strictEqual(lines.length, 301) // header + one row per input row, nothing dropped
      const header = lines[0]!.split(",")
      for (const column of ["work_email", "work_email_verdict", "personal_email", "phone", "status", "reason"]) {
        assert.include(header, column)
      }
      const status = header.indexOf("status")
      const statuses = new Set(lines.slice(1).map((l) => l.split(",")[status]))
      for (const s of ["found", "not_found", "rejected", "duplicate"]) assert.isTrue(statuses.has(s), s)
      assert.isTrue(NodeFs.existsSync(NodePath.join(dir, ".enrich/ledger.db")), "the SQLite ledger is the default")
    }).pipe(Effect.provide(NodeContext.layer)))
})
