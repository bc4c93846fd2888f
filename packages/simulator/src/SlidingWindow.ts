/**
 * A sliding-window request counter in provider time, as providers enforce "N requests per minute".
 */
export interface Admission {
  readonly allowed: boolean
  readonly limit: number
  readonly remaining: number
  /** milliseconds (provider time) until the oldest counted request leaves the window */
  readonly resetMillis: number
}

export class SlidingWindow {
  private readonly hits: Array<number> = []
  constructor(readonly limit: number, readonly windowMillis: number) {}

  admit(now: number): Admission {
    while (this.hits.length > 0 && this.hits[0]! <= now - this.windowMillis) this.hits.shift()
    const allowed = this.hits.length < this.limit
    if (allowed) this.hits.push(now)
    const oldest = this.hits[0] ?? now
    return {
      allowed,
      limit: this.limit,
      remaining: Math.max(0, this.limit - this.hits.length),
      resetMillis: Math.max(0, oldest + this.windowMillis - now)
    }
  }
}
