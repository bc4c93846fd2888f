/**
 * Per-provider tallies of a run, counted once per person when the person is done (every person is done exactly
 * once per run attempt, a resumed run's earlier ones included, as recovery walks everyone), so nothing here
 * grows with the list: `found + notFound + failed + rejected = requested`.
 */
import type { Ending } from "../../Route.js"

export interface Counts {
  requested: number
  cached: number
  found: number
  notFound: number
  failed: number
  rejected: number
  /** reason → people and the chunks they failed in */
  readonly reasons: Map<string, { people: number; chunks: Set<string> }>
}

export interface Tally {
  /** one person's ending at one provider */
  readonly count: (provider: string, ending: Ending) => void
  readonly counts: (provider: string) => Counts
}

const emptyCounts = (): Counts => ({
  requested: 0,
  cached: 0,
  found: 0,
  notFound: 0,
  failed: 0,
  rejected: 0,
  reasons: new Map()
})

export const make = (): Tally => {
  const byProvider = new Map<string, Counts>()
  const counts = (provider: string) => {
    let c = byProvider.get(provider)
    if (c === undefined) {
      c = emptyCounts()
      byProvider.set(provider, c)
    }
    return c
  }
  const fail = (c: Counts, reason: string, chunk: string | undefined) => {
    c.failed++
    const group = c.reasons.get(reason) ?? { people: 0, chunks: new Set<string>() }
    group.people++
    if (chunk !== undefined) group.chunks.add(chunk)
    c.reasons.set(reason, group)
  }
  return {
    counts,
    count: (provider, ending) => {
      const c = counts(provider)
      if (ending._tag === "SetAside") {
        // never sent for the budget: not asked (the run's `unsentForBudget` counts them)
        if (ending.setAside.kind === "budget") return
        c.requested++
        return fail(c, ending.setAside.reason, ending.setAside.chunk)
      }
      c.requested++
      if (ending.chunk === undefined) c.cached++
      const { outcome } = ending
      if (outcome._tag === "Found") c.found++
      else if (outcome._tag === "NotFound") c.notFound++
      else if (outcome._tag === "Rejected") c.rejected++
      else fail(c, outcome.reason, ending.chunk)
    }
  }
}
