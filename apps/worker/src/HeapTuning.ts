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

// The young generation's size is fixed when V8 sets up the heap, so, unlike the settings above, it cannot be
// changed at run time: the `enrich` executable's shebang (`main.ts`: `#!/usr/bin/env -S node
// --max-semi-space-size=8`) starts node with it, and the benchmarks that start `dist/main.js` with node read the
// flags from that line. A semi-space of 8 MB instead of V8's 16: the run allocates fast and briefly (pages decoded,
// committed, dropped), and a young generation of twice 16 MB kept up to ~70 MB more resident for no speed. A
// 200,000-person run against the simulators (×6000, all three providers) peaked at 286 MB with the default, 229 MB
// at 8 MB and 219 MB at 4 MB, in 49, 54 and 58 s (CPU-bound at that time scale; at the providers' pace, not).
