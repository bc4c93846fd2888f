import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as Identifier from "../src/Identifier.js"

const keyOf = (input: string, options?: Identifier.ParseOptions) =>
  Either.map(Identifier.parseLinkedIn(input, options), (p) => p.key)

// The seeds' batch regex, used to check that every canonical URL we send is one Fiber accepts.
const fiberPattern =
  /^(?:https?:\/\/)?(?:[a-z]+\.)?linkedin\.[a-z]{2,}\/(?:in|sales\/lead|talent\/profile)\/(?<slug>[^/\\?,#]+)\/?(?:[?,#].*)?/

describe("Identifier.parseLinkedIn", () => {
  const variants = [
    "https://www.linkedin.com/in/jake",
    "http://www.linkedin.com/in/jake",
    "linkedin.com/in/jake",
    "www.linkedin.com/in/jake/",
    "https://linkedin.com/in/jake/?trk=public_profile",
    "https://uk.linkedin.com/in/jake#about",
    "https://m.linkedin.com/in/jake",
    "https://de.linkedin.com/in/Jake/",
    "HTTPS://WWW.LINKEDIN.COM/in/JAKE",
    "https://www.linkedin.cn/in/jake",
    "  https://www.linkedin.com/in/jake/details/experience/  ",
    "https://www.linkedin.com/in/%6Aake",
    "https://www.linkedin.com/in/jake,extra"
  ]

  it("maps every URL form of one profile to one key", () => {
    const keys = new Set(variants.map((v) => Either.getOrThrow(keyOf(v))))
    assert.deepStrictEqual([...keys], ["linkedin:in/jake"])
  })

  it("keeps Sales Navigator and Recruiter ids apart and case-sensitive", () => {
    assert.deepStrictEqual(
      keyOf("https://www.linkedin.com/sales/lead/ACwAAA,NAME_SEARCH,abc"),
      Either.right(Identifier.PersonKey.make("linkedin:sales/lead/ACwAAA"))
    )
    assert.deepStrictEqual(
      keyOf("https://www.linkedin.com/talent/profile/AEMAAbc?x=1"),
      Either.right(Identifier.PersonKey.make("linkedin:talent/profile/AEMAAbc"))
    )
  })

  it("keeps the case of a member id in an /in/ URL: key and URL sent", () => {
    const upper = Either.getOrThrow(Identifier.parseLinkedIn("https://www.linkedin.com/in/ACoAAAB1c2VyMTIz/"))
    const other = Either.getOrThrow(Identifier.parseLinkedIn("linkedin.com/in/ACoAAAB1C2VYMTIZ?trk=x"))
    assert.strictEqual(upper.key, Identifier.PersonKey.make("linkedin:in/ACoAAAB1c2VyMTIz"))
    assert.strictEqual(upper.url, "https://www.linkedin.com/in/ACoAAAB1c2VyMTIz")
    // two ids that differ only in case are two people
    assert.notStrictEqual(upper.key, other.key)
    assert.strictEqual(other.url, "https://www.linkedin.com/in/ACoAAAB1C2VYMTIZ")
    assert.isTrue(fiberPattern.test(upper.url))
    // Sales Navigator and Recruiter ids under /in/ are ids too; a vanity slug that only looks alike is not
    assert.strictEqual(Either.getOrThrow(keyOf("https://www.linkedin.com/in/ACwAAAxYz12")), "linkedin:in/ACwAAAxYz12")
    assert.strictEqual(Either.getOrThrow(keyOf("https://www.linkedin.com/in/AcoaaLover")), "linkedin:in/acoaalover")
  })

  it("reads LinkedIn Lite profile URLs as profiles", () => {
    for (const url of ["https://www.linkedin.com/mwlite/in/jake", "linkedin.com/mwlite/in/Jake/?trk=x"]) {
      const parsed = Either.getOrThrow(Identifier.parseLinkedIn(url))
      assert.strictEqual(parsed.key, Identifier.PersonKey.make("linkedin:in/jake"), url)
      assert.strictEqual(parsed.url, "https://www.linkedin.com/in/jake", url)
    }
    assert.strictEqual(
      Either.getOrThrow(keyOf("https://www.linkedin.com/mwlite/in/ACoAAAB1c2VyMTIz")),
      "linkedin:in/ACoAAAB1c2VyMTIz"
    )
  })

  it("decodes percent-encoding and Unicode slugs to one canonical, re-encoded URL", () => {
    const a = Either.getOrThrow(Identifier.parseLinkedIn("https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller"))
    const b = Either.getOrThrow(Identifier.parseLinkedIn("https://www.linkedin.com/in/Jürgen-Müller/"))
    assert.strictEqual(a.key, b.key)
    assert.strictEqual(a.slug, "jürgen-müller")
    assert.strictEqual(a.url, "https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller")
    assert.isTrue(fiberPattern.test(a.url))
  })

  const rejected: ReadonlyArray<readonly [string, RegExp]> = [
    ["", /empty/],
    ["jake", /bare LinkedIn slug/],
    ["https://www.linkedin.com/company/acme", /company page/],
    ["https://www.linkedin.com/pub/jake/1/2/3", /legacy \/pub\//],
    ["https://www.linkedin.com/in/", /no profile slug/],
    ["https://www.linkedin.com/in/%E0%A4%A", /percent-encoding/],
    ["https://example.com/in/jake", /not a LinkedIn URL/],
    ["https://www.linkedin.com/feed/", /not a LinkedIn profile URL/]
  ]
  for (const [input, reason] of rejected) {
    it(`rejects ${JSON.stringify(input)} with a reason`, () => {
      const result = Identifier.parseLinkedIn(input)
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) assert.match(result.left.reason, reason)
    })
  }

  it("accepts bare slugs only when asked", () => {
    assert.deepStrictEqual(
      keyOf("jake", { bareSlugs: true }),
      Either.right(Identifier.PersonKey.make("linkedin:in/jake"))
    )
  })

  it.prop(
    "any slug, in any URL dress, maps to the key of its canonical URL (property)",
    [
      FastCheck.stringMatching(/^[a-z0-9][a-z0-9-]{2,30}$/),
      FastCheck.constantFrom("", "http://", "https://", "HTTPS://"),
      FastCheck.constantFrom("", "www.", "uk.", "m.", "WWW."),
      FastCheck.constantFrom("", "/", "/?trk=x", "#frag", "/details/skills"),
      FastCheck.boolean()
    ],
    ([slug, scheme, sub, tail, upper]) => {
      const dressed = `${scheme}${sub}linkedin.com/in/${upper ? slug.toUpperCase() : slug}${tail}`
      const canonical = Either.getOrThrow(Identifier.parseLinkedIn(`https://www.linkedin.com/in/${slug}`))
      const parsed = Identifier.parseLinkedIn(dressed)
      return Either.isRight(parsed) && parsed.right.key === canonical.key && fiberPattern.test(parsed.right.url)
    }
  )

  it.prop(
    "canonicalisation is idempotent (property)",
    [FastCheck.webUrl()],
    ([url]) => {
      const first = Identifier.parseLinkedIn(url)
      if (Either.isLeft(first)) return first.left.reason.length > 0
      const again = Identifier.parseLinkedIn(first.right.url)
      return Either.isRight(again) && again.right.key === first.right.key && again.right.url === first.right.url
    }
  )
})

describe("Identifier: email, X, GitHub", () => {
  it("rejects a control character or an impossibly long slug, with a reason, instead of sending it", () => {
    const reasonOf = (result: Either.Either<unknown, Identifier.InvalidIdentifier>) =>
      Either.isLeft(result) ? result.left.reason : "accepted"
    assert.strictEqual(
      reasonOf(Identifier.parseLinkedIn("https://www.linkedin.com/in/ja\u0000ke")),
      "LinkedIn slug contains a control character"
    )
    assert.strictEqual(
      reasonOf(Identifier.parseLinkedIn("https://www.linkedin.com/in/ja%00ke")),
      "LinkedIn slug contains a control character"
    )
    assert.strictEqual(
      reasonOf(Identifier.parseLinkedIn(`https://www.linkedin.com/in/${"a".repeat(5000)}`)),
      "LinkedIn slug is 5000 characters long; profile slugs have at most 100"
    )
    assert.isTrue(Either.isRight(Identifier.parseLinkedIn(`https://www.linkedin.com/in/${"a".repeat(100)}`)))
    assert.strictEqual(reasonOf(Identifier.parseEmail("jake\u0000@acme.io")), "email contains a control character")
    assert.strictEqual(
      reasonOf(Identifier.parseEmail(`${"j".repeat(250)}@acme.io`)),
      "email is longer than 254 characters"
    )
  })

  it("normalises emails and rejects non-addresses", () => {
    assert.deepStrictEqual(
      Either.map(Identifier.parseEmail(" Mailto:Jake@Acme.IO "), (e) => e.key),
      Either.right(Identifier.PersonKey.make("email:jake@acme.io"))
    )
    assert.isTrue(Either.isLeft(Identifier.parseEmail("jake at acme")))
    assert.isTrue(Either.isLeft(Identifier.parseEmail("jake@localhost")))
  })

  it("reads X handles from @handles and profile URLs", () => {
    for (const input of ["@JakeDev", "jakedev", "https://x.com/JakeDev", "twitter.com/jakedev?lang=en"]) {
      assert.deepStrictEqual(
        Either.map(Identifier.parseXHandle(input), (x) => x.key),
        Either.right(Identifier.PersonKey.make("x:jakedev"))
      )
    }
    assert.isTrue(Either.isLeft(Identifier.parseXHandle("this-handle-is-way-too-long")))
  })

  it("reads GitHub usernames from names and URLs", () => {
    for (const input of ["octo-cat", "@Octo-Cat", "https://github.com/octo-cat/repo"]) {
      assert.deepStrictEqual(
        Either.map(Identifier.parseGitHub(input), (g) => g.key),
        Either.right(Identifier.PersonKey.make("github:octo-cat"))
      )
    }
    assert.isTrue(Either.isLeft(Identifier.parseGitHub("-bad-")))
    assert.isTrue(Either.isLeft(Identifier.parseGitHub("a--b")))
  })

  it("round-trips every identifier kind through its Schema", () => {
    const all = [
      Either.getOrThrow(Identifier.parse("linkedin", "linkedin.com/in/jake")),
      Either.getOrThrow(Identifier.parse("email", "jake@acme.io")),
      Either.getOrThrow(Identifier.parse("x", "@jake")),
      Either.getOrThrow(Identifier.parse("github", "jake"))
    ]
    for (const identifier of all) {
      const json = Schema.encodeSync(Identifier.Identifier)(identifier)
      const back = Schema.decodeUnknownSync(Identifier.Identifier)(JSON.parse(JSON.stringify(json)))
      assert.strictEqual(back.key, identifier.key)
      assert.strictEqual(back._tag, identifier._tag)
    }
  })
})
