import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { Email, Provenance } from "../src/Contact.js"
import * as Identifier from "../src/Identifier.js"
import * as Journal from "../src/Journal.js"
import { Found } from "../src/PersonResult.js"

const ada = Either.getOrThrow(Identifier.parseLinkedIn("https://www.linkedin.com/in/ada")).key

const foundAt = (address: string, observedAt: number) =>
  new Found({
    key: ada,
    emails: [new Email({ address, kind: "work", verdict: "valid" })],
    phones: [],
    provenance: new Provenance({
      provider: "fiber",
      endpoint: "batch",
      mode: "batch",
      observedAt: DateTime.unsafeMake(observedAt),
      cost: 2
    })
  })

describe("Journal.makeMemory", () => {
  it.effect("outcomesFor answers the newest observation, as the SQL journal does, not the last committed", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.makeMemory
      for (const key of ["newer", "older"]) {
        yield* journal.recordChunk({
          runId: "r",
          provider: "fiber",
          idempotencyKey: key,
          keys: [ada],
          fields: ["work_email"],
          path: "batch",
          reserved: 2
        })
      }
      // a resumed page can commit an older observation after a newer one
      yield* journal.commitPage("newer", [foundAt("new@acme.io", 2_000)], undefined)
      yield* journal.commitPage("older", [foundAt("old@acme.io", 1_000)], undefined)
      const found = yield* journal.outcomesFor("fiber", [ada], ["work_email"], "1000 days")
      const outcome = found.get(ada)
      assert.strictEqual(outcome?._tag === "Found" ? outcome.emails[0]!.address : undefined, "new@acme.io")
    }))
})

describe("Journal.makeMemory recordChunkUnlessHeld", () => {
  it.effect("returns a person another run answered after the caller's cache lookup, and records nothing", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.makeMemory
      const chunk = (runId: string, idempotencyKey: string) => ({
        runId,
        provider: "fiber",
        idempotencyKey,
        keys: [ada],
        fields: ["work_email"] as const,
        path: "batch" as const,
        reserved: 2
      })
      yield* journal.recordChunk(chunk("r1", "first"))
      yield* journal.commitPage("first", [foundAt("ada@acme.io", 0)], undefined)
      yield* journal.finishChunk("first", { state: "finished", charged: 2, estimated: false })
      const held = yield* journal.recordChunkUnlessHeld(chunk("r2", "second"), 0, "1 day")
      assert.deepStrictEqual(held instanceof Journal.ChunkRecord ? "recorded" : [...held], [ada])
      assert.deepStrictEqual(yield* journal.chunks("r2"), [])
    }))
})
