/**
 * The fault mix of `enrich simulate --faults`, so users can try a run against misbehaving providers from the
 * command line: `5xx=0.3,429=0.4,truncated=0.3,malformed=0.3,failed-jobs=0.5,expired-links,slow=10,unknown-enums`.
 * Each applies to all three simulators; a `fiber:` / `crustdata:` / `thehog:` prefix limits one to that provider
 * (`thehog:429=0.5`).
 *
 * @since 0.1.0
 */
import { ContactProvider } from "@enrich/core"
import type { Simulators } from "@enrich/simulator"
import * as Either from "effect/Either"

type ProviderName = ContactProvider.ProviderName
type Faults = NonNullable<NonNullable<Simulators.Options["faults"]>[ProviderName]>

interface Knob {
  /** what it does, for the error that lists the knobs */
  readonly help: string
  /** the value when none is given (`expired-links`), or undefined when one is required */
  readonly implied?: number
  readonly valid: (value: number) => boolean
  readonly apply: (faults: Faults, value: number) => Faults
}

const rate = (help: string, key: keyof Faults, implied?: number): Knob => ({
  help: `${help} (a probability, 0–1)`,
  ...(implied === undefined ? {} : { implied }),
  valid: (value) => value >= 0 && value <= 1,
  apply: (faults, value) => ({ ...faults, [key]: value })
})

/** @since 0.1.0 @category Models */
export const knobs: Readonly<Record<string, Knob>> = {
  "5xx": rate("answer 500/503", "serverErrorRate"),
  "429": rate("answer 429 whatever the window", "rateLimitRate"),
  truncated: rate("cut a 200 body short", "truncatedRate"),
  malformed: rate("a 200 body of the wrong types", "malformedRate"),
  "failed-jobs": rate("jobs that end failed", "failJobRate"),
  "unknown-enums": rate("status values the contract does not list", "unknownEnumRate", 0.2),
  slow: {
    help: "jobs take this many times longer (≥ 1)",
    valid: (value) => value >= 1,
    apply: (faults, value) => ({ ...faults, slowJobFactor: value })
  },
  "expired-links": {
    help: "the first N Crustdata download links are already expired (default 3)",
    implied: 3,
    valid: (value) => Number.isInteger(value) && value >= 0,
    apply: (faults) => faults
  }
}

/** What `parse` gives: the faults per provider and the Crustdata expired-link count. */
export interface FaultMix {
  readonly faults: Partial<Record<ProviderName, Faults>>
  readonly expiredLinks: number
}

const providers = ContactProvider.ProviderName.literals

/**
 * Parses a `--faults` value; the error says which item is wrong and lists the knobs.
 *
 * @since 0.1.0 @category Parsing
 */
export const parse = (spec: string): Either.Either<FaultMix, string> => {
  const faults: Partial<Record<ProviderName, Faults>> = {}
  let expiredLinks = 0
  for (const item of spec.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const match = /^(?:(fiber|crustdata|thehog):)?([a-z0-9-]+)(?:=(.*))?$/.exec(item)
    const knob = match === null ? undefined : knobs[match[2]!]
    if (match === null || knob === undefined) {
      return Either.left(
        `unknown fault ${JSON.stringify(item)}; the faults are: ` +
          Object.entries(knobs).map(([name, k]) => `${name} (${k.help})`).join(", ")
      )
    }
    const value = match[3] === undefined ? knob.implied : Number(match[3])
    if (value === undefined || !Number.isFinite(value) || !knob.valid(value)) {
      return Either.left(`fault ${JSON.stringify(item)}: ${match[2]} takes ${knob.help}`)
    }
    if (match[2] === "expired-links") {
      expiredLinks = value
      continue
    }
    for (const provider of match[1] === undefined ? providers : [match[1] as ProviderName]) {
      faults[provider] = knob.apply(faults[provider] ?? {}, value)
    }
  }
  return Either.right({ faults, expiredLinks })
}
