/**
 * What the simulators observed, readable from tests and benchmarks: requests per endpoint, 429s sent,
 * how many times each person was submitted to each provider, and credits charged and refunded.
 */
export class Counters {
  readonly requests = new Map<string, number>()
  readonly rateLimited = new Map<string, number>()
  readonly submissions = new Map<string, Map<string, number>>()
  readonly charged = new Map<string, number>()
  readonly refunded = new Map<string, number>()

  request(endpoint: string): void {
    this.requests.set(endpoint, (this.requests.get(endpoint) ?? 0) + 1)
  }
  limited(endpoint: string): void {
    this.rateLimited.set(endpoint, (this.rateLimited.get(endpoint) ?? 0) + 1)
  }
  /** `person` is the provider's own notion of identity (e.g. the LinkedIn slug or the identifier value). */
  submitted(provider: string, person: string): void {
    let byPerson = this.submissions.get(provider)
    if (byPerson === undefined) this.submissions.set(provider, byPerson = new Map())
    byPerson.set(person, (byPerson.get(person) ?? 0) + 1)
  }
  charge(provider: string, credits: number): void {
    this.charged.set(provider, (this.charged.get(provider) ?? 0) + credits)
  }
  refund(provider: string, credits: number): void {
    this.refunded.set(provider, (this.refunded.get(provider) ?? 0) + credits)
  }

  requestsTo(endpoint: string): number {
    return this.requests.get(endpoint) ?? 0
  }
  totalRateLimited(prefix = ""): number {
    let total = 0
    for (const [endpoint, n] of this.rateLimited) if (endpoint.startsWith(prefix)) total += n
    return total
  }
  /** people submitted to `provider` more than once */
  resubmitted(provider: string): ReadonlyArray<string> {
    return [...(this.submissions.get(provider) ?? new Map<string, number>())].filter(([, n]) => n > 1).map(([p]) => p)
  }
  submissionsOf(provider: string, person: string): number {
    return this.submissions.get(provider)?.get(person) ?? 0
  }
  /** credits charged minus refunded */
  netCredits(provider: string): number {
    return (this.charged.get(provider) ?? 0) - (this.refunded.get(provider) ?? 0)
  }
  snapshot() {
    return {
      requests: Object.fromEntries(this.requests),
      rateLimited: Object.fromEntries(this.rateLimited),
      charged: Object.fromEntries(this.charged),
      refunded: Object.fromEntries(this.refunded),
      people: Object.fromEntries([...this.submissions].map(([p, m]) => [p, m.size]))
    }
  }
}
