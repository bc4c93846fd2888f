/**
 * The output file as the built CLI handles it: a place that cannot be written is found before anything is
 * spent, and what a killed write left beside the output is gone at the next start.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodePath from "node:path"
import { enrich, examplePeople } from "./utils/binary.js"

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-out-" }))

describe("enrich output file", () => {
  it.scoped("an --out that cannot be written is exit 2 before any run is recorded", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      yield* fs.writeFileString(NodePath.join(dir, "a-file"), "")
      const out = NodePath.join(dir, "a-file", "out.csv")
      const result = yield* enrich(["run", examplePeople, "--simulators", "--out", out], { cwd: dir })
      assert.strictEqual(result.exitCode, 2, result.stderr)
      assert.include(result.stderr, `cannot write ${out}`)
      assert.notMatch(result.stderr, /\n\s+at /, "a stack trace leaked")
      // nothing recorded: not even a ledger was created
      const status = yield* enrich(["status"], { cwd: dir })
      assert.strictEqual(status.exitCode, 2, status.stderr)
      assert.include(status.stderr, "no ledger at .enrich/ledger.db")
    }).pipe(Effect.provide(NodeContext.layer)), 60_000)

  it.scoped(
    "a temp file that a killed output write left behind is removed at the next start",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* tempDir
        const out = NodePath.join(dir, "people.enriched.csv")
        const leftover = `${out}.tmp-0123456789ab`
        yield* fs.writeFileString(leftover, "name,phone\nAda,+14155550100\n")
        const result = yield* enrich(["run", examplePeople, "--simulators", "--out", out], { cwd: dir })
        assert.include([0, 3], result.exitCode, result.stderr)
        assert.isFalse(yield* fs.exists(leftover), "the leftover with personal data is gone")
        assert.isTrue(yield* fs.exists(out))
      }).pipe(Effect.provide(NodeContext.layer)),
    120_000
  )
})
