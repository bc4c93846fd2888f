/**
 * Deterministic hashing and pseudo-random numbers: the simulator must give the same universe and the same
 * fault sequence for the same seed, run after run.
 */

/** 32-bit FNV-1a of a string, mixed (murmur finaliser) so nearby inputs spread well. */
export const hash32 = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A number in [0, 1) fixed by its parts. */
export const unit = (...parts: ReadonlyArray<string | number>): number => hash32(parts.join("|")) / 4294967296

/** mulberry32: a small, fast, seedable generator for fault decisions taken in request order. */
export const generator = (seed: number): () => number => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
