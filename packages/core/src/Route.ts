/**
 * Where a person goes next in the waterfall, from what is known of them so far: the first provider in the
 * user's order that takes their identifier kind, offers a field they still miss under the stop policy, and has
 * not answered them yet. Pure, so that the waterfall, a resume and an export of a run in progress agree on who
 * is done and who is still on the way.
 *
 * @since 0.1.0
 */
import type { Field } from "./Contact.js"
import type { Capabilities, Person } from "./ContactProvider.js"
import type { PersonKey } from "./Identifier.js"
import type { RunOutcome, SetAside } from "./Journal.js"
import { defaultStopPolicy, merge, type Merged, missingFields, type StopPolicy } from "./Merge.js"
import { providerOf, type ProviderOutcome } from "./PersonResult.js"

/** The waterfall's order and what each stop in it can do. */
export interface Plan {
  readonly providers: ReadonlyArray<Pick<Capabilities, "provider" | "identifierKinds" | "fields">>
  readonly fields: ReadonlyArray<Field>
  readonly policy?: StopPolicy
}

/** The next stop for a person: a provider (by index in the plan) and the fields to ask it for. */
export interface Stop {
  readonly index: number
  readonly provider: string
  readonly fields: readonly [Field, ...Array<Field>]
}

/**
 * One outcome per provider, the best a person has there (a `Found` over anything else, else the latest), in
 * the plan's order; outcomes of providers outside the plan are dropped.
 */
export const bestPerProvider = (
  plan: Plan,
  outcomes: Iterable<ProviderOutcome>
): ReadonlyArray<ProviderOutcome> => {
  const best = new Map<string, ProviderOutcome>()
  for (const outcome of outcomes) {
    const provider = providerOf(outcome)
    if (provider === undefined) continue
    const had = best.get(provider)
    if (had === undefined || had._tag !== "Found") best.set(provider, outcome)
  }
  return plan.providers.flatMap((p) => {
    const outcome = best.get(p.provider)
    return outcome === undefined ? [] : [outcome]
  })
}

/** The merged answer from a person's outcomes, providers ranked in the plan's order. */
export const mergedOf = (plan: Plan, key: PersonKey, outcomes: ReadonlyArray<ProviderOutcome>): Merged =>
  merge(key, outcomes, plan.providers.map((p) => p.provider))

/**
 * The first provider in the plan that this person should be sent to, given the providers that have answered
 * them (`answered`: provider names with an outcome, or that set them aside this attempt) and the merged answer
 * so far. Undefined: the person is done.
 */
export const next = (
  plan: Plan,
  person: Person,
  merged: Merged | undefined,
  answered: ReadonlySet<string>
): Stop | undefined => {
  const missing = missingFields(merged, plan.fields, plan.policy ?? defaultStopPolicy)
  if (missing.length === 0) return undefined
  for (let index = 0; index < plan.providers.length; index++) {
    const provider = plan.providers[index]!
    if (answered.has(provider.provider)) continue
    if (!provider.identifierKinds.includes(person.identifier.kind)) continue
    const fields = missing.filter((f) => provider.fields.includes(f))
    if (fields.length > 0) {
      return { index, provider: provider.provider, fields: fields as [Field, ...Array<Field>] }
    }
  }
  return undefined
}

/** What one person ended with at one provider: a journaled outcome (and its chunk), or why they were set aside. */
export type Ending =
  | { readonly _tag: "Outcome"; readonly outcome: ProviderOutcome; readonly chunk: string | undefined }
  | { readonly _tag: "SetAside"; readonly setAside: SetAside }

/**
 * The ending at each provider of the plan that met a person: their best outcome there (a `Found` over anything
 * else, else the latest), else what set them aside there; providers that never met them are absent.
 */
export const endingsOf = (
  plan: Plan,
  outcomes: ReadonlyArray<RunOutcome>,
  setAside: ReadonlyArray<SetAside>
): ReadonlyArray<{ readonly provider: string; readonly ending: Ending }> =>
  plan.providers.flatMap(({ provider }): Array<{ readonly provider: string; readonly ending: Ending }> => {
    let best: RunOutcome | undefined
    for (const o of outcomes) {
      if (o.provider === provider && (best === undefined || best.outcome._tag !== "Found")) best = o
    }
    if (best !== undefined) {
      return [{ provider, ending: { _tag: "Outcome", outcome: best.outcome, chunk: best.chunk } }]
    }
    const aside = setAside.find((s) => s.provider === provider)
    return aside === undefined ? [] : [{ provider, ending: { _tag: "SetAside", setAside: aside } }]
  })
