/**
 * A deterministic universe of people with known contacts, and what each provider knows of them. Coverage
 * and verdict mixes differ by provider, so a waterfall finds more than any single provider.
 */
import { unit } from "./Random.js"

export type ProviderName = "fiber" | "crustdata" | "thehog"
export const providerNames: ReadonlyArray<ProviderName> = ["fiber", "crustdata", "thehog"]

export type Verdict = "valid" | "risky" | "unknown" | "invalid"

export interface TruePerson {
  readonly index: number
  readonly firstName: string
  readonly lastName: string
  /** LinkedIn /in/ slug, lower case */
  readonly slug: string
  readonly linkedinUrl: string
  readonly company: string
  readonly domain: string
  readonly workEmail: string
  readonly personalEmail: string
  /** E.164 */
  readonly phone: string
  readonly phoneKind: "mobile" | "other"
  readonly xHandle: string
  readonly github: string
}

export interface KnownEmail {
  readonly address: string
  readonly verdict: Verdict
}

/** What one provider can return for one person; absent fields are not known to that provider. */
export interface Knowledge {
  readonly workEmail: KnownEmail | undefined
  readonly personalEmail: KnownEmail | undefined
  readonly phone: string | undefined
}

export interface Coverage {
  readonly workEmail: number
  readonly personalEmail: number
  readonly phone: number
  /** share of known emails per verdict: valid, risky, unknown (the rest invalid) */
  readonly verdicts: readonly [valid: number, risky: number, unknown: number]
}

export const defaultCoverage: Record<ProviderName, Coverage> = {
  fiber: { workEmail: 0.55, personalEmail: 0.35, phone: 0.4, verdicts: [0.75, 0.15, 0.05] },
  crustdata: { workEmail: 0.45, personalEmail: 0.4, phone: 0.3, verdicts: [0.7, 0.1, 0.15] },
  thehog: { workEmail: 0.4, personalEmail: 0.25, phone: 0.35, verdicts: [0.8, 0.1, 0.05] }
}

export interface UniverseOptions {
  readonly seed?: number
  readonly size?: number
  readonly coverage?: Partial<Record<ProviderName, Coverage>>
}

const firstNames = [
  "ada",
  "alan",
  "grace",
  "linus",
  "margaret",
  "dennis",
  "barbara",
  "ken",
  "frances",
  "john",
  "radia",
  "tim",
  "katherine",
  "donald",
  "shafi",
  "leslie",
  "edsger",
  "hedy",
  "guido",
  "anita",
  "bjarne",
  "sophie",
  "yukihiro",
  "jean",
  "niklaus",
  "lynn",
  "vint",
  "mary",
  "robert",
  "karen",
  "james",
  "elena",
  "omar",
  "priya",
  "wei",
  "lucia"
]
const lastNames = [
  "lovelace",
  "turing",
  "hopper",
  "torvalds",
  "hamilton",
  "ritchie",
  "liskov",
  "thompson",
  "allen",
  "backus",
  "perlman",
  "lee",
  "johnson",
  "knuth",
  "goldwasser",
  "lamport",
  "dijkstra",
  "lamarr",
  "rossum",
  "borg",
  "stroustrup",
  "wilson",
  "matsumoto",
  "sammet",
  "wirth",
  "conway",
  "cerf",
  "keller",
  "kahn",
  "jones",
  "gosling",
  "petrova",
  "haddad",
  "iyer",
  "zhang",
  "fernandez"
]
const companies = [
  ["Acme", "acme.io"],
  ["Globex", "globex.com"],
  ["Initech", "initech.com"],
  ["Umbrella", "umbrella.co"],
  ["Hooli", "hooli.xyz"],
  ["Stark", "stark.industries"],
  ["Wayne", "wayne.enterprises"],
  ["Cyberdyne", "cyberdyne.ai"],
  ["Soylent", "soylent.food"],
  ["Tyrell", "tyrell.corp"],
  ["Aperture", "aperture.science"],
  ["Vandelay", "vandelay.com"]
] as const
const freeMail = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me"]

export class Universe {
  readonly seed: number
  readonly people: ReadonlyArray<TruePerson>
  private readonly coverage: Record<ProviderName, Coverage>
  private readonly bySlug = new Map<string, TruePerson>()
  private readonly byEmail = new Map<string, TruePerson>()
  private readonly byX = new Map<string, TruePerson>()
  private readonly byGitHub = new Map<string, TruePerson>()

  constructor(options: UniverseOptions = {}) {
    this.seed = options.seed ?? 42
    this.coverage = { ...defaultCoverage, ...options.coverage }
    const size = options.size ?? 5000
    const people: Array<TruePerson> = []
    for (let index = 0; index < size; index++) {
      const person = this.makePerson(index)
      people.push(person)
      this.bySlug.set(person.slug, person)
      this.byEmail.set(person.workEmail, person)
      this.byEmail.set(person.personalEmail, person)
      this.byX.set(person.xHandle.toLowerCase(), person)
      this.byGitHub.set(person.github.toLowerCase(), person)
    }
    this.people = people
  }

  private makePerson(index: number): TruePerson {
    const pick = <A>(list: ReadonlyArray<A>, salt: string): A =>
      list[Math.floor(unit(this.seed, index, salt) * list.length)]!
    const firstName = pick(firstNames, "first")
    const lastName = pick(lastNames, "last")
    const [company, domain] = pick(companies, "company")
    const tag = index.toString(36)
    const slug = `${firstName}-${lastName}-${tag}`
    const digits = String(Math.floor(unit(this.seed, index, "phone") * 9000) + 1000)
    const area = ["415", "212", "646", "312", "617", "206"][index % 6]!
    return {
      index,
      firstName,
      lastName,
      slug,
      linkedinUrl: `https://www.linkedin.com/in/${slug}`,
      company,
      domain,
      workEmail: `${firstName}.${lastName}.${tag}@${domain}`,
      personalEmail: `${firstName}${lastName}${tag}@${pick(freeMail, "freemail")}`,
      phone: `+1${area}555${digits}`,
      phoneKind: unit(this.seed, index, "phonekind") < 0.8 ? "mobile" : "other",
      xHandle: `${firstName.slice(0, 6)}_${lastName.slice(0, 5)}${tag}`.slice(0, 15),
      github: `${firstName}-${lastName}-${tag}`
    }
  }

  /** Resolves a LinkedIn `/in/` slug (case-insensitive, percent-decoded by the caller). */
  bySlugOf(slug: string): TruePerson | undefined {
    return this.bySlug.get(slug.toLowerCase())
  }
  byEmailOf(address: string): TruePerson | undefined {
    return this.byEmail.get(address.toLowerCase())
  }
  byXHandleOf(handle: string): TruePerson | undefined {
    return this.byX.get(handle.replace(/^@/, "").toLowerCase())
  }
  byGitHubOf(username: string): TruePerson | undefined {
    return this.byGitHub.get(username.toLowerCase())
  }

  /** What `provider` knows of `person`: fixed by seed, provider and person, independent of request order. */
  knowledge(provider: ProviderName, person: TruePerson): Knowledge {
    const coverage = this.coverage[provider]
    const has = (field: string, share: number) => unit(this.seed, provider, person.index, field) < share
    const verdict = (field: string): Verdict => {
      const r = unit(this.seed, provider, person.index, field, "verdict")
      const [valid, risky, unknown] = coverage.verdicts
      return r < valid ? "valid" : r < valid + risky ? "risky" : r < valid + risky + unknown ? "unknown" : "invalid"
    }
    return {
      workEmail: has("work", coverage.workEmail) ? { address: person.workEmail, verdict: verdict("work") } : undefined,
      personalEmail: has("personal", coverage.personalEmail)
        ? { address: person.personalEmail, verdict: verdict("personal") }
        : undefined,
      phone: has("phone", coverage.phone) ? person.phone : undefined
    }
  }

  /** A LinkedIn URL that looks valid but resolves to nobody (for "not found" and Fiber's healing failures). */
  ghostUrl(n: number): string {
    return `https://www.linkedin.com/in/ghost-${this.seed}-${n}`
  }
}
