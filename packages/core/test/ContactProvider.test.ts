import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Email, makePhone, Provenance } from "../src/Contact.js"
import * as Contact from "../src/Contact.js"
import { chunkKey, ContactProvider, EnrichRequest, JobRef, Person } from "../src/ContactProvider.js"
import * as EnrichmentError from "../src/EnrichmentError.js"
import * as Identifier from "../src/Identifier.js"
import * as PersonResult from "../src/PersonResult.js"
import { layerInMemory, makeInMemory } from "../src/testing.js"

const person = (slug: string) => {
  const identifier = Either.getOrThrow(Identifier.parseLinkedIn(`https://www.linkedin.com/in/${slug}`))
  return new Person({ key: identifier.key, identifier })
}
const ada = person("ada")
const alan = person("alan")
const directory = new Map([[ada.key, {
  emails: [new Email({ address: "ada@acme.io", kind: "work", verdict: "valid" })],
  phones: [makePhone("+1 415 555 0100", "mobile")]
}]])

const request = (people: ReadonlyArray<Person>) =>
  new EnrichRequest({
    people: people as [Person, ...Array<Person>],
    fields: ["work_email", "phone"],
    idempotencyKey: chunkKey("memory", people.map((p) => p.key), ["work_email", "phone"])
  })

describe("Contact", () => {
  it("normalises phones to E.164 and keeps unparseable ones marked", () => {
    assert.strictEqual(makePhone("(415) 555-0100").number, "+14155550100")
    assert.isTrue(makePhone("+44 20 7946 0958").e164)
    const junk = makePhone("call me maybe")
    assert.isFalse(junk.e164)
    assert.strictEqual(junk.number, "call me maybe")
  })

  it("routes emails of unknown kind by free-mail domain and drops generic ones", () => {
    const email = (address: string, kind: Contact.EmailKind) => new Email({ address, kind, verdict: "valid" })
    assert.strictEqual(Contact.fieldOfEmail(email("a@gmail.com", "unknown")), "personal_email")
    assert.strictEqual(Contact.fieldOfEmail(email("a@acme.io", "other")), "work_email")
    assert.strictEqual(Contact.fieldOfEmail(email("info@acme.io", "generic")), undefined)
    assert.strictEqual(Contact.fieldOfEmail(email("a@gmail.com", "work")), "work_email")
  })

  it("round-trips results and errors through their Schemas", () =>
    Effect.gen(function*() {
      const provenance = new Provenance({
        provider: "memory",
        endpoint: "batch",
        mode: "batch",
        observedAt: yield* DateTime.now,
        cost: 2
      })
      const results: ReadonlyArray<PersonResult.PersonResult> = [
        new PersonResult.Found({ key: ada.key, emails: directory.get(ada.key)!.emails, phones: [], provenance }),
        new PersonResult.NotFound({ key: alan.key, provenance }),
        new PersonResult.Failed({ key: alan.key, provider: "memory", reason: "boom" }),
        new PersonResult.Rejected({ input: "jake", reason: "bare slug" }),
        new PersonResult.Duplicate({ key: ada.key, of: 2 })
      ]
      const codec = Schema.parseJson(PersonResult.PersonResult)
      for (const result of results) {
        const back = yield* Schema.decode(codec)(yield* Schema.encode(codec)(result))
        assert.deepStrictEqual(back, result)
      }
      const error = new EnrichmentError.RateLimited({
        provider: "fiber",
        endpoint: "batch/start",
        retryAfterMillis: 1500
      })
      const errorCodec = Schema.parseJson(EnrichmentError.EnrichmentError)
      const decoded = yield* Schema.decode(errorCodec)(yield* Schema.encode(errorCodec)(error))
      assert.strictEqual(decoded._tag, "RateLimited")
      assert.isTrue(EnrichmentError.isTransient(decoded))
      assert.match(decoded.message, /retry after 1500 ms/)
    }))

  it("derives one idempotency key per chunk, whatever the order", () => {
    const a = chunkKey("thehog", ["k1", "k2"], ["phone", "work_email"])
    assert.strictEqual(a, chunkKey("thehog", ["k2", "k1"], ["work_email", "phone"]))
    assert.notStrictEqual(a, chunkKey("thehog", ["k1", "k3"], ["phone", "work_email"]))
    assert.notStrictEqual(a, chunkKey("fiber", ["k1", "k2"], ["phone", "work_email"]))
  })
})

describe("ContactProvider (in-memory)", () => {
  it.effect("submits, streams every person once and resumes from a cursor", () =>
    Effect.gen(function*() {
      const provider = yield* ContactProvider
      const people = [ada, alan, ...Array.from({ length: 13 }, (_, i) => person(`p${i}`))]
      const ref = yield* provider.submit(request(people))
      const pages = Chunk.toReadonlyArray(yield* Stream.runCollect(provider.results(ref)))
      const keys = pages.flatMap((p) => p.results.map((r) => r.key))
      assert.strictEqual(keys.length, people.length)
      assert.strictEqual(new Set(keys).size, people.length)
      const found = pages.flatMap((p) => p.results).find((r) => r.key === ada.key)
      assert.strictEqual(found?._tag, "Found")
      assert.isUndefined(pages[pages.length - 1]!.cursor)
      const rest = yield* Stream.runCollect(provider.results(ref, pages[0]!.cursor))
      assert.strictEqual(Chunk.toReadonlyArray(rest).flatMap((p) => p.results).length, people.length - 10)
      const stored = yield* Schema.decode(Schema.parseJson(JobRef))(yield* Schema.encode(Schema.parseJson(JobRef))(ref))
      assert.strictEqual(stored.id, ref.id)
    }).pipe(Effect.provide(layerInMemory({ name: "memory", directory, pollsToComplete: 2 }))))

  it.effect("counts submissions per person and fails jobs as asked", () =>
    Effect.gen(function*() {
      const { counters, service } = yield* makeInMemory({ name: "memory", directory, failingJobs: [2] })
      yield* service.submit(request([ada]))
      const ref = yield* service.submit(request([ada, alan]))
      const error = yield* Effect.flip(Stream.runDrain(service.results(ref)))
      assert.strictEqual(error._tag, "JobFailed")
      const seen = yield* counters
      assert.strictEqual(seen.perPerson.get(ada.key), 2)
      assert.strictEqual(seen.creditsCharged, 3)
    }))
})
