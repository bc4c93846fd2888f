/**
 * The ways a person can be named to a provider, and the canonical `PersonKey` used for dedupe,
 * caching and the ledger. Parsing never throws: bad input comes back as an `InvalidIdentifier` value.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/** @since 0.1.0 @category Models */
export const IdentifierKind = Schema.Literal("linkedin", "email", "x", "github")
/** @since 0.1.0 @category Models */
export type IdentifierKind = typeof IdentifierKind.Type

/** @since 0.1.0 @category Models */
export const PersonKey = Schema.String.pipe(Schema.brand("@enrich/core/PersonKey"))
/** @since 0.1.0 @category Models */
export type PersonKey = typeof PersonKey.Type

// The identifiers below build their key from their own (validated) fields, so `PersonKey.make` skips validation.

/** Which LinkedIn URL family a profile came from: public profile, Sales Navigator lead, Recruiter profile. */
export const LinkedInPath = Schema.Literal("in", "sales/lead", "talent/profile")
/** @since 0.1.0 @category Models */
export type LinkedInPath = typeof LinkedInPath.Type

/** @since 0.1.0 @category Models */
export class LinkedInProfile extends Schema.TaggedClass<LinkedInProfile>()("LinkedInProfile", {
  path: LinkedInPath,
  /**
   * decoded slug; lower-cased for `/in/` profiles, whose vanity slugs LinkedIn treats case-insensitively,
   * except a member id in their place (`ACoAA…`), which is case-sensitive like Sales Navigator and Recruiter ids
   */
  slug: Schema.String,
  /** canonical `https://www.linkedin.com/<path>/<slug>`: what we send, so what providers echo back */
  url: Schema.String
}) {
  get kind(): "linkedin" {
    return "linkedin"
  }
  get key(): PersonKey {
    return PersonKey.make(`linkedin:${this.path}/${this.slug}`, true)
  }
}

/** @since 0.1.0 @category Models */
export class EmailAddress extends Schema.TaggedClass<EmailAddress>()("EmailAddress", {
  address: Schema.String
}) {
  get kind(): "email" {
    return "email"
  }
  get key(): PersonKey {
    return PersonKey.make(`email:${this.address}`, true)
  }
}

/** @since 0.1.0 @category Models */
export class XHandle extends Schema.TaggedClass<XHandle>()("XHandle", {
  /** without the leading `@`, case kept as given (X handles are case-insensitive; the key is lower-cased) */
  handle: Schema.String
}) {
  get kind(): "x" {
    return "x"
  }
  get key(): PersonKey {
    return PersonKey.make(`x:${this.handle.toLowerCase()}`, true)
  }
}

/** @since 0.1.0 @category Models */
export class GitHubUsername extends Schema.TaggedClass<GitHubUsername>()("GitHubUsername", {
  username: Schema.String
}) {
  get kind(): "github" {
    return "github"
  }
  get key(): PersonKey {
    return PersonKey.make(`github:${this.username.toLowerCase()}`, true)
  }
}

/** @since 0.1.0 @category Models */
export const Identifier = Schema.Union(LinkedInProfile, EmailAddress, XHandle, GitHubUsername)
/** @since 0.1.0 @category Models */
export type Identifier = typeof Identifier.Type

/** Input that cannot name a person, with the reason a user can act on. */
export class InvalidIdentifier extends Schema.TaggedClass<InvalidIdentifier>()("InvalidIdentifier", {
  kind: IdentifierKind,
  input: Schema.String,
  reason: Schema.String
}) {}

/** @since 0.1.0 @category Models */
export interface ParseOptions {
  /**
   * Accept a bare LinkedIn slug (`jake`) as `/in/jake`. Only Fiber's single and exhaustive endpoints
   * take bare slugs; everything else needs a URL, so this is off by default.
   */
  readonly bareSlugs?: boolean
}

const invalid = (kind: IdentifierKind, input: string, reason: string) =>
  Either.left(new InvalidIdentifier({ kind, input, reason }))

// Host: optional scheme, any subdomain (www, m, uk, de, ...), then linkedin.<tld>. Matched case-insensitively:
// we are more lenient than Fiber's case-sensitive regex, and the canonical URL we send satisfies it.
// LinkedIn Lite (`/mwlite/in/<slug>`) serves the same profiles as `/in/`.
const linkedInUrl =
  /^(?:https?:\/\/)?(?:[a-z0-9-]+\.)*linkedin\.[a-z]{2,}(?::\d+)?\/(?:mwlite\/)?(in|pub|sales\/lead|sales\/people|talent\/profile|company|school)\/([^/?#]*)(.*)$/i
const bareSlug = /^[\p{L}\p{N}\-_.%]{3,100}$/u

// Printable ASCII without `%`: what decoding and NFC normalisation leave unchanged (the usual slug).
const plainSlug = /^[\x21-\x24\x26-\x7e]*$/

/**
 * A member id used as an `/in/` slug (`linkedin.com/in/ACoAAAB1c2VyMTIz`): an opaque, case-sensitive id (the
 * member URN's; Sales Navigator's `ACwAA…` and Recruiter's `AEMAA…` ids resolve there too), not a vanity slug.
 * Matched case-sensitively: a vanity slug that merely starts with the letters "acoaa" is still a vanity slug.
 */
const memberId = /^(?:ACoAA|ACwAA|AEMAA)[A-Za-z0-9_-]+$/

/** NUL and the other C0 controls (and DEL): never part of an identifier, often a sign of a broken export. */
const controlCharacter = /[\u0000-\u001f\u007f]/

/** LinkedIn's public profile slugs are 3–100 characters; member ids are shorter still. */
const maxSlugLength = 100

const decodeSlug = (raw: string): string | undefined => {
  if (plainSlug.test(raw)) return raw
  try {
    return decodeURIComponent(raw).normalize("NFC")
  } catch {
    return undefined
  }
}

/**
 * Canonicalises any LinkedIn profile URL form (scheme or not, www/country/mobile subdomains, trailing slash,
 * query and fragment, extra path segments, percent-encoding, case) to one `LinkedInProfile`.
 *
 * @since 0.1.0 @category Parsing
 */
export const parseLinkedIn = (
  input: string,
  options: ParseOptions = {}
): Either.Either<LinkedInProfile, InvalidIdentifier> => {
  const trimmed = input.trim()
  if (trimmed === "") return invalid("linkedin", input, "empty LinkedIn URL")
  const match = linkedInUrl.exec(trimmed)
  if (match === null) {
    if (/linkedin\./i.test(trimmed)) {
      return invalid("linkedin", input, "not a LinkedIn profile URL (expected /in/, /sales/lead/ or /talent/profile/)")
    }
    if (bareSlug.test(trimmed) && !trimmed.includes("@")) {
      if (options.bareSlugs !== true) {
        return invalid(
          "linkedin",
          input,
          "bare LinkedIn slug without a URL (batch APIs take profile URLs); write https://www.linkedin.com/in/" +
            trimmed
        )
      }
      return makeProfile("in", trimmed, input)
    }
    return invalid("linkedin", input, "not a LinkedIn URL")
  }
  const family = match[1]!.toLowerCase()
  if (family === "company" || family === "school") {
    return invalid("linkedin", input, `a LinkedIn ${family} page, not a person`)
  }
  if (family === "pub") return invalid("linkedin", input, "legacy /pub/ profile URL; providers need an /in/ URL")
  if (family === "sales/people") {
    return invalid("linkedin", input, "Sales Navigator /sales/people/ URL; export the /sales/lead/ URL instead")
  }
  // As in Fiber's pattern, a comma ends the slug (Sales Navigator appends ",NAME_SEARCH,..." to its ids).
  const rawSlug = match[2]!.split(",")[0]!
  if (rawSlug === "") return invalid("linkedin", input, "LinkedIn URL has no profile slug")
  return makeProfile(family as LinkedInPath, rawSlug, input)
}

const makeProfile = (
  path: LinkedInPath,
  rawSlug: string,
  input: string
): Either.Either<LinkedInProfile, InvalidIdentifier> => {
  const decoded = decodeSlug(rawSlug)
  if (decoded === undefined) return invalid("linkedin", input, "LinkedIn slug has broken percent-encoding")
  if (/[\s/\\?#,]/.test(decoded)) return invalid("linkedin", input, "LinkedIn slug contains a separator or space")
  if (controlCharacter.test(decoded)) return invalid("linkedin", input, "LinkedIn slug contains a control character")
  if ([...decoded].length > maxSlugLength) {
    return invalid(
      "linkedin",
      input,
      `LinkedIn slug is ${[...decoded].length} characters long; profile slugs have at most ${maxSlugLength}`
    )
  }
  // Public profile slugs are case-insensitive; member, Sales Navigator and Recruiter ids are opaque and keep
  // their case (lower-cased, the provider cannot resolve them, and two ids differing in case are two people).
  const slug = path === "in" && !memberId.test(decoded) ? decoded.toLowerCase() : decoded
  // Validation off: the fields are checked above (path is one of the literals, slug and url are strings).
  return Either.right(
    new LinkedInProfile({ path, slug, url: `https://www.linkedin.com/${path}/${encodeURIComponent(slug)}` }, true)
  )
}

const emailPattern = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]{2,}$/

/** @since 0.1.0 @category Parsing */
export const parseEmail = (input: string): Either.Either<EmailAddress, InvalidIdentifier> => {
  const address = input.trim().replace(/^mailto:/i, "").toLowerCase()
  if (address === "") return invalid("email", input, "empty email")
  if (controlCharacter.test(address)) return invalid("email", input, "email contains a control character")
  if (address.length > 254) return invalid("email", input, "email is longer than 254 characters")
  if (!emailPattern.test(address)) return invalid("email", input, "not an email address")
  return Either.right(new EmailAddress({ address }))
}

const xHandlePattern = /^[A-Za-z0-9_]{1,15}$/

/** @since 0.1.0 @category Parsing */
export const parseXHandle = (input: string): Either.Either<XHandle, InvalidIdentifier> => {
  let handle = input.trim()
  const url = /^(?:https?:\/\/)?(?:www\.|mobile\.)?(?:x|twitter)\.com\/([^/?#]+)/i.exec(handle)
  if (url !== null) handle = url[1]!
  handle = handle.replace(/^@/, "")
  if (handle === "") return invalid("x", input, "empty X handle")
  if (!xHandlePattern.test(handle)) return invalid("x", input, "X handles are 1-15 letters, digits or _")
  return Either.right(new XHandle({ handle }))
}

const gitHubPattern = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/

/** @since 0.1.0 @category Parsing */
export const parseGitHub = (input: string): Either.Either<GitHubUsername, InvalidIdentifier> => {
  let username = input.trim()
  const url = /^(?:https?:\/\/)?(?:www\.)?github\.com\/([^/?#]+)/i.exec(username)
  if (url !== null) username = url[1]!
  username = username.replace(/^@/, "")
  if (username === "") return invalid("github", input, "empty GitHub username")
  if (!gitHubPattern.test(username)) {
    return invalid("github", input, "GitHub usernames are letters, digits and single hyphens, at most 39")
  }
  return Either.right(new GitHubUsername({ username }))
}

/** @since 0.1.0 @category Parsing */
export const parse = (
  kind: IdentifierKind,
  input: string,
  options: ParseOptions = {}
): Either.Either<Identifier, InvalidIdentifier> => {
  switch (kind) {
    case "linkedin":
      return parseLinkedIn(input, options)
    case "email":
      return parseEmail(input)
    case "x":
      return parseXHandle(input)
    case "github":
      return parseGitHub(input)
  }
}

/** @since 0.1.0 @category Accessors */
export const kindOf = (identifier: Identifier): IdentifierKind => identifier.kind

/** @since 0.1.0 @category Accessors */
export const keyOf = (identifier: Identifier): PersonKey => identifier.key

/**
 * The identifier kind a `PersonKey` was made from (its prefix, `linkedin:…`, `email:…`, `x:…`, `github:…`), for
 * what is stored by key alone (the ledger's outcomes); undefined for a key of no known kind.
 *
 * @since 0.1.0 @category Accessors
 */
export const kindOfKey = (key: string): IdentifierKind | undefined => {
  const prefix = key.slice(0, key.indexOf(":"))
  return (IdentifierKind.literals as ReadonlyArray<string>).includes(prefix) ? prefix as IdentifierKind : undefined
}

/** The raw value a provider is sent for this identifier (canonical URL, address, handle, username). */
export const valueOf = (identifier: Identifier): string => {
  switch (identifier._tag) {
    case "LinkedInProfile":
      return identifier.url
    case "EmailAddress":
      return identifier.address
    case "XHandle":
      return identifier.handle
    case "GitHubUsername":
      return identifier.username
  }
}
