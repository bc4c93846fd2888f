/**
 * What a list will cost, and in which order to ask providers so that it costs least, from how often each provider
 * found each field for each kind of identifier (the ledger's history, smoothed with priors) and how each provider
 * bills (`Capabilities.cost`):
 *
 * - `per-request` (TheHog): the price of the fields asked, per person, found or not;
 * - `upfront-per-person` (Fiber): the price of the fields asked, up front, refunded down to the price of the
 *   fields delivered (nothing when nothing is);
 * - `per-value-delivered` (Crustdata): the price of the values delivered.
 *
 * One ask of a provider for one field gives an accepted value (good enough for the stop policy: the waterfall
 * stops there), a value not accepted (paid for where billing is per value, and the waterfall goes on), or
 * nothing. Those three chances are a Dirichlet posterior per provider × field × identifier kind: the reference
 * priors below plus what was observed. A person's way through the waterfall is then enumerated exactly (every
 * combination of what each provider gives), assuming providers and fields independent of each other: the expected
 * credits per person and their variance, for any order. Pure: programs can price a list before running it.
 *
 * @since 0.1.0
 */
import type { Field, Verdict } from "./Contact.js"
import { verdictRank } from "./Contact.js"
import type { Capabilities } from "./ContactProvider.js"
import type { IdentifierKind } from "./Identifier.js"
import { candidatesOf, defaultStopPolicy, type StopPolicy } from "./Merge.js"
import type { ProviderOutcome } from "./PersonResult.js"

// ---------------------------------------------------------------------------------------------------------------
// Statistics: what was observed
// ---------------------------------------------------------------------------------------------------------------

/**
 * What asking one provider for one field about people of one identifier kind gave: how many were asked, and how
 * many got a value, by the best verdict among the values of that field (phones: `valid` when E.164).
 *
 * @since 0.1.0 @category Models
 */
export interface Counts {
  readonly provider: string
  readonly kind: IdentifierKind
  readonly field: Field
  readonly asked: number
  readonly found: Readonly<Record<Verdict, number>>
}

/** Observed counts, one entry per provider, field and kind at most (`tally` / `combine` keep it so). */
export type Statistics = ReadonlyArray<Counts>

/** One answer to learn from: a person of `kind` asked `fields` at `provider`. */
export interface Observation {
  readonly provider: string
  readonly kind: IdentifierKind
  readonly fields: ReadonlyArray<Field>
  readonly outcome: ProviderOutcome
}

const noVerdicts = (): Record<Verdict, number> => ({ valid: 0, risky: 0, unknown: 0, invalid: 0 })

const keyOf = (provider: string, field: Field, kind: IdentifierKind) => `${provider}\n${field}\n${kind}`

/**
 * Counts from answers: `Found` and `NotFound` only (a failure or a rejection says nothing of what the provider
 * knows, and is not charged).
 *
 * @since 0.1.0 @category Constructors
 */
export const tally = (observations: Iterable<Observation>): Statistics => {
  const counts = new Map<
    string,
    { provider: string; kind: IdentifierKind; field: Field; asked: number; found: Record<Verdict, number> }
  >()
  for (const { fields, kind, outcome, provider } of observations) {
    if (outcome._tag !== "Found" && outcome._tag !== "NotFound") continue
    const best = new Map<Field, Verdict>()
    for (const candidate of candidatesOf(outcome)) {
      const had = best.get(candidate.field)
      if (had === undefined || verdictRank[candidate.verdict] < verdictRank[had]) {
        best.set(candidate.field, candidate.verdict)
      }
    }
    for (const field of new Set(fields)) {
      const key = keyOf(provider, field, kind)
      let entry = counts.get(key)
      if (entry === undefined) {
        entry = { provider, kind, field, asked: 0, found: noVerdicts() }
        counts.set(key, entry)
      }
      entry.asked++
      const verdict = best.get(field)
      if (verdict !== undefined) entry.found[verdict]++
    }
  }
  return [...counts.values()]
}

/** Both sets of counts added up (e.g. the history, and what a run has seen since it started). */
export const combine = (a: Statistics, b: Statistics): Statistics => {
  const out = new Map<string, Counts>()
  for (const c of [...a, ...b]) {
    const key = keyOf(c.provider, c.field, c.kind)
    const had = out.get(key)
    if (had === undefined) {
      out.set(key, { ...c, found: { ...c.found } })
      continue
    }
    const found = noVerdicts()
    for (const v of Object.keys(found) as Array<Verdict>) found[v] = had.found[v] + c.found[v]
    out.set(key, { ...had, asked: had.asked + c.asked, found })
  }
  return [...out.values()]
}

// ---------------------------------------------------------------------------------------------------------------
// Priors
// ---------------------------------------------------------------------------------------------------------------

/** What one ask for one field is expected to give before anything is observed. */
export interface Prior {
  /** the chance of a value */
  readonly found: number
  /** the verdicts of the values found, as shares (summing to 1) */
  readonly verdicts: Readonly<Record<Verdict, number>>
}

/** @since 0.1.0 @category Models */
export interface Priors {
  /** how many observations a prior is worth: a little history outweighs it */
  readonly strength: number
  readonly fallback: Readonly<Record<Field, Prior>>
  readonly byProvider: Readonly<Record<string, Partial<Readonly<Record<Field, Prior>>>>>
}

const mostlyValid = { valid: 0.75, risky: 0.1, unknown: 0.1, invalid: 0.05 } as const
const verified = { valid: 1, risky: 0, unknown: 0, invalid: 0 } as const

/**
 * INFERRED: none of the providers publishes hit rates (see `/shared/providers/`), so every provider starts alike:
 * a work email for half the people, a personal email or a phone for a third, mostly `valid`; phones are `valid`
 * when E.164. What the references do say: TheHog returns only verified emails ("array of verified email
 * addresses"). Worth 4 observations, so the ledger's history takes over after a few chunks.
 *
 * @since 0.1.0 @category Models
 */
export const referencePriors: Priors = {
  strength: 4,
  fallback: {
    work_email: { found: 0.5, verdicts: mostlyValid },
    personal_email: { found: 0.33, verdicts: mostlyValid },
    phone: { found: 0.33, verdicts: { valid: 0.95, risky: 0, unknown: 0.05, invalid: 0 } }
  },
  byProvider: {
    thehog: {
      work_email: { found: 0.5, verdicts: verified },
      personal_email: { found: 0.33, verdicts: verified }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Rates
// ---------------------------------------------------------------------------------------------------------------

/**
 * What one ask of `provider` for `field` about a person of `kind` gives: Dirichlet parameters over an accepted
 * value (the stop policy's), a value not accepted, and nothing; `observed`: how many asks the history holds.
 *
 * @since 0.1.0 @category Models
 */
export interface Rate {
  readonly provider: string
  readonly field: Field
  readonly kind: IdentifierKind
  readonly observed: number
  readonly alpha: readonly [accepted: number, other: number, none: number]
}

/** The chance of an accepted value (the hit rate that decides the order). */
export const hitRate = (rate: Rate): number => rate.alpha[0] / (rate.alpha[0] + rate.alpha[1] + rate.alpha[2])

/** The chance of any value, accepted or not (what per-value billing charges for). */
export const foundRate = (rate: Rate): number =>
  (rate.alpha[0] + rate.alpha[1]) / (rate.alpha[0] + rate.alpha[1] + rate.alpha[2])

/** How rates are read: the stop policy (what counts as accepted) and the priors. */
export interface RateOptions {
  readonly policy?: StopPolicy
  readonly priors?: Priors
}

/** A lookup of every provider × field × kind's rate, from the statistics and the priors. */
export type Rates = (provider: string, field: Field, kind: IdentifierKind) => Rate

/** @since 0.1.0 @category Constructors */
export const ratesOf = (statistics: Statistics, options: RateOptions = {}): Rates => {
  const policy = options.policy ?? defaultStopPolicy
  const priors = options.priors ?? referencePriors
  const index = new Map(combine([], statistics).map((c) => [keyOf(c.provider, c.field, c.kind), c]))
  const accepted = (field: Field, verdict: Verdict) =>
    verdict !== "invalid" && verdictRank[verdict] <= verdictRank[policy.acceptAtLeast[field]]
  return (provider, field, kind) => {
    const prior = priors.byProvider[provider]?.[field] ?? priors.fallback[field]
    let priorAccepted = 0
    for (const v of Object.keys(prior.verdicts) as Array<Verdict>) {
      if (accepted(field, v)) priorAccepted += prior.verdicts[v]
    }
    const s = priors.strength
    const counts = index.get(keyOf(provider, field, kind))
    let seenAccepted = 0
    let seenFound = 0
    if (counts !== undefined) {
      for (const v of Object.keys(counts.found) as Array<Verdict>) {
        seenFound += counts.found[v]
        if (accepted(field, v)) seenAccepted += counts.found[v]
      }
    }
    const asked = counts?.asked ?? 0
    return {
      provider,
      field,
      kind,
      observed: asked,
      alpha: [
        s * prior.found * priorAccepted + seenAccepted,
        s * prior.found * (1 - priorAccepted) + (seenFound - seenAccepted),
        s * (1 - prior.found) + (asked - seenFound)
      ]
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Billing
// ---------------------------------------------------------------------------------------------------------------

/** What a provider can do, as the cost model reads it. */
export type Offer = Pick<Capabilities, "provider" | "identifierKinds" | "fields" | "cost">

/** What one person costs at `provider`, asked `asked`, when the fields `delivered` came back with a value. */
export const charge = (provider: Offer, asked: ReadonlyArray<Field>, delivered: ReadonlyArray<Field>): number => {
  if (asked.length === 0) return 0
  if (provider.cost.billing === "per-request") return provider.cost.maxPerPerson(asked, "batch")
  return delivered.length === 0 ? 0 : provider.cost.maxPerPerson(delivered, "batch")
}

/**
 * Expected credits per value found for one field alone: what asking for it is expected to cost under the
 * provider's billing, over the chance of an accepted value.
 */
export interface FieldPrice {
  readonly provider: string
  readonly hitRate: number
  readonly foundRate: number
  /** expected credits of one ask for this field alone */
  readonly askCost: number
  readonly costPerValue: number
  /** asks observed in the history (0: the prior alone) */
  readonly observed: number
}

/** @since 0.1.0 @category Combinators */
export const fieldPrice = (provider: Offer, field: Field, kind: IdentifierKind, rates: Rates): FieldPrice => {
  const rate = rates(provider.provider, field, kind)
  const hit = hitRate(rate)
  const found = foundRate(rate)
  const price = charge(provider, [field], [field])
  const askCost = provider.cost.billing === "per-request" ? price : price * found
  return {
    provider: provider.provider,
    hitRate: hit,
    foundRate: found,
    askCost,
    costPerValue: hit > 0 ? askCost / hit : Infinity,
    observed: rate.observed
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One person's way through the waterfall
// ---------------------------------------------------------------------------------------------------------------

/** Chances per asked field: [accepted, a value not accepted]. */
type Chances = (provider: string, field: Field) => readonly [number, number]

interface PersonCost {
  readonly mean: number
  readonly variance: number
  readonly byProvider: ReadonlyMap<string, number>
  /** the chance that each field ends with an accepted value */
  readonly accepted: ReadonlyArray<number>
}

/**
 * The exact distribution of what one person of `kind` costs when `sequence` is asked in order, each provider for
 * the fields it offers that are still missing: states are the sets of fields still missing, each carrying its
 * probability and the first two moments of the credits spent so far.
 */
const personCost = (
  sequence: ReadonlyArray<Offer>,
  fields: ReadonlyArray<Field>,
  kind: IdentifierKind,
  chances: Chances
): PersonCost => {
  const all = (1 << fields.length) - 1
  // per state (bit i set: fields[i] still missing): probability, Σ p·cost, Σ p·cost²
  let p = new Float64Array(all + 1)
  let m1 = new Float64Array(all + 1)
  let m2 = new Float64Array(all + 1)
  p[all] = 1
  const byProvider = new Map<string, number>()
  for (const provider of sequence) {
    if (!provider.identifierKinds.includes(kind)) continue
    const np = new Float64Array(all + 1)
    const n1 = new Float64Array(all + 1)
    const n2 = new Float64Array(all + 1)
    let spent = 0
    for (let state = 0; state <= all; state++) {
      const ps = p[state]!
      if (ps === 0) continue
      const asked = fields.filter((f, i) => (state & (1 << i)) !== 0 && provider.fields.includes(f))
      if (asked.length === 0) {
        np[state]! += ps
        n1[state]! += m1[state]!
        n2[state]! += m2[state]!
        continue
      }
      const odds = asked.map((f) => chances(provider.provider, f))
      // every combination of what each asked field gives: 0 accepted, 1 a value not accepted, 2 nothing
      const combos = 3 ** asked.length
      for (let combo = 0; combo < combos; combo++) {
        let q = 1
        let next = state
        const delivered: Array<Field> = []
        let c = combo
        for (let j = 0; j < asked.length; j++) {
          const outcome = c % 3
          c = Math.floor(c / 3)
          const [accepted, other] = odds[j]!
          q *= outcome === 0 ? accepted : outcome === 1 ? other : 1 - accepted - other
          if (outcome !== 2) delivered.push(asked[j]!)
          if (outcome === 0) next &= ~(1 << fields.indexOf(asked[j]!))
        }
        if (q === 0) continue
        const x = charge(provider, asked, delivered)
        np[next]! += ps * q
        n1[next]! += q * (m1[state]! + ps * x)
        n2[next]! += q * (m2[state]! + 2 * x * m1[state]! + ps * x * x)
        spent += ps * q * x
      }
    }
    byProvider.set(provider.provider, (byProvider.get(provider.provider) ?? 0) + spent)
    p = np
    m1 = n1
    m2 = n2
  }
  let mean = 0
  let second = 0
  const accepted = fields.map(() => 0)
  for (let state = 0; state <= all; state++) {
    mean += m1[state]!
    second += m2[state]!
    fields.forEach((_, i) => {
      if ((state & (1 << i)) === 0) accepted[i]! += p[state]!
    })
  }
  return { mean, variance: Math.max(0, second - mean * mean), byProvider, accepted }
}

const chancesOf = (rates: Rates, kind: IdentifierKind): Chances => (provider, field) => {
  const rate = rates(provider, field, kind)
  const sum = rate.alpha[0] + rate.alpha[1] + rate.alpha[2]
  return [rate.alpha[0] / sum, rate.alpha[1] / sum]
}

/**
 * The variance of one person's expected cost that comes from not knowing the rates exactly: the cost's gradient
 * over each rate's two chances (by finite differences) against their Dirichlet covariance.
 */
const rateVariance = (
  sequence: ReadonlyArray<Offer>,
  fields: ReadonlyArray<Field>,
  kind: IdentifierKind,
  rates: Rates,
  base: number
): number => {
  const h = 1e-4
  const chances = chancesOf(rates, kind)
  let variance = 0
  for (const provider of sequence) {
    if (!provider.identifierKinds.includes(kind)) continue
    for (const field of fields) {
      if (!provider.fields.includes(field)) continue
      const rate = rates(provider.provider, field, kind)
      const [a, o, n] = rate.alpha
      const a0 = a + o + n
      const nudged = (which: 0 | 1) =>
        personCost(sequence, fields, kind, (p, f) => {
          const [pa, po] = chances(p, f)
          if (p !== provider.provider || f !== field) return [pa, po]
          return which === 0 ? [pa + h, po] : [pa, po + h]
        }).mean
      const ga = (nudged(0) - base) / h
      const go = (nudged(1) - base) / h
      const scale = a0 * a0 * (a0 + 1)
      const va = (a * (a0 - a)) / scale
      const vo = (o * (a0 - o)) / scale
      const cov = -(a * o) / scale
      variance += ga * ga * va + go * go * vo + 2 * ga * go * cov
    }
  }
  return Math.max(0, variance)
}

// ---------------------------------------------------------------------------------------------------------------
// Expected spend
// ---------------------------------------------------------------------------------------------------------------

/**
 * What a list is expected to cost in this order, with a range: the expected credits ± `z` standard deviations
 * (default 1.96, about 95%), from both the people's own chances (a binomial spread per person) and the
 * uncertainty of the rates (wide when little history backs them).
 *
 * @since 0.1.0 @category Models
 */
export interface Spend {
  readonly people: number
  readonly expected: number
  readonly low: number
  readonly high: number
  readonly byProvider: ReadonlyArray<{ readonly provider: string; readonly expected: number }>
  /** people expected to end with an accepted value, per field */
  readonly accepted: ReadonlyArray<{ readonly field: Field; readonly expected: number }>
}

/** How many distinct people of each identifier kind a list holds. */
export type PeopleByKind = ReadonlyMap<IdentifierKind, number>

/** @since 0.1.0 @category Combinators */
export const expectedSpend = (
  sequence: ReadonlyArray<Offer>,
  fields: ReadonlyArray<Field>,
  peopleByKind: PeopleByKind,
  rates: Rates,
  options: { readonly z?: number } = {}
): Spend => {
  const z = options.z ?? 1.96
  let people = 0
  let expected = 0
  let variance = 0
  const byProvider = new Map<string, number>(sequence.map((p) => [p.provider, 0]))
  const accepted = fields.map(() => 0)
  for (const [kind, n] of peopleByKind) {
    if (n <= 0) continue
    people += n
    const person = personCost(sequence, fields, kind, chancesOf(rates, kind))
    expected += n * person.mean
    // people are independent given the rates; the rates are shared by everyone of the kind
    variance += n * person.variance + n * n * rateVariance(sequence, fields, kind, rates, person.mean)
    for (const [provider, credits] of person.byProvider) {
      byProvider.set(provider, (byProvider.get(provider) ?? 0) + n * credits)
    }
    person.accepted.forEach((chance, i) => accepted[i]! += n * chance)
  }
  const sd = Math.sqrt(variance)
  return {
    people,
    expected,
    low: Math.max(0, expected - z * sd),
    high: expected + z * sd,
    byProvider: [...byProvider].map(([provider, credits]) => ({ provider, expected: credits })),
    accepted: fields.map((field, i) => ({ field, expected: accepted[i]! }))
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Choosing the order
// ---------------------------------------------------------------------------------------------------------------

/** The order chosen for one identifier kind, and the numbers behind it. */
export interface KindOrder {
  readonly kind: IdentifierKind
  /** the providers that take this kind, in the order they are asked */
  readonly providers: ReadonlyArray<string>
  /** expected credits per person in this order, and in the given one */
  readonly expectedPerPerson: number
  readonly givenPerPerson: number
  /** per field, the providers that offer it in the order asked, with their expected cost per value found */
  readonly fields: ReadonlyArray<{ readonly field: Field; readonly providers: ReadonlyArray<FieldPrice> }>
}

/**
 * The order `auto` chose: `providers` is the one sequence every person follows (the waterfall's stages), each
 * kind asking the providers of it that take the kind.
 *
 * @since 0.1.0 @category Models
 */
export interface OrderChoice {
  readonly providers: ReadonlyArray<string>
  /** the order given by the user */
  readonly given: ReadonlyArray<string>
  readonly byKind: ReadonlyArray<KindOrder>
  /** asks in the history the choice learnt from (0: the priors alone) */
  readonly observed: number
}

/** Beyond this many providers, orders are ranked greedily instead of all tried. */
const exhaustiveUpTo = 7

const permutations = <A>(items: ReadonlyArray<A>): Array<Array<A>> => {
  if (items.length <= 1) return [[...items]]
  const out: Array<Array<A>> = []
  items.forEach((item, i) => {
    for (const rest of permutations([...items.slice(0, i), ...items.slice(i + 1)])) out.push([item, ...rest])
  })
  return out
}

/**
 * The order of least expected cost. Every person goes through the waterfall's providers in one order (people
 * move forward from provider to provider), so per identifier kind the providers that take it are asked in that
 * order, and the order minimises the expected credits over all kinds (weighed by `peopleByKind`, else alike) and
 * all fields together: where fields rank providers alike it is their order by expected cost per value found;
 * where they disagree, the bundling of the billing (Fiber's cap on all fields, TheHog's one price for both
 * emails) decides. Ties keep the given order. Fill is the same in any order: every provider that may have a
 * missing field is still asked for it.
 *
 * @since 0.1.0 @category Combinators
 */
export const chooseOrder = (
  providers: ReadonlyArray<Offer>,
  fields: ReadonlyArray<Field>,
  statistics: Statistics,
  options: RateOptions & { readonly peopleByKind?: PeopleByKind } = {}
): OrderChoice => {
  const rates = ratesOf(statistics, options)
  const kinds = options.peopleByKind !== undefined
    ? [...options.peopleByKind].filter(([, n]) => n > 0)
    : [...new Set(providers.flatMap((p) => p.identifierKinds))].map((kind) => [kind, 1] as const)
  // the most common kind first (as reported)
  const served = kinds.filter(([kind]) =>
    providers.some((p) => p.identifierKinds.includes(kind) && fields.some((f) => p.fields.includes(f)))
  ).sort((a, b) => b[1] - a[1])
  const perPerson = (sequence: ReadonlyArray<Offer>, kind: IdentifierKind) =>
    personCost(sequence, fields, kind, chancesOf(rates, kind)).mean
  const total = (sequence: ReadonlyArray<Offer>) =>
    served.reduce((sum, [kind, n]) => sum + n * perPerson(sequence, kind), 0)

  let best: ReadonlyArray<Offer> = providers
  if (providers.length <= exhaustiveUpTo) {
    // the given order first, so that only a strictly cheaper order replaces it
    let bestCost = total(providers)
    for (const sequence of permutations(providers)) {
      const cost = total(sequence)
      if (cost < bestCost - 1e-9) {
        best = sequence
        bestCost = cost
      }
    }
  } else {
    const score = (p: Offer) =>
      served.reduce(
        (sum, [kind, n]) =>
          sum + n * fields.filter((f) => p.fields.includes(f) && p.identifierKinds.includes(kind))
              .reduce((s, f) => s + Math.min(fieldPrice(p, f, kind, rates).costPerValue, 1e9), 0),
        0
      )
    best = [...providers].sort((a, b) => score(a) - score(b))
  }
  const observed = combine([], statistics)
    .filter((c) => providers.some((p) => p.provider === c.provider) && fields.includes(c.field))
    .reduce((n, c) => n + c.asked, 0)
  return {
    providers: best.map((p) => p.provider),
    given: providers.map((p) => p.provider),
    observed,
    byKind: served.map(([kind]) => {
      const takes = best.filter((p) => p.identifierKinds.includes(kind))
      return {
        kind,
        providers: takes.map((p) => p.provider),
        expectedPerPerson: perPerson(best, kind),
        givenPerPerson: perPerson(providers, kind),
        fields: fields.map((field) => ({
          field,
          providers: takes.filter((p) => p.fields.includes(field)).map((p) => fieldPrice(p, field, kind, rates))
        }))
      }
    })
  }
}

/** Providers in a chosen order (those the choice does not name keep their place at the end). */
export const inOrder = <A extends { readonly provider: string }>(
  providers: ReadonlyArray<A>,
  order: ReadonlyArray<string>
): Array<A> => {
  const rank = (p: A) => {
    const i = order.indexOf(p.provider)
    return i === -1 ? order.length : i
  }
  return [...providers].sort((a, b) => rank(a) - rank(b))
}
