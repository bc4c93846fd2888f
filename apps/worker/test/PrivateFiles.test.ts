/**
 * The files a run leaves hold personal data: the ledger, its WAL, the output. They are created readable by
 * their owner only, whatever the umask of the shell that started enrich.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { enrich, examplePeople } from "./utils/binary.js"

describe("files with personal data", () => {
  it.scoped("ledger, its directory and the output are readable by their owner only", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "enrich-private-" })
      const out = NodePath.join(dir, "people.enriched.csv")
      // a permissive umask in the calling shell must not matter
      const previous = process.umask(0o022)
      const result = yield* enrich(["run", examplePeople, "--simulators", "--out", out], { cwd: dir }).pipe(
        Effect.ensuring(Effect.sync(() => process.umask(previous)))
      )
      assert.include([0, 3], result.exitCode, result.stderr)
      const ledgerDir = NodePath.join(dir, ".enrich")
      const created = [out, ledgerDir, ...NodeFs.readdirSync(ledgerDir).map((name) => NodePath.join(ledgerDir, name))]
      assert.isAtLeast(created.length, 3)
      for (const path of created) {
        const mode = NodeFs.statSync(path).mode & 0o777
        assert.strictEqual(mode & 0o077, 0, `${path} is ${mode.toString(8)}: readable by others`)
      }
    }).pipe(Effect.provide(NodeContext.layer)), 120_000)
})
