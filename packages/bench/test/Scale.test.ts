/**
 * `pnpm bench scale` at a small size, on the Postgres and Redis of `DATABASE_URL` / `REDIS_URL` (skipped, and said
 * so in the test's name, without them): every set-up hands every person to Fiber once, the workers exit 0, and the
 * shared limits keep them free of 429s. Efficiencies and throughputs are printed, never asserted (they are times).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodePath from "node:path"
import { runNode } from "./utils/node.js"

const main = NodePath.resolve(import.meta.dirname, "../dist/main.js")
const databaseUrl = process.env.DATABASE_URL === "" ? undefined : process.env.DATABASE_URL
const redisUrl = process.env.REDIS_URL === "" ? undefined : process.env.REDIS_URL
const missing = [databaseUrl === undefined ? "DATABASE_URL" : [], redisUrl === undefined ? "REDIS_URL" : []].flat()

describe("pnpm bench scale", () => {
  it.effect.skipIf(missing.length > 0)(
    missing.length > 0
      ? `1, 2 and 4 workers share one run (skipped: ${missing.join(" and ")} not set)`
      : "1, 2 and 4 workers share one run: everyone sent to Fiber once, no 429, every figure with its target",
    () =>
      Effect.gen(function*() {
        const result = yield* runNode(main, ["scale", "--people", "200", "--time-scale", "20"])
        assert.strictEqual(result.exitCode, 0, `${result.stdout}\n${result.stderr}`)
        for (const workers of [1, 2, 4]) {
          assert.match(
            result.stdout,
            new RegExp(`^  ${workers} workers?: measured .* Fiber received 200/200 people \\(0 twice\\)`, "m")
          )
          assert.match(
            result.stdout,
            new RegExp(
              `^workers ${workers}: ceiling efficiency \\d+\\.\\d\\d \\(target >= 0\\.95\\)  (OK|MISS) \\| ` +
                `429s caused by client: 0 \\(target 0\\)  OK$`,
              "m"
            )
          )
        }
        assert.match(result.stdout, /^ingest throughput: 1 worker \d+ records\/s, 2 workers \d+ records\/s \(ratio /m)
        assert.notMatch(result.stdout, /WRONG/)
      })
  )

  it.effect("without DATABASE_URL the part says it is skipped and why; named explicitly, it exits 1", () =>
    Effect.gen(function*() {
      const result = yield* runNode(main, ["scale"], { PATH: process.env.PATH ?? "" })
      assert.strictEqual(result.exitCode, 1, result.stderr)
      assert.match(result.stdout, /^  scale: skipped: DATABASE_URL is not set/m)
      assert.notMatch(result.stderr, /\n\s+at /, "a stack trace")
    }))
})
