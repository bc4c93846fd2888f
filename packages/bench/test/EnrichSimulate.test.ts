/**
 * The benchmarks start the built `enrich` with node as its executable starts itself: with the flags of its shebang.
 */
import { assert, describe, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as EnrichSimulate from "../src/EnrichSimulate.js"

const withScript = (firstLine: string, test: (path: string) => void) => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "enrich-shebang-"))
  try {
    const path = NodePath.join(dir, "main.js")
    NodeFs.writeFileSync(path, `${firstLine}\nconsole.log(1)\n`)
    test(path)
  } finally {
    NodeFs.rmSync(dir, { recursive: true, force: true })
  }
}

describe("EnrichSimulate.nodeArgs", () => {
  it("puts the shebang's node flags before the script", () =>
    withScript("#!/usr/bin/env -S node --max-semi-space-size=8 --no-warnings", (path) => {
      assert.deepStrictEqual(EnrichSimulate.nodeArgs(path, ["run", "x.csv"]), [
        "--max-semi-space-size=8",
        "--no-warnings",
        path,
        "run",
        "x.csv"
      ])
    }))

  it("adds nothing for a plain node shebang", () =>
    withScript("#!/usr/bin/env node", (path) => {
      assert.deepStrictEqual(EnrichSimulate.nodeArgs(path, ["--help"]), [path, "--help"])
    }))

  it("reads the built worker's own flags", () => {
    const main = NodePath.resolve(import.meta.dirname, "../../../apps/worker/dist/main.js")
    assert.deepStrictEqual(EnrichSimulate.shebangFlags(main), ["--max-semi-space-size=8"])
  })
})
