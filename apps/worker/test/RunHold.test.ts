/**
 * One process per run: `enrich resume` of a run that another live process holds is refused, naming it; a holder
 * on this host whose process is gone is taken over at once (a resume right after a kill need not wait).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodeChild from "node:child_process"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as Sql from "../src/Sql.js"
import { enrich, examplePeople } from "./utils/binary.js"

/** Sets who holds every run of the ledger at `db`, for a minute from now. */
const setHolder = (db: string, holder: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE enrich_runs SET holder = ${holder}, held_until = ${Date.now() + 60_000}`
  }).pipe(Effect.provide(Sql.layerSqlite(db)))

/** The pid of a process that has exited. */
const deadPid = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const child = NodeChild.spawn(process.execPath, ["-e", ""])
    child.on("exit", () => resolve(child.pid!))
  })
)

describe("enrich resume and the run's hold", () => {
  it.scoped(
    "refuses a run another process holds, naming it; takes over from a dead one on this host",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "enrich-hold-" })
        const db = NodePath.join(dir, "ledger.db")
        const out = NodePath.join(dir, "out.csv")
        const first = yield* enrich(["run", examplePeople, "--simulators", "--db", db, "--out", out], { cwd: dir })
        assert.include([0, 3], first.exitCode, first.stderr)

        yield* setHolder(db, "worker-7 pid 4242 0abc")
        const refused = yield* enrich(["resume", "--db", db], { cwd: dir })
        assert.strictEqual(refused.exitCode, 2, refused.stderr)
        assert.include(refused.stderr, "is being worked on by process 4242 on worker-7")
        assert.include(refused.stderr, "--wait")
        assert.notMatch(refused.stderr, /\n\s+at /, "a stack trace leaked")

        yield* setHolder(db, `${NodeOs.hostname()} pid ${yield* deadPid} 0abc`)
        // --out: this resume writes elsewhere
        const elsewhere = NodePath.join(dir, "again.csv")
        const resumed = yield* enrich(["resume", "--db", db, "--out", elsewhere], { cwd: dir })
        assert.notStrictEqual(resumed.exitCode, 2, resumed.stderr)
        assert.include(resumed.stderr, "resuming")
        assert.isTrue(yield* fs.exists(elsewhere), "resume --out writes where it is told")

        // a --db that does not exist is an error, not a new empty ledger
        const missing = NodePath.join(dir, "typo.db")
        for (const command of ["resume", "status"]) {
          const result = yield* enrich([command, "--db", missing], { cwd: dir })
          assert.strictEqual(result.exitCode, 2, result.stderr)
          assert.include(result.stderr, `no ledger at ${missing}`)
          assert.isFalse(yield* fs.exists(missing))
        }
      }).pipe(Effect.provide(NodeContext.layer)),
    120_000
  )
})
