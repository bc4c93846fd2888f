/**
 * How many people to put in each chunk sent to one provider. For a provider with an active-job cap, chunks of
 * its batch cap are best: the cap, not the chunk size, limits throughput. For one without a cap whose jobs work
 * through their people one after another (Fiber), job starts are the scarce resource: a few full jobs leave
 * most of the start budget unused while each job takes long, so the plan spreads the people over every start
 * the provider's limit allows, earlier starts taking more people because they run longer.
 *
 * @since 0.1.0
 */
import type { JobPacing } from "./ContactProvider.js"

/** The minute of a pacing's start limit, on the client's clock. */
const minuteOf = (pacing: JobPacing): number => pacing.minuteMillis ?? 60_000

/** Fewer people than one results page per job costs polls and journal rows for nothing. */
export const minChunk = 100

/** How long a job of `size` people takes under `pacing`, in ms. */
export const jobMillis = (pacing: JobPacing, size: number): number =>
  pacing.firstMillis + Math.max(0, size - 1) * pacing.perPersonMillis

/**
 * People that jobs started in the `window`-th minute can have finished by `t` ms after the first start, per
 * job (at most `maxBatch`).
 */
const perJobBy = (pacing: JobPacing, maxBatch: number, window: number, t: number): number => {
  const running = t - window * minuteOf(pacing) - pacing.firstMillis
  return running < 0 ? 0 : Math.min(maxBatch, Math.floor(running / pacing.perPersonMillis) + 1)
}

/**
 * One of the parts of a run worked at the same time (a worker's shards), planned on its share of a paced
 * provider's starts: `index` (from 0) of `of`.
 */
export interface Part {
  readonly index: number
  readonly of: number
  /**
   * When the parts start together (a run's last shards, all worked at once): the people every part is planned
   * for (the rows of a full shard), so that each computes the same uneven split of the starts (`shareStarts`)
   * whatever its own count. Absent: each part takes an even share of every minute's starts, which stays within
   * the limit however the parts' starts fall.
   */
  readonly people?: number | undefined
}

const whole: Part = { index: 0, of: 1 }

/**
 * A part's starts in the `window`-th minute: whole starts, its share spread evenly over the windows and offset by
 * its index, so that in every window the parts' starts add up to exactly the provider's (Hermite's identity).
 */
const startsIn = (pacing: JobPacing, window: number, part: Part): number => {
  const rate = pacing.startsPerMinute / part.of
  const offset = part.index / part.of
  return Math.floor((window + 1) * rate + offset) - Math.floor(window * rate + offset)
}

/** Starts per window: how many jobs may start in the `window`-th minute. */
type Starts = (window: number) => number

const capacityBy = (pacing: JobPacing, maxBatch: number, t: number, starts: Starts): number => {
  let done = 0
  for (let window = 0; window * minuteOf(pacing) + pacing.firstMillis <= t; window++) {
    done += starts(window) * perJobBy(pacing, maxBatch, window, t)
  }
  return done
}

/** The earliest `t` by which jobs started as `starts` allows can have finished `people`. */
const finishWith = (pacing: JobPacing, maxBatch: number, people: number, starts: Starts): number => {
  if (people <= 0) return 0
  let high = minuteOf(pacing)
  while (capacityBy(pacing, maxBatch, high, starts) < people) high *= 2
  let low = 0
  while (low < high) {
    const mid = Math.floor((low + high) / 2)
    if (capacityBy(pacing, maxBatch, mid, starts) >= people) high = mid
    else low = mid + 1
  }
  return low
}

/**
 * The earliest time (ms after the first start) by which jobs started at the pacing's rate (or a part's share of
 * it, split evenly) can have finished `people`: the lower bound any client has under this model.
 */
export const earliestFinish = (pacing: JobPacing, maxBatch: number, people: number, part: Part = whole): number =>
  finishWith(pacing, maxBatch, people, (window) => startsIn(pacing, window, part))

/** Beyond these, the search for a better split of the starts is not tried: the even split stands. */
const searchLimits = { windows: 4, patterns: 500 }

/**
 * The ways to cover `people` with jobs of `sizes[w]` people started in window w, at most `starts[w]` of them: one
 * pattern (starts per window) for each choice of the earlier windows' counts, the last window taking what covers
 * the rest. `undefined` when there are too many to search.
 */
const patternsFor = (people: number, sizes: ReadonlyArray<number>, starts: ReadonlyArray<number>) => {
  const found: Array<ReadonlyArray<number>> = []
  const extend = (window: number, left: number, counts: ReadonlyArray<number>): boolean => {
    if (found.length > searchLimits.patterns) return false
    if (left <= 0) {
      found.push([...counts, ...sizes.slice(window).map(() => 0)])
      return true
    }
    if (window === sizes.length) return true
    const size = sizes[window]!
    const most = size <= 0 ? 0 : Math.min(starts[window]!, Math.ceil(left / size))
    const least = window === sizes.length - 1 ? most : 0
    for (let n = least; n <= most; n++) if (!extend(window + 1, left - n * size, [...counts, n])) return false
    return true
  }
  return extend(0, people, []) ? found : undefined
}

/**
 * The starts of each window that each of `of` parts of `people` each takes, so that the last part ends as early
 * as can be found: two patterns (k parts take one, the rest the other) at the earliest time for which such a mix
 * fits the start limit. When the limit does not divide by the parts (30 starts, 4 parts), an even split gives
 * some parts 7 starts of the first minute, whose jobs run longest, and those parts end 2 s after the run's bound
 * (20,000 people); two parts taking 11 of the first minute and two taking 4 of it and 15 of the second end at it.
 * `undefined`: no mix ends before the even split.
 */
export const shareStarts = (
  pacing: JobPacing,
  maxBatch: number,
  people: number,
  of: number
): ReadonlyArray<ReadonlyArray<number>> | undefined => {
  if (of <= 1 || people <= 0) return undefined
  // every part of a worker asks the same: searched once (a few ms, up to ~100 ms for many parts and windows)
  const key = [
    pacing.startsPerMinute,
    pacing.firstMillis,
    pacing.perPersonMillis,
    minuteOf(pacing),
    maxBatch,
    people,
    of
  ]
    .join(" ")
  if (!searched.has(key)) {
    if (searched.size >= 64) searched.clear()
    searched.set(key, searchShare(pacing, maxBatch, people, of))
  }
  return searched.get(key)
}

/** `shareStarts`' answers by their question (a pure function's cache, bounded) */
const searched = new Map<string, ReadonlyArray<ReadonlyArray<number>> | undefined>()

const searchShare = (
  pacing: JobPacing,
  maxBatch: number,
  people: number,
  of: number
): ReadonlyArray<ReadonlyArray<number>> | undefined => {
  const mixAt = (t: number): ReadonlyArray<ReadonlyArray<number>> | undefined => {
    const windows = Math.floor((t - pacing.firstMillis) / minuteOf(pacing)) + 1
    if (windows < 1 || windows > searchLimits.windows) return undefined
    const sizes = Array.from({ length: windows }, (_, w) => perJobBy(pacing, maxBatch, w, t))
    const starts = Array.from({ length: windows }, (_, w) => startsIn(pacing, w, whole))
    const patterns = patternsFor(people, sizes, starts)
    if (patterns === undefined) return undefined
    for (const [i, one] of patterns.entries()) {
      for (const other of patterns.slice(i)) {
        for (let k = 1; k <= of; k++) {
          if (starts.every((limit, w) => k * one[w]! + (of - k) * other[w]! <= limit)) {
            return Array.from({ length: of }, (_, index) => (index < k ? one : other))
          }
        }
      }
    }
    return undefined
  }
  const even = Math.max(
    ...Array.from({ length: of }, (_, index) => earliestFinish(pacing, maxBatch, people, { index, of }))
  )
  // the earliest time a mix fits, between the run's bound and (just before) the even split's end
  let low = earliestFinish(pacing, maxBatch, people * of)
  let high = even - 1
  if (low > high || mixAt(high) === undefined) return undefined
  while (low < high) {
    const mid = Math.floor((low + high) / 2)
    if (mixAt(mid) !== undefined) high = mid
    else low = mid + 1
  }
  return mixAt(low)
}

/** When a planned chunk's window opens, in ms after the first start. */
export const windowStartMillis = (pacing: JobPacing, window: number): number => window * minuteOf(pacing)

/** A planned chunk: its size, and the minute (from the first start) in which it should start. */
export interface Planned {
  readonly size: number
  readonly window: number
}

/**
 * Chunks for `people`, in the order they should start. Without pacing (or when the provider caps active jobs, so
 * that chunks queue for a slot anyway): full chunks of `maxBatch`, all in the first window. With pacing: the sizes
 * that let every chunk end by `earliestFinish`, each at least `minChunk` (the last one may be smaller), as many in
 * each minute as the start limit (or the part's share of it) allows.
 */
export const plan = (
  people: number,
  maxBatch: number,
  pacing: JobPacing | undefined,
  part: Part = whole
): Array<Planned> => {
  const planned: Array<Planned> = []
  if (people <= 0) return planned
  if (pacing === undefined) {
    for (let left = people; left > 0; left -= Math.min(maxBatch, left)) {
      planned.push({ size: Math.min(maxBatch, left), window: 0 })
    }
    return planned
  }
  // the part's starts: its row of the shared split, else (or past the split's windows) its even share
  const shared = part.people === undefined
    ? undefined
    : shareStarts(pacing, maxBatch, part.people, part.of)?.[part.index]
  const starts: Starts = (window) =>
    shared !== undefined && window < shared.length ? shared[window]! : startsIn(pacing, window, part)
  const finish = finishWith(pacing, maxBatch, people, starts)
  let left = people
  for (let window = 0; left > 0; window++) {
    const fits = Math.max(perJobBy(pacing, maxBatch, window, finish), Math.min(minChunk, maxBatch))
    for (let start = 0; start < starts(window) && left > 0; start++) {
      const size = Math.min(fits, left)
      planned.push({ size, window })
      left -= size
    }
  }
  return planned
}

/** `plan`'s sizes alone. */
export const chunkSizes = (
  people: number,
  maxBatch: number,
  pacing: JobPacing | undefined,
  part: Part = whole
): Array<number> => plan(people, maxBatch, pacing, part).map((p) => p.size)

/**
 * How many chunks can usefully be in flight at once under `pacing`: every start of the minutes a full job
 * lasts. More would only hold budget reservations and journal rows for chunks waiting on the start limit.
 */
export const usefulConcurrency = (pacing: JobPacing, maxBatch: number): number =>
  pacing.startsPerMinute * (Math.ceil(jobMillis(pacing, maxBatch) / minuteOf(pacing)) + 1)
