/**
 * V8 settings for the worker process: a streaming workload (pages decoded, committed, dropped) that V8's
 * defaults size badly. Applied by the `enrich` executable at start, and by the benchmarks that measure it.
 *
 * @since 0.1.0
 */
import * as v8 from "node:v8"

/**
 * Turns off allocation-site pretenuring. V8 learns that some allocation sites (the decoders' object literals
 * among them) make objects that survive a scavenge or two, and from then on allocates their objects straight
 * in the old generation, where the ones that die young pile up until the next mark-compact. With it on, the
 * ingest benchmark (1M records) peaked at 192–289 MB RSS over a live heap of ~40 MB; off, 170–188 MB, at
 * the same speed (300k records, alternating runs).
 *
 * Set at run time because `node --no-allocation-site-pretenuring` cannot be put in NODE_OPTIONS or survive
 * `node main.js`. Node warns that flags changed after start may do nothing; this one is read by the GC at each
 * pretenuring decision, and the figures above were measured with it set this way. Call it before any work.
 *
 * @since 0.1.0 @category Runtime
 */
export const apply = (): void => {
  v8.setFlagsFromString("--no-allocation-site-pretenuring")
  v8.setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`)
}

/**
 * How far the old generation may grow past what the last full GC kept before the next one. V8 picks up to 4×
 * when collection looks cheap; a run's live heap is its work in flight (~90 MB at 100,000 people, flat as the
 * list grows), and at 4× the process held ~400 MB of garbage. 1.5× kept it near 2× the live heap. Read by the GC
 * at each full collection, so it applies when set at run time.
 */
const heapGrowingPercent = 50
