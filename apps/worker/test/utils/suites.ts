/**
 * The Journal contract and the Ledger's run methods as test suites, run once per dialect (SQLite always,
 * Postgres when DATABASE_URL is set).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, it } from "@effect/vitest"
import { Contact, ContactProvider, Identifier, Journal, PersonResult } from "@enrich/core"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type { InputRow } from "../../src/Input.js"
import { Ledger, rowsOfRun } from "../../src/Ledger.js"
import * as Shards from "../../src/Shards.js"
import { type Db, services } from "./db.js"

const day = 24 * 60 * 60 * 1000
const key = (slug: string) => Identifier.PersonKey.make(`linkedin:in/${slug}`)
const [ada, alan, grace] = [key("ada"), key("alan"), key("grace")]

const provenance = (provider: string, observedAt: number) =>
  new Contact.Provenance({
    provider,
    endpoint: "batch",
    mode: "batch",
    observedAt: DateTime.unsafeMake(observedAt),
    cost: 1
  })

const found = (person: Identifier.PersonKey, address: string, observedAt: number, provider = "fiber") =>
  new PersonResult.Found({
    key: person,
    emails: [new Contact.Email({ address, kind: "work", verdict: "valid" })],
    phones: [Contact.makePhone("+1 415 555 0100", "mobile")],
    provenance: provenance(provider, observedAt)
  })

const notFound = (person: Identifier.PersonKey, observedAt: number, provider = "fiber") =>
  new PersonResult.NotFound({ key: person, provenance: provenance(provider, observedAt) })

const newChunk = (
  idempotencyKey: string,
  options: {
    readonly runId?: string
    readonly provider?: string
    readonly keys?: ReadonlyArray<Identifier.PersonKey>
    readonly fields?: readonly [Contact.Field, ...Array<Contact.Field>]
    readonly reserved?: number
    readonly path?: ContactProvider.ChunkPath
  } = {}
): Journal.NewChunk => ({
  runId: options.runId ?? "run-1",
  provider: options.provider ?? "fiber",
  idempotencyKey,
  keys: options.keys ?? [ada, alan],
  fields: options.fields ?? ["work_email"],
  path: options.path ?? "batch",
  reserved: options.reserved ?? 2
})

const jobRef = new ContactProvider.JobRef({
  provider: "fiber",
  id: "job-42",
  mode: "batch",
  submittedAt: DateTime.unsafeMake(1_700_000_000_000),
  people: 2,
  fields: ["work_email"],
  charged: 0,
  meta: { pollUrl: "https://api.example/jobs/42" }
})

const encodeJob = Schema.encodeSync(ContactProvider.JobRef)

/** Makes any insert of `victim` into the outcomes table fail, to break a transaction half-way. */
const failInsertsOf = (victim: Identifier.PersonKey) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.onDialectOrElse({
      pg: () =>
        Effect.zipRight(
          sql.unsafe(`CREATE FUNCTION enrich_test_boom() RETURNS trigger AS $$ BEGIN
            IF NEW.person_key = '${victim}' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`),
          sql.unsafe(`CREATE TRIGGER enrich_test_boom BEFORE INSERT ON enrich_outcomes
            FOR EACH ROW EXECUTE FUNCTION enrich_test_boom()`)
        ),
      orElse: () =>
        sql.unsafe(`CREATE TRIGGER enrich_test_boom BEFORE INSERT ON enrich_outcomes
          WHEN NEW.person_key = '${victim}' BEGIN SELECT RAISE(ABORT, 'boom'); END`)
    })
  })

const countOutcomes = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM enrich_outcomes`
  return Number(rows[0]!.n)
})

export const journalSuite = (db: Db) => {
  const test = (name: string, body: () => Effect.Effect<void, unknown, Journal.Journal | SqlClient.SqlClient>) =>
    it.effect(name, () => Effect.provide(body(), services(db)))

  test("recordChunk twice returns the chunk as first recorded (resume)", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const first = yield* journal.recordChunk(newChunk("k1", { reserved: 2 }))
      assert.strictEqual(first.state, "recorded")
      assert.deepStrictEqual(first.keys, [ada, alan])
      assert.isUndefined(first.job)
      yield* journal.markSubmitted("k1", jobRef)
      // a second process records the same chunk with other numbers: it gets the stored one back
      const again = yield* journal.recordChunk(newChunk("k1", { reserved: 99, runId: "run-2" }))
      assert.strictEqual(again.state, "submitted")
      assert.strictEqual(again.reserved, 2)
      assert.strictEqual(again.runId, "run-1")
      assert.deepStrictEqual(encodeJob(again.job!), encodeJob(jobRef))
      assert.strictEqual((yield* journal.chunks("run-1")).length, 1)
    }))

  test("forgetUnsent removes a chunk still recorded, with its reservation, and keeps one that was submitted", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* journal.recordChunk(newChunk("unsent", { reserved: 5 }))
      yield* journal.recordChunk(newChunk("sent", { reserved: 3 }))
      yield* journal.markSubmitted("sent", jobRef)
      yield* journal.forgetUnsent("unsent")
      yield* journal.forgetUnsent("sent")
      yield* journal.forgetUnsent("never-recorded")
      assert.deepStrictEqual((yield* journal.chunks("run-1")).map((c) => [c.idempotencyKey, c.state]), [
        ["sent", "submitted"]
      ])
      const credits = yield* journal.creditsOfRun("run-1")
      assert.strictEqual(credits.reduce((n, c) => n + c.reserved, 0), 3)
      // recorded again later (a resume forming the same chunk): a new chunk, as if the first had never been
      const again = yield* journal.recordChunk(newChunk("unsent", { reserved: 7 }))
      assert.strictEqual(again.reserved, 7)
    }))

  test("keeps a chunk's life: path, job, cursor, charge and message; chunks come in recording order", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      for (const k of ["c", "a", "b"]) yield* journal.recordChunk(newChunk(k, k === "b" ? { path: "sync" } : {}))
      yield* journal.recordChunk(newChunk("other-run", { runId: "run-2" }))
      yield* journal.markSubmitted("a", jobRef)
      yield* journal.commitPage("a", [found(ada, "ada@acme.io", 1000)], "page-1")
      yield* journal.commitPage("a", [notFound(alan, 1000)], undefined)
      yield* journal.finishChunk("a", { state: "failed", charged: 1.5, estimated: false, message: "job failed" })
      yield* journal.finishChunk("a", { state: "finished", charged: 2, estimated: true })

      const chunks = yield* journal.chunks("run-1")
      assert.deepStrictEqual(chunks.map((c) => c.idempotencyKey), ["c", "a", "b"])
      const a = chunks[1]!
      assert.strictEqual(a.state, "finished")
      assert.strictEqual(a.cursor, "page-1", "a page without a cursor keeps the previous one")
      assert.strictEqual(a.charged, 2)
      assert.isTrue(a.estimated, "an estimated charge stays marked as one")
      assert.isFalse(chunks[0]!.estimated)
      assert.deepStrictEqual(chunks.map((c) => c.path), ["batch", "batch", "sync"])
      assert.strictEqual(a.message, "job failed", "finishing without a message keeps the earlier one")
      assert.deepStrictEqual(encodeJob(a.job!), encodeJob(jobRef))
      assert.deepStrictEqual(a.fields, ["work_email"])
      assert.isUndefined(chunks[0]!.cursor)
      assert.deepStrictEqual((yield* journal.chunks("run-2")).map((c) => c.idempotencyKey), ["other-run"])
      assert.deepStrictEqual(yield* journal.chunks("nope"), [])
    }))

  test("recordChunkUnlessHeld returns the people other runs hold or have answered since, and records nothing", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const unlessHeld = (key: string, keys: ReadonlyArray<Identifier.PersonKey>) =>
        journal.recordChunkUnlessHeld(newChunk(key, { runId: "run-2", keys }), 0, "1000 days")
      // run 1 asks about Ada (open) and has answered Alan (settled: no longer held, but bought)
      yield* journal.recordChunk(newChunk("ada-1", { keys: [ada] }))
      yield* journal.recordChunk(newChunk("alan-1", { keys: [alan] }))
      yield* journal.commitPage("alan-1", [notFound(alan, 1000)], undefined)
      yield* journal.finishChunk("alan-1", { state: "finished", charged: 1, estimated: false })

      const held = yield* unlessHeld("all-2", [ada, alan, grace])
      assert.deepStrictEqual(held instanceof Journal.ChunkRecord ? held : [...held].sort(), [ada, alan].sort())
      assert.deepStrictEqual((yield* journal.chunks("run-2")).length, 0, "nothing recorded while any is held")

      // an answer older than the age asked for does not count
      yield* TestClock.setTime(10_000)
      const old = yield* journal.recordChunkUnlessHeld(
        newChunk("alan-2", { runId: "run-2", keys: [alan] }),
        0,
        Duration.millis(1)
      )
      assert.instanceOf(old, Journal.ChunkRecord)
      // nobody else's: recorded
      assert.instanceOf(yield* unlessHeld("grace-2", [grace]), Journal.ChunkRecord)
    }))

  test("fails with JournalError on an unknown chunk", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const errors = yield* Effect.all([
        Effect.flip(journal.markSubmitted("missing", jobRef)),
        Effect.flip(journal.commitPage("missing", [found(ada, "a@acme.io", 1)], "c")),
        Effect.flip(journal.finishChunk("missing", { state: "finished", charged: 0, estimated: false }))
      ])
      for (const error of errors) {
        assert.strictEqual(error._tag, "JournalError")
        assert.include(error.message, "unknown chunk missing")
      }
      assert.strictEqual(yield* countOutcomes, 0)
    }))

  test("commitPage is atomic: a failing insert leaves neither outcomes nor cursor", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const boom = key("boom")
      yield* journal.recordChunk(newChunk("k1"))
      yield* journal.commitPage("k1", [found(ada, "ada@acme.io", 1000)], "page-1")
      yield* failInsertsOf(boom)
      // more outcomes than one INSERT batch, the failing one last: earlier batches were already written
      const page = [
        ...Array.from({ length: 450 }, (_, i) => found(key(`p${i}`), `p${i}@acme.io`, 2000)),
        found(boom, "boom@acme.io", 2000)
      ]
      const error = yield* Effect.flip(journal.commitPage("k1", page, "page-2"))
      assert.strictEqual(error._tag, "JournalError")
      assert.include(error.message, "commitPage")
      const [chunk] = yield* journal.chunks("run-1")
      assert.strictEqual(chunk!.cursor, "page-1")
      assert.strictEqual(yield* countOutcomes, 1)
      const cached = yield* journal.outcomesFor("fiber", [key("p0"), ada], ["work_email"], Duration.infinity)
      assert.deepStrictEqual([...cached.keys()], [ada])
    }))

  test("commitPage stores every kind of outcome, including a Rejected without a key", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* journal.recordChunk(newChunk("k1"))
      yield* journal.commitPage("k1", [
        found(ada, "ada@acme.io", 1000),
        notFound(alan, 1000),
        new PersonResult.Failed({ key: grace, provider: "fiber", reason: "timeout" }),
        new PersonResult.Rejected({ input: "???", reason: "not a profile", provider: "fiber" })
      ], "end")
      assert.strictEqual(yield* countOutcomes, 4)
    }))

  test("outcomesFor reuses only outcomes bought for a covering field selection", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* TestClock.setTime(10 * day)
      yield* journal.recordChunk(newChunk("work", { keys: [ada], fields: ["work_email"] }))
      yield* journal.commitPage("work", [found(ada, "ada@acme.io", 9 * day)], undefined)
      yield* journal.recordChunk(newChunk("all", { keys: [alan], fields: ["work_email", "phone"] }))
      yield* journal.commitPage("all", [notFound(alan, 9 * day)], undefined)

      const both = yield* journal.outcomesFor("fiber", [ada, alan], ["work_email", "phone"], Duration.days(30))
      assert.deepStrictEqual([...both.keys()], [alan], "work_email only does not answer work_email + phone")
      assert.strictEqual(both.get(alan)!._tag, "NotFound")

      const work = yield* journal.outcomesFor("fiber", [ada, alan, grace], ["work_email"], Duration.days(30))
      assert.deepStrictEqual(new Set(work.keys()), new Set([ada, alan]))
      const adaOutcome = work.get(ada)!
      assert.strictEqual(adaOutcome._tag, "Found")
      if (adaOutcome._tag === "Found") {
        assert.strictEqual(adaOutcome.emails[0]!.address, "ada@acme.io")
        assert.strictEqual(adaOutcome.phones[0]!.number, "+14155550100")
        assert.strictEqual(DateTime.toEpochMillis(adaOutcome.provenance.observedAt), 9 * day)
      }

      const phone = yield* journal.outcomesFor("fiber", [ada, alan], ["phone"], Duration.days(30))
      assert.deepStrictEqual([...phone.keys()], [alan])
      assert.strictEqual((yield* journal.outcomesFor("crustdata", [ada, alan], ["work_email"], "30 days")).size, 0)
      assert.strictEqual((yield* journal.outcomesFor("fiber", [], ["work_email"], "30 days")).size, 0)
    }))

  test("outcomesFor honours maxAge against the clock", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* journal.recordChunk(newChunk("k1"))
      yield* journal.commitPage("k1", [found(ada, "ada@acme.io", 1 * day), notFound(alan, 5 * day)], undefined)
      yield* TestClock.setTime(11 * day)
      const week = yield* journal.outcomesFor("fiber", [ada, alan], ["work_email"], Duration.days(7))
      assert.deepStrictEqual([...week.keys()], [alan])
      const edge = yield* journal.outcomesFor("fiber", [ada, alan], ["work_email"], Duration.days(10))
      assert.strictEqual(edge.size, 2, "an outcome exactly maxAge old still counts")
      const forever = yield* journal.outcomesFor("fiber", [ada, alan], ["work_email"], Duration.infinity)
      assert.strictEqual(forever.size, 2)
      const none = yield* journal.outcomesFor("fiber", [ada, alan], ["work_email"], Duration.zero)
      assert.strictEqual(none.size, 0)
    }))

  test("outcomesFor returns the newest observation per person and never Failed or Rejected", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* TestClock.setTime(30 * day)
      yield* journal.recordChunk(newChunk("k1", { keys: [ada, alan, grace] }))
      yield* journal.commitPage("k1", [found(ada, "new@acme.io", 20 * day)], "1")
      yield* journal.commitPage("k1", [found(ada, "old@acme.io", 10 * day)], "2")
      yield* journal.commitPage("k1", [found(alan, "first@acme.io", 15 * day)], "3")
      yield* journal.commitPage("k1", [notFound(alan, 15 * day)], "4")
      yield* journal.commitPage("k1", [
        new PersonResult.Failed({ key: grace, provider: "fiber", reason: "timeout" }),
        new PersonResult.Rejected({ key: grace, input: "x", reason: "bad", provider: "fiber" })
      ], "5")
      const cached = yield* journal.outcomesFor("fiber", [ada, alan, grace, ada], ["work_email"], Duration.days(365))
      const adaOutcome = cached.get(ada)!
      assert.isTrue(adaOutcome._tag === "Found" && adaOutcome.emails[0]!.address === "new@acme.io")
      assert.strictEqual(cached.get(alan)!._tag, "NotFound", "same observation time: the later commit wins")
      assert.isFalse(cached.has(grace))
    }))

  test("outcomesFor looks up more keys than one IN list holds", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* TestClock.setTime(2 * day)
      const keys = Array.from({ length: 1200 }, (_, i) => key(`bulk${i}`))
      yield* journal.recordChunk(newChunk("bulk", { keys }))
      yield* journal.commitPage("bulk", keys.map((k) => notFound(k, day)), "end")
      const cached = yield* journal.outcomesFor("fiber", keys, ["work_email"], Duration.days(7))
      assert.strictEqual(cached.size, 1200)
    }))

  test("a run's open chunks and its credits: booked, estimated, still reserved", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* journal.recordChunk(newChunk("a", { reserved: 4 }))
      yield* journal.recordChunk(newChunk("b", { reserved: 6 }))
      yield* journal.recordChunk(newChunk("c", { reserved: 3, provider: "thehog" }))
      yield* journal.recordChunk(newChunk("d", { reserved: 5, provider: "thehog" }))
      yield* journal.recordChunk(newChunk("elsewhere", { runId: "run-2", reserved: 9 }))
      yield* journal.markSubmitted("b", jobRef)
      yield* journal.finishChunk("c", { state: "finished", charged: 2, estimated: false })
      yield* journal.finishChunk("d", { state: "failed", charged: 1.5, estimated: true })
      assert.deepStrictEqual((yield* journal.openChunks("run-1")).map((c) => [c.idempotencyKey, c.state]), [
        ["a", "recorded"],
        ["b", "submitted"]
      ])
      const credits = [...(yield* journal.creditsOfRun("run-1"))].sort((x, y) => x.provider.localeCompare(y.provider))
      assert.deepStrictEqual(credits.map((c) => ({ ...c })), [
        { provider: "fiber", charged: 0, estimated: 0, reserved: 10 },
        { provider: "thehog", charged: 3.5, estimated: 1.5, reserved: 0 }
      ])
      assert.deepStrictEqual(yield* journal.creditsOfRun("run-9"), [])
    }))

  test("outcomesOfRun: a run's committed and reused outcomes per person, in commit order", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* journal.recordChunk(newChunk("fiber-1", { runId: "r1", fields: ["work_email", "phone"] }))
      yield* journal.recordChunk(newChunk("elsewhere", { runId: "r0" }))
      yield* journal.commitPage("fiber-1", [found(ada, "ada@acme.io", 5)], "1")
      yield* journal.commitPage("elsewhere", [found(alan, "other@acme.io", 5)], "1")
      yield* journal.reuse("r1", "thehog", ["phone"], [notFound(ada, 6, "thehog")])
      yield* journal.commitPage("fiber-1", [notFound(alan, 7)], "2")
      const outcomes = yield* journal.outcomesOfRun("r1", [ada, alan, grace])
      assert.deepStrictEqual(
        outcomes.get(ada)?.map((o) => [o.provider, o.outcome._tag, o.chunk]),
        [["fiber", "Found", "fiber-1"], ["thehog", "NotFound", undefined]]
      )
      assert.deepStrictEqual(outcomes.get(alan)?.map((o) => [o.provider, o.outcome._tag]), [["fiber", "NotFound"]])
      assert.isFalse(outcomes.has(grace))
      // a reused outcome is this run's, not another cache entry's owner
      assert.strictEqual((yield* journal.outcomesOfRun("r0", [ada])).size, 0)
    }))

  test("set-aside people: one entry per provider and person, replaced by a later one, cleared by a resume", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const aside = (person: Identifier.PersonKey, provider: string, kind: "budget" | "failed", reason: string) =>
        new Journal.SetAside({ key: person, provider, kind, reason })
      yield* journal.setAside("r1", [aside(ada, "fiber", "budget", "budget"), aside(alan, "fiber", "failed", "x")])
      yield* journal.setAside("r1", [aside(ada, "fiber", "failed", "stalled"), aside(ada, "thehog", "budget", "b")])
      yield* journal.setAside("r2", [aside(grace, "fiber", "failed", "y")])
      const found = yield* journal.setAsideOf("r1", [ada, alan, grace])
      assert.deepStrictEqual(
        [...(found.get(ada) ?? [])].map((s) => [s.provider, s.kind, s.reason]).sort(),
        [["fiber", "failed", "stalled"], ["thehog", "budget", "b"]]
      )
      assert.strictEqual(found.get(alan)?.length, 1)
      assert.isFalse(found.has(grace))
      yield* journal.clearSetAside("r1")
      assert.strictEqual((yield* journal.setAsideOf("r1", [ada, alan])).size, 0)
      assert.strictEqual((yield* journal.setAsideOf("r2", [grace])).size, 1, "other runs keep theirs")
    }))
}

const identifierOf = (url: string) => Either.getOrThrow(Identifier.parse("linkedin", url))

/** An input row without a usable identifier. */
export const rejectedRow = (line: number, reason: string): InputRow => ({
  line,
  columns: { note: reason },
  identifier: Either.left(new Identifier.InvalidIdentifier({ kind: "linkedin", input: "", reason }))
})

export const ledgerSuite = (db: Db) => {
  const test = (
    name: string,
    body: () => Effect.Effect<void, unknown, Ledger | Journal.Journal | SqlClient.SqlClient>
  ) => it.effect(name, () => Effect.provide(body(), services(db)))

  test("a run is held by one holder at a time, until it releases or its lease lapses", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      yield* TestClock.setTime(1_000)
      yield* ledger.createRun({ id: "r1", inputPath: "people.csv", options: {} })
      assert.isTrue(Option.isNone(yield* ledger.holdRun("r1", "a", 30_000)), "a free run is granted")
      const refused = yield* ledger.holdRun("r1", "b", 30_000)
      assert.deepStrictEqual(refused, Option.some({ holder: "a", until: 31_000 }))
      yield* TestClock.setTime(20_000)
      assert.isTrue(Option.isNone(yield* ledger.holdRun("r1", "a", 30_000)), "the holder renews")
      yield* TestClock.setTime(45_000)
      assert.isTrue(Option.isSome(yield* ledger.holdRun("r1", "b", 30_000)), "renewed: still a's at 45 s")
      yield* TestClock.setTime(50_001)
      assert.isTrue(Option.isNone(yield* ledger.holdRun("r1", "b", 30_000)), "a's lease lapsed at 50 s")
      assert.isTrue(Option.isSome(yield* ledger.holdRun("r1", "a", 30_000)), "a lost it")
      assert.isTrue(Option.isNone(yield* ledger.holdRun("r1", "c", 30_000, "b")), "taken over from a dead b")
      yield* ledger.releaseRun("r1", "b")
      assert.isTrue(Option.isSome(yield* ledger.holdRun("r1", "b", 30_000)), "b cannot release c's hold")
      yield* ledger.releaseRun("r1", "c")
      assert.isTrue(Option.isNone(yield* ledger.holdRun("r1", "b", 30_000)), "released: free again")
      const missing = yield* Effect.flip(ledger.holdRun("nope", "a", 30_000))
      assert.include(missing.message, "no run with id nope")
    }))

  test("shards are cut from the first row: 20 CSV rows (lines 2-21) in shards of 5 are 4 shards of 5", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const rows = Stream.fromIterable(Array.from({ length: 20 }, (_, i) => rejectedRow(i + 2, "r")))
      yield* ledger.createRun({ id: "r1", inputPath: "people.csv", options: {}, rows })
      const shards = yield* Shards.record("r1", 5)
      // from line 1, they were 5 shards: lines 1-5 (four rows), ..., and a fifth of line 21 alone
      assert.deepStrictEqual(shards.map((s) => [s.after, s.upTo]), [[1, 6], [6, 11], [11, 16], [16, 21]])
      assert.strictEqual((yield* Shards.record("r1", 5)).length, 4, "recorded again: the same shards")
      const labelOf = yield* Shards.rowLabels("r1", 5)
      assert.deepStrictEqual(
        [2, 6, 7, 21].map((rowNumber) => labelOf({ rowNumber })),
        ["r1~0", "r1~0", "r1~1", "r1~3"]
      )
      assert.strictEqual(labelOf({ rowNumber: 20, duplicateOf: 3 }), "r1~0", "a duplicate: its first row's shard")
    }))

  test("creates, reads and updates runs", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      yield* TestClock.setTime(1_000)
      const options = { providers: ["fiber", "thehog"], budget: 12.5, nested: { out: "x.csv" } }
      const run = yield* ledger.createRun({ id: "r1", inputPath: "people.csv", options })
      assert.strictEqual(run.state, "running")
      assert.deepStrictEqual(run.options, options)
      assert.strictEqual(DateTime.toEpochMillis(run.createdAt), 1_000)
      assert.isUndefined(run.summary)

      const duplicate = yield* Effect.flip(ledger.createRun({ id: "r1", inputPath: "other.csv", options: {} }))
      assert.strictEqual(duplicate._tag, "LedgerError")
      assert.include(duplicate.message, "r1")

      yield* TestClock.setTime(5_000)
      yield* ledger.setRunState("r1", "interrupted", { rows: 3 })
      yield* ledger.setRunState("r1", "finished")
      const stored = Option.getOrThrow(yield* ledger.getRun("r1"))
      assert.strictEqual(stored.state, "finished")
      assert.deepStrictEqual(stored.summary, { rows: 3 }, "a state change without summary keeps it")
      assert.strictEqual(DateTime.toEpochMillis(stored.updatedAt), 5_000)
      assert.strictEqual(stored.inputPath, "people.csv")

      assert.isTrue(Option.isNone(yield* ledger.getRun("nope")))
      const missing = yield* Effect.flip(ledger.setRunState("nope", "failed"))
      assert.include(missing.message, "nope")
    }))

  test("finishes a running run once: the second of two finishers writes nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      yield* ledger.createRun({ id: "r1", inputPath: "people.csv", options: {} })
      assert.isTrue(yield* ledger.finishRunning("r1", { by: "first" }))
      assert.isFalse(yield* ledger.finishRunning("r1", { by: "second" }))
      const stored = Option.getOrThrow(yield* ledger.getRun("r1"))
      assert.strictEqual(stored.state, "finished")
      assert.deepStrictEqual(stored.summary, { by: "first" })
      assert.isFalse(yield* ledger.finishRunning("nope", {}), "no such run: nothing finished")
    }))

  test("lists runs newest first, ties in creation order", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      assert.isTrue(Option.isNone(yield* ledger.latestRun()))
      yield* ledger.createRun({ id: "b", inputPath: "1.csv", options: null })
      yield* ledger.createRun({ id: "a", inputPath: "2.csv", options: null })
      yield* TestClock.setTime(10)
      yield* ledger.createRun({ id: "c", inputPath: "3.csv", options: [1, 2] })
      yield* ledger.createRun({ id: "0", inputPath: "4.csv", options: "plain" })
      assert.deepStrictEqual((yield* ledger.listRuns(10)).map((r) => r.id), ["0", "c", "a", "b"])
      assert.deepStrictEqual((yield* ledger.listRuns(2)).map((r) => r.id), ["0", "c"])
      assert.strictEqual(Option.getOrThrow(yield* ledger.latestRun()).id, "0")
    }))

  test("creates a run with its input rows, judged and deduplicated, and reads them back by page", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const ada = identifierOf("linkedin.com/in/Ada/")
      const grace = identifierOf("linkedin.com/in/grace")
      const rows: Array<InputRow> = [
        {
          line: 2,
          columns: { name: "Ada", linkedin: "linkedin.com/in/Ada/", "2024": "x" },
          identifier: Either.right(ada)
        },
        rejectedRow(3, "no identifier"),
        { line: 4, columns: { name: "Ada again" }, identifier: Either.right(ada) },
        // more rows than one INSERT batch, and a duplicate of Ada in a later batch
        ...Array.from({ length: 300 }, (_, i) => rejectedRow(10 + i, "r")),
        { line: 400, columns: { name: "Grace" }, identifier: Either.right(grace) },
        { line: 401, columns: { name: "Ada, third" }, identifier: Either.right(ada) }
      ]
      yield* ledger.createRun({ id: "r1", inputPath: "people.csv", options: {}, rows: Stream.fromIterable(rows) })
      const stored = yield* Stream.runCollect(rowsOfRun(ledger, "r1")).pipe(Effect.map(Chunk.toReadonlyArray))
      assert.strictEqual(stored.length, 305)
      const [first, second, third] = stored
      assert.strictEqual(first!.rowNumber, 2)
      assert.strictEqual(first!.outcome, "ok")
      assert.strictEqual(first!.key, ada.key)
      assert.deepStrictEqual(first!.columns, rows[0]!.columns)
      assert.strictEqual(first!.identifier?.key, ada.key, "decoded back into the Identifier class")
      assert.strictEqual(second!.outcome, "rejected")
      assert.strictEqual(second!.reason, "no identifier")
      assert.isUndefined(second!.key)
      assert.strictEqual(third!.outcome, "duplicate")
      assert.strictEqual(third!.duplicateOf, 2)
      assert.deepStrictEqual(stored.slice(-2).map((r) => [r.outcome, r.duplicateOf]), [["ok", undefined], [
        "duplicate",
        2
      ]])
      const page = yield* ledger.rowsPage("r1", 4, 2)
      assert.deepStrictEqual(page.map((r) => r.rowNumber), [10, 11])
      const counts = yield* ledger.rowCounts("r1")
      assert.deepStrictEqual(
        [counts.rows, counts.people, counts.rejected, counts.duplicates],
        [305, 2, 301, 2]
      )
      assert.deepStrictEqual(counts.rejectedLines.map((r) => r.line), [3, 10, 11, 12, 13])
      const people = yield* ledger.peopleOfRun("r1")
      assert.strictEqual(people.count, 2)
      const streamed = yield* Stream.runCollect(people.stream)
      assert.deepStrictEqual(Chunk.toReadonlyArray(streamed).map((p) => p.key), [ada.key, grace.key])
      assert.deepStrictEqual((yield* people.byKeys([grace.key, key("nobody")])).map((p) => p.key), [grace.key])
      assert.deepStrictEqual(yield* ledger.rowsPage("other", 0, 10), [])
    }))

  test("a run exists only with all its rows: a failure while reading or writing them leaves no run", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      // the last row repeats row 1, in the second INSERT batch
      const rows = Array.from({ length: 250 }, (_, i) => rejectedRow(i === 249 ? 1 : i + 1, "r"))
      const error = yield* Effect.flip(
        ledger.createRun({ id: "r1", inputPath: "people.csv", options: {}, rows: Stream.fromIterable(rows) })
      )
      assert.strictEqual(error._tag, "LedgerError")
      assert.include(error.message, "createRun")
      assert.isTrue(Option.isNone(yield* ledger.getRun("r1")), "no run without its rows")
      assert.strictEqual((yield* ledger.rowCounts("r1")).rows, 0)
      // the input fails after two batches were written: the input's own error, and no run
      const failing = Stream.concat(
        Stream.fromIterable(Array.from({ length: 450 }, (_, i) => rejectedRow(i + 1, "r"))),
        Stream.fail("unreadable input" as const)
      )
      const inputError = yield* Effect.flip(
        ledger.createRun({ id: "r2", inputPath: "people.csv", options: {}, rows: failing })
      )
      assert.strictEqual(inputError, "unreadable input")
      assert.isTrue(Option.isNone(yield* ledger.getRun("r2")))
      assert.strictEqual((yield* ledger.rowCounts("r2")).rows, 0)
    }))
}
