import { assert, describe, it } from "@effect/vitest"
import { Identifier } from "@enrich/core"
import * as Either from "effect/Either"
import { sample } from "../src/Sample.js"
import { SlidingWindow } from "../src/SlidingWindow.js"
import { providerNames, Universe } from "../src/Universe.js"

describe("Universe", () => {
  it("is the same universe for the same seed, and another for another seed", () => {
    const a = new Universe({ seed: 7, size: 50 })
    const b = new Universe({ seed: 7, size: 50 })
    const c = new Universe({ seed: 8, size: 50 })
    assert.deepStrictEqual(a.people, b.people)
    assert.notDeepEqual(a.people.map((p) => p.slug), c.people.map((p) => p.slug))
    assert.deepStrictEqual(a.knowledge("fiber", a.people[3]!), b.knowledge("fiber", b.people[3]!))
  })

  it("gives each provider its own coverage, so that a waterfall finds more than one provider", () => {
    const universe = new Universe({ seed: 42, size: 2000 })
    const covered = (provider: "fiber" | "crustdata" | "thehog") =>
      universe.people.filter((p) => universe.knowledge(provider, p).workEmail !== undefined)
    const shares = providerNames.map((p) => covered(p).length / universe.people.length)
    assert.isTrue(shares.every((s) => s > 0.3 && s < 0.7), `shares ${shares}`)
    const union = new Set(providerNames.flatMap((p) => covered(p).map((x) => x.index)))
    assert.isAbove(union.size, Math.max(...providerNames.map((p) => covered(p).length)) * 1.3)
  })

  it("finds people by every identifier kind", () => {
    const universe = new Universe({ seed: 1, size: 20 })
    const p = universe.people[11]!
    assert.strictEqual(universe.bySlugOf(p.slug.toUpperCase()), p)
    assert.strictEqual(universe.byEmailOf(p.personalEmail), p)
    assert.strictEqual(universe.byXHandleOf("@" + p.xHandle), p)
    assert.strictEqual(universe.byGitHubOf(p.github), p)
    assert.isUndefined(universe.bySlugOf("ghost-1-1"))
    // contacts are valid inputs for our own parsers
    assert.isTrue(Either.isRight(Identifier.parseLinkedIn(p.linkedinUrl)))
    assert.isTrue(Either.isRight(Identifier.parseXHandle(p.xHandle)))
    assert.isTrue(Either.isRight(Identifier.parseGitHub(p.github)))
  })

  it("samples a realistic list: mostly valid, with duplicates and broken rows", () => {
    const universe = new Universe({ seed: 42, size: 5000 })
    const rows = sample(universe, 300)
    assert.strictEqual(rows.length, 300)
    const parsed = rows.map((r): Either.Either<Identifier.Identifier, Identifier.InvalidIdentifier> =>
      r.linkedin_url !== ""
        ? Identifier.parseLinkedIn(r.linkedin_url)
        : r.email !== ""
        ? Identifier.parseEmail(r.email)
        : r.x_handle !== ""
        ? Identifier.parseXHandle(r.x_handle)
        : Identifier.parseGitHub(r.github)
    )
    const valid = parsed.filter(Either.isRight)
    const keys = valid.map((v) => v.right.key)
    assert.isAbove(valid.length, 270)
    assert.isBelow(valid.length, 300)
    assert.isAbove(keys.length - new Set(keys).size, 3)
  })
})

describe("SlidingWindow", () => {
  it("admits the limit per window and reports when the oldest leaves", () => {
    const window = new SlidingWindow(2, 1000)
    assert.isTrue(window.admit(0).allowed)
    assert.isTrue(window.admit(100).allowed)
    const third = window.admit(200)
    assert.isFalse(third.allowed)
    assert.strictEqual(third.remaining, 0)
    assert.strictEqual(third.resetMillis, 800)
    assert.isTrue(window.admit(1000).allowed)
  })
})
