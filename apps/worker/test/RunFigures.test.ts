/**
 * `enrich status --run`'s figures per provider, read from the ledger: people asked and found per field, credits,
 * chunks, HTTP counts added up across a run's attempts, and time, on SQLite and (with DATABASE_URL) Postgres.
 */
import { assert, describe, it } from "@effect/vitest"
import { Contact, ContactProvider, Identifier, Journal, PersonResult } from "@enrich/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as RunFigures from "../src/RunFigures.js"
import { databaseUrl, type Db, postgres, services, sqlite } from "./utils/db.js"

const key = (slug: string) => Identifier.PersonKey.make(`linkedin:in/${slug}`)
const [ada, alan, grace, linus] = [key("ada"), key("alan"), key("grace"), key("linus")]

const provenance = (provider: string) =>
  new Contact.Provenance({
    provider,
    endpoint: "batch",
    mode: "batch",
    observedAt: DateTime.unsafeMake(1_000),
    cost: 1
  })

const found = (
  person: Identifier.PersonKey,
  provider: string,
  values: { work?: Contact.Verdict; personal?: boolean; phone?: boolean }
) =>
  new PersonResult.Found({
    key: person,
    emails: [
      ...(values.work === undefined
        ? []
        : [new Contact.Email({ address: "w@acme.io", kind: "work", verdict: values.work })]),
      ...(values.personal === true
        ? [new Contact.Email({ address: "p@gmail.com", kind: "personal", verdict: "valid" })]
        : [])
    ],
    phones: values.phone === true ? [Contact.makePhone("+1 415 555 0100", "mobile")] : [],
    provenance: provenance(provider)
  })

const chunk = (
  idempotencyKey: string,
  provider: string,
  keys: ReadonlyArray<Identifier.PersonKey>,
  fields: readonly [Contact.Field, ...Array<Contact.Field>]
) => ({
  runId: "r1",
  provider,
  idempotencyKey,
  keys,
  fields,
  path: "batch" as const,
  reserved: keys.length
})

const suite = (db: Db) =>
  it.effect("asked and found per field, cached, credits, chunks, requests across attempts, time", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* TestClock.setTime(10_000)
      yield* journal.recordChunk(chunk("f1", "fiber", [ada, alan, grace], ["work_email", "phone"]))
      yield* journal.recordChunk(chunk("h1", "thehog", [alan], ["phone"]))
      // another run's chunk, with linus
      yield* journal.recordChunk({ ...chunk("other", "fiber", [linus], ["work_email"]), runId: "r2" })
      yield* journal.markSubmitted(
        "f1",
        new ContactProvider.JobRef({
          provider: "fiber",
          id: "job-1",
          mode: "batch",
          submittedAt: DateTime.unsafeMake(10_000),
          people: 3,
          fields: ["work_email", "phone"],
          charged: 0
        })
      )
      yield* journal.commitPage("f1", [
        found(ada, "fiber", { work: "valid", phone: true }),
        // an invalid email is no work email found; a personal email was not asked for
        found(alan, "fiber", { work: "invalid", personal: true }),
        new PersonResult.NotFound({ key: grace, provenance: provenance("fiber") })
      ], undefined)
      yield* journal.commitPage("other", [found(linus, "fiber", { work: "valid" })], undefined)
      yield* TestClock.setTime(14_500)
      yield* journal.finishChunk("f1", { state: "finished", charged: 3, estimated: false })
      yield* journal.commitPage(
        "h1",
        [new PersonResult.Failed({ key: alan, provider: "thehog", reason: "x" })],
        undefined
      )
      yield* journal.finishChunk("h1", { state: "failed", charged: 0.5, estimated: true, message: "x" })
      // grace's phone at thehog answered from an earlier run's outcome
      yield* journal.reuse("r1", "thehog", ["phone"], [found(grace, "thehog", { phone: true })])
      // two attempts of the run (a run and its resume) each add what they counted
      yield* RunFigures.recordRequests("r1", new Map([["fiber", { requests: 5, rateLimited: 2, retries: 2 }]]))
      yield* RunFigures.recordRequests(
        "r1",
        new Map([
          ["fiber", { requests: 4, rateLimited: 1, retries: 1 }],
          ["thehog", { requests: 3, rateLimited: 0, retries: 0 }]
        ])
      )

      const figures = yield* RunFigures.ofRun(["r1"], ["fiber", "crustdata", "thehog"])
      assert.deepStrictEqual(figures.map((f) => f.provider), ["fiber", "crustdata", "thehog"])
      const [fiber, crustdata, thehog] = figures
      assert.strictEqual(fiber!.answers!.asked, 3, "the other run's outcome is not this run's")
      assert.deepStrictEqual(fiber!.answers!.askedByField, { work_email: 3, phone: 3 })
      assert.deepStrictEqual(fiber!.found, { work_email: 1, phone: 1 })
      assert.deepStrictEqual(fiber!.requests, { requests: 9, rateLimited: 3, retries: 3 })
      assert.deepStrictEqual(fiber!.chunks, { byState: { finished: 1 }, charged: 3, estimated: 0, seconds: 4.5 })
      assert.isUndefined(crustdata!.answers)
      assert.deepStrictEqual(thehog!.answers, {
        asked: 2,
        cached: 1,
        byTag: { Failed: 1, Found: 1 },
        askedByField: { phone: 2 }
      })
      assert.deepStrictEqual(thehog!.found, { phone: 1 })
      assert.deepStrictEqual(thehog!.chunks?.byState, { failed: 1 })
      assert.strictEqual(thehog!.chunks?.estimated, 0.5)

      const lines = RunFigures.render(figures)
      assert.match(
        lines[0]!,
        /fiber +asked 3 \(cached 0\): work_email 1\/3 \(33%\), phone 1\/3 \(33%\); 3 credits; 1 chunk; 9 requests, 3 × 429, 3 retries; 4\.5 s/
      )
      assert.match(lines[1]!, /crustdata +asked 0 .*requests not recorded/)
      assert.match(lines[2]!, /thehog +asked 2 \(cached 1\): phone 1\/2 \(50%\); 0\.5 credits \(~0\.5 estimated\)/)
      for (const line of lines) assert.notMatch(line, /@|\+1415|linkedin/, "figures name nobody")
    }).pipe(Effect.provide(services(db))))

describe("RunFigures on SQLite", () => suite(sqlite))

describe.skipIf(databaseUrl === undefined)(
  databaseUrl === undefined ? "RunFigures on Postgres (skipped: DATABASE_URL is not set)" : "RunFigures on Postgres",
  () => suite(postgres(databaseUrl ?? "postgres://unset"))
)
