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

const minuteMillis = 60_000

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
  const running = t - window * minuteMillis - pacing.firstMillis
  return running < 0 ? 0 : Math.min(maxBatch, Math.floor(running / pacing.perPersonMillis) + 1)
}

const capacityBy = (pacing: JobPacing, maxBatch: number, t: number): number => {
  let done = 0
  for (let window = 0; window * minuteMillis + pacing.firstMillis <= t; window++) {
    done += pacing.startsPerMinute * perJobBy(pacing, maxBatch, window, t)
  }
  return done
}

/**
 * The earliest time (ms after the first start) by which jobs started at the pacing's rate can have finished
 * `people`: the lower bound any client has under this model.
 */
export const earliestFinish = (pacing: JobPacing, maxBatch: number, people: number): number => {
  if (people <= 0) return 0
  let high = minuteMillis
  while (capacityBy(pacing, maxBatch, high) < people) high *= 2
  let low = 0
  while (low < high) {
    const mid = Math.floor((low + high) / 2)
    if (capacityBy(pacing, maxBatch, mid) >= people) high = mid
    else low = mid + 1
  }
  return low
}

/**
 * Chunk sizes for `people`, in the order the chunks should start. Without pacing (or when the provider caps
 * active jobs, so that chunks queue for a slot anyway): full chunks of `maxBatch`. With pacing: the sizes that
 * let every chunk end by `earliestFinish`, each at least `minChunk` (the last one may be smaller).
 */
export const chunkSizes = (
  people: number,
  maxBatch: number,
  pacing: JobPacing | undefined
): Array<number> => {
  const sizes: Array<number> = []
  if (people <= 0) return sizes
  if (pacing === undefined) {
    for (let left = people; left > 0; left -= Math.min(maxBatch, left)) sizes.push(Math.min(maxBatch, left))
    return sizes
  }
  const finish = earliestFinish(pacing, maxBatch, people)
  let left = people
  for (let window = 0; left > 0; window++) {
    const fits = Math.max(perJobBy(pacing, maxBatch, window, finish), Math.min(minChunk, maxBatch))
    for (let start = 0; start < pacing.startsPerMinute && left > 0; start++) {
      const size = Math.min(fits, left)
      sizes.push(size)
      left -= size
    }
  }
  return sizes
}

/**
 * How many chunks can usefully be in flight at once under `pacing`: every start of the minutes a full job
 * lasts. More would only hold budget reservations and journal rows for chunks waiting on the start limit.
 */
export const usefulConcurrency = (pacing: JobPacing, maxBatch: number): number =>
  pacing.startsPerMinute * (Math.ceil(jobMillis(pacing, maxBatch) / minuteMillis) + 1)
