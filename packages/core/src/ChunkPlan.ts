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

const capacityBy = (pacing: JobPacing, maxBatch: number, t: number, part: Part): number => {
  let done = 0
  for (let window = 0; window * minuteOf(pacing) + pacing.firstMillis <= t; window++) {
    done += startsIn(pacing, window, part) * perJobBy(pacing, maxBatch, window, t)
  }
  return done
}

/**
 * The earliest time (ms after the first start) by which jobs started at the pacing's rate (or a part's share of
 * it) can have finished `people`: the lower bound any client has under this model.
 */
export const earliestFinish = (pacing: JobPacing, maxBatch: number, people: number, part: Part = whole): number => {
  if (people <= 0) return 0
  let high = minuteOf(pacing)
  while (capacityBy(pacing, maxBatch, high, part) < people) high *= 2
  let low = 0
  while (low < high) {
    const mid = Math.floor((low + high) / 2)
    if (capacityBy(pacing, maxBatch, mid, part) >= people) high = mid
    else low = mid + 1
  }
  return low
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
  const finish = earliestFinish(pacing, maxBatch, people, part)
  let left = people
  for (let window = 0; left > 0; window++) {
    const fits = Math.max(perJobBy(pacing, maxBatch, window, finish), Math.min(minChunk, maxBatch))
    for (let start = 0; start < startsIn(pacing, window, part) && left > 0; start++) {
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
