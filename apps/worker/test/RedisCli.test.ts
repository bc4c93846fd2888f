/**
 * `--redis-url` / `REDIS_URL` as a user meets them: the providers' limits go to Redis, a Redis that cannot be
 * reached stops the command before anything is recorded, and the URL's password is never printed.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Redis } from "ioredis"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { enrich, examplePeople } from "./utils/binary.js"
import { redisUrl, uniquePrefix } from "./utils/redis.js"

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-redis-" }))

describe("enrich with a Redis store", () => {
  it.scoped("an unreachable Redis: one line without the password, nothing recorded", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const out = NodePath.join(dir, "out.csv")
      for (
        const [args, env] of [
          [["--redis-url", "redis://:hunter2-secret@127.0.0.1:1"], {}],
          [[], { REDIS_URL: "redis://:hunter2-secret@127.0.0.1:1" }]
        ] as const
      ) {
        const result = yield* enrich(["run", examplePeople, "--simulators", "--out", out, ...args], { cwd: dir, env })
        assert.strictEqual(result.exitCode, 1, result.stderr)
        assert.match(result.stderr, /Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 unreachable/)
        assert.notInclude(result.stderr + result.stdout, "hunter2-secret")
        assert.isFalse(NodeFs.existsSync(NodePath.join(dir, ".enrich")), "a run was recorded without its Redis")
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped.skipIf(redisUrl === undefined)(
    redisUrl === undefined
      ? "run counts its limits in Redis (skipped: REDIS_URL is not set)"
      : "run counts its limits in Redis",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const prefix = uniquePrefix()
        const result = yield* enrich(
          ["run", examplePeople, "--simulators", "--out", NodePath.join(dir, "out.csv"), "--redis-url", redisUrl!],
          { cwd: dir, env: { REDIS_KEY_PREFIX: prefix } }
        )
        assert.strictEqual(result.exitCode, 0, result.stderr)
        const redis = yield* Effect.acquireRelease(
          Effect.sync(() => new Redis(redisUrl!)),
          (client) => Effect.promise(() => client.quit())
        )
        const keys = yield* Effect.promise(() => redis.keys(`${prefix}*`))
        for (const provider of ["fiber", "crustdata", "thehog"]) {
          assert.isTrue(
            keys.some((key) => key.startsWith(`${prefix}{${provider}:`)),
            `no window of ${provider} in Redis`
          )
        }
      }).pipe(Effect.provide(NodeContext.layer))
  )
})
