/**
 * `--order auto` and the expected credits: the ledger's history as hit counts (`HitStats`), `enrich estimate`
 * quoting the expected credits with a range beside the worst case, and `enrich run --order auto` following and
 * recording the order it chose.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Contact, ContactProvider, Identifier, Journal, PersonResult } from "@enrich/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as NodePath from "node:path"
import * as HitStats from "../src/HitStats.js"
import * as Ledger from "../src/Ledger.js"
import * as Sql from "../src/Sql.js"
import { enrich, examplePeople } from "./utils/binary.js"
import { databaseUrl, type Db, postgres, services, sqlite } from "./utils/db.js"

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-order-" }))

const person = (slug: string) => {
  const identifier = Either.getOrThrow(Identifier.parseLinkedIn(`https://www.linkedin.com/in/${slug}`))
  return new ContactProvider.Person({ key: identifier.key, identifier })
}

/** `expected, <label> a → b: ~N credits (95% range L–H)`: the figures, checked to be in order. */
const expectedLine = (stdout: string, label: string) => {
  const match = new RegExp(`^expected, ${label} ([a-z →]+): ~(\\d+) credits \\(95% range (\\d+)–(\\d+)\\)`, "m")
    .exec(stdout)
  assert.isNotNull(match, `no "expected, ${label}" line in:\n${stdout}`)
  const [, order, expected, low, high] = match!
  assert.isTrue(Number(low) <= Number(expected) && Number(expected) <= Number(high), match![0])
  return { order: order!.split(" → "), expected: Number(expected), low: Number(low), high: Number(high) }
}

/** HitStats over answers written by the Journal, on `db`. */
const hitStatsCounts = (db: Db) =>
  Effect.gen(function*() {
    const j = yield* Journal.Journal
    const [found, missing] = [person("found-one"), person("missing-one")]
    const fields: readonly [Contact.Field, ...Array<Contact.Field>] = ["work_email", "phone"]
    const chunk = yield* j.recordChunk({
      runId: "r1",
      provider: "fiber",
      idempotencyKey: "chunk-1",
      keys: [found.key, missing.key],
      fields,
      path: "batch",
      reserved: 0
    })
    const provenance = new Contact.Provenance({
      provider: "fiber",
      endpoint: "batch",
      mode: "batch",
      observedAt: yield* DateTime.now,
      cost: 2
    })
    const outcomes = [
      new PersonResult.Found({
        key: found.key,
        emails: [new Contact.Email({ address: "a@acme.io", kind: "work", verdict: "risky" })],
        phones: [],
        provenance
      }),
      new PersonResult.NotFound({ key: missing.key, provenance })
    ]
    yield* j.commitPage(chunk.idempotencyKey, outcomes, undefined)
    // a later run reusing those answers buys nothing: they are not counted again
    yield* j.reuse("r2", "fiber", fields, outcomes)
    const stats = yield* HitStats.hitStats()
    const of = (field: Contact.Field) => stats.find((c) => c.field === field && c.provider === "fiber")!
    assert.strictEqual(stats.length, 2)
    assert.deepStrictEqual([of("work_email").kind, of("work_email").asked], ["linkedin", 2])
    assert.deepStrictEqual(of("work_email").found, { valid: 0, risky: 1, unknown: 0, invalid: 0 })
    assert.strictEqual(of("phone").asked, 2)
    assert.strictEqual(Object.values(of("phone").found).reduce((a, b) => a + b, 0), 0)
    // read in pages, newest first, up to a cap
    const capped = yield* HitStats.hitStats({ maxRows: 1 })
    assert.strictEqual(capped.find((c) => c.field === "work_email")!.asked, 1)
  }).pipe(Effect.provide(services(db)))

describe("cost-aware order", () => {
  it.scoped(
    "HitStats: asked and found per provider, field and identifier kind, from the answers chunks bought",
    () => hitStatsCounts(sqlite)
  )
  it.scoped.skipIf(databaseUrl === undefined)(
    `HitStats on Postgres${databaseUrl === undefined ? " (skipped: DATABASE_URL is not set)" : ""}`,
    () => hitStatsCounts(postgres(databaseUrl ?? "postgres://unset"))
  )

  it.scoped(
    "estimate quotes expected credits with a range beside the worst case; run --order auto follows and records its choice",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        // no ledger yet: the priors alone, and nothing created
        const cold = yield* enrich(["estimate", examplePeople, "--db", "ledger.db"], { cwd: dir })
        assert.strictEqual(cold.exitCode, 0, cold.stderr)
        assert.match(cold.stdout, /^worst case (\d+) credits/m)
        const worst = Number(/^worst case (\d+) credits/m.exec(cold.stdout)![1])
        const coldGiven = expectedLine(cold.stdout, "given order")
        expectedLine(cold.stdout, "--order auto")
        assert.deepStrictEqual(coldGiven.order, ["fiber", "crustdata", "thehog"])
        assert.isTrue(coldGiven.expected < worst)
        assert.match(cold.stdout, /no answers in the ledger yet/)
        assert.isFalse(yield* (yield* FileSystem.FileSystem).exists(NodePath.join(dir, "ledger.db")))

        // a first run (the given order) teaches the statistics
        const first = yield* enrich(["run", examplePeople, "--simulators", "--db", "ledger.db", "--out", "a.csv"], {
          cwd: dir
        })
        assert.strictEqual(first.exitCode, 0, first.stderr)
        const spent = Number(/^credits: (\d+)/m.exec(first.stdout)![1])

        const warm = yield* enrich(["estimate", examplePeople, "--db", "ledger.db", "--order", "auto"], { cwd: dir })
        assert.strictEqual(warm.exitCode, 0, warm.stderr)
        const given = expectedLine(warm.stdout, "given order")
        const auto = expectedLine(warm.stdout, "--order auto")
        assert.match(warm.stdout, /statistics: \d+ answers in the ledger/)
        // learnt from this very list, the given order's estimate holds what it spent, and more tightly than before
        assert.isTrue(given.low <= spent && spent <= given.high, `${spent} outside ${given.low}–${given.high}`)
        assert.isTrue(given.high - given.low < coldGiven.high - coldGiven.low)
        assert.isTrue(auto.expected <= given.expected)
        // the numbers behind the order: per field, each provider's cost per value found
        assert.match(warm.stdout, new RegExp(`^order auto: ${auto.order.join(" → ")}`, "m"))
        assert.match(warm.stdout, /^\s+work_email\s+\w+ [\d.]+\/value \(hit \d+%, found \d+%, ask [\d.]+, \d+ seen\)/m)

        const second = yield* enrich([
          "run",
          examplePeople,
          "--simulators",
          "--db",
          "ledger.db",
          "--out",
          "b.csv",
          "--order",
          "auto"
        ], { cwd: dir })
        assert.strictEqual(second.exitCode, 0, second.stderr)
        assert.match(
          second.stdout,
          new RegExp(`^order auto: ${auto.order.join(" → ")} \\(given: fiber → crustdata → thehog\\)`, "m")
        )
        // the ledger keeps the choice with the run, and the order the run followed
        const run = yield* Effect.flatMap(Ledger.Ledger, (ledger) => ledger.latestRun()).pipe(
          Effect.provide(Ledger.layer.pipe(Layer.provide(Sql.layerSqlite(NodePath.join(dir, "ledger.db")))))
        )
        const options = Option.getOrThrow(run).options as {
          readonly providers: ReadonlyArray<string>
          readonly order: {
            readonly mode: string
            readonly choice: {
              readonly providers: ReadonlyArray<string>
              readonly given: ReadonlyArray<string>
              readonly observed: number
            }
          }
        }
        assert.strictEqual(options.order.mode, "auto")
        assert.deepStrictEqual(options.providers, auto.order)
        assert.deepStrictEqual(options.order.choice.providers, auto.order)
        assert.deepStrictEqual(options.order.choice.given, ["fiber", "crustdata", "thehog"])
        assert.isTrue(options.order.choice.observed > 0)
        // status shows the choice kept with the run
        const status = yield* enrich(["status", "--db", "ledger.db", "--run", Option.getOrThrow(run).id], { cwd: dir })
        assert.strictEqual(status.exitCode, 0, status.stderr)
        assert.match(status.stdout, new RegExp(`^order auto: ${auto.order.join(" → ")}`, "m"))
        // the summary lists the providers in the order asked
        const listed = [...second.stdout.matchAll(/^ {2}(fiber|crustdata|thehog)\s+asked/gm)].map((m) => m[1])
        assert.deepStrictEqual(listed, auto.order)
      }).pipe(Effect.provide(NodeContext.layer)),
    120_000
  )
})
