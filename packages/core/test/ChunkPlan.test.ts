import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as ChunkPlan from "../src/ChunkPlan.js"
import type { JobPacing } from "../src/ContactProvider.js"

const fiber: JobPacing = { startsPerMinute: 30, firstMillis: 5_000, perPersonMillis: 250 }
const sum = (sizes: ReadonlyArray<number>) => sizes.reduce((a, b) => a + b, 0)

/** When the last chunk ends if chunk i starts in minute floor(i / startsPerMinute), as the start limit allows. */
const makespan = (pacing: JobPacing, sizes: ReadonlyArray<number>) =>
  Math.max(
    ...sizes.map((size, i) => Math.floor(i / pacing.startsPerMinute) * 60_000 + ChunkPlan.jobMillis(pacing, size))
  )

describe("ChunkPlan", () => {
  it("without pacing: full chunks of the cap, the rest last", () => {
    assert.deepStrictEqual(ChunkPlan.chunkSizes(4500, 2000, undefined), [2000, 2000, 500])
    assert.deepStrictEqual(ChunkPlan.chunkSizes(0, 2000, undefined), [])
  })

  it("paced: 20,000 people over two minutes of starts, earlier chunks larger, ending at the bound", () => {
    const sizes = ChunkPlan.chunkSizes(20_000, 2000, fiber)
    assert.strictEqual(sum(sizes), 20_000)
    // full chunks of 2000 would take 10 starts and ~500 s; the bound for 30 starts a minute is ~118 s
    const bound = ChunkPlan.earliestFinish(fiber, 2000, 20_000)
    assert.isBelow(bound, 120_000)
    assert.isAbove(bound, 100_000)
    assert.isAtMost(makespan(fiber, sizes), bound)
    assert.isAbove(sizes[0]!, sizes[sizes.length - 1]!)
    assert.isAbove(sizes.length, 30)
  })

  it("paced: small lists are not cut below one results page per chunk", () => {
    assert.deepStrictEqual(ChunkPlan.chunkSizes(250, 2000, fiber), [100, 100, 50])
    assert.deepStrictEqual(ChunkPlan.chunkSizes(40, 2000, fiber), [40])
  })

  it("paced: every person planned once, no chunk above the cap, no later chunk larger than an earlier one", () =>
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: 1, max: 300_000 }),
        FastCheck.integer({ min: 100, max: 2000 }),
        (people, cap) => {
          const sizes = ChunkPlan.chunkSizes(people, cap, fiber)
          assert.strictEqual(sum(sizes), people)
          assert.isTrue(sizes.every((s) => s > 0 && s <= cap))
          assert.isTrue(sizes.every((s, i) => i === 0 || s <= sizes[i - 1]!))
          // the bound, give or take the floor of one results page a chunk
          const slack = (Math.min(ChunkPlan.minChunk, cap) - 1) * fiber.perPersonMillis
          assert.isAtMost(makespan(fiber, sizes), ChunkPlan.earliestFinish(fiber, cap, people) + slack)
          assert.isTrue(sizes.slice(0, -1).every((s) => s >= Math.min(ChunkPlan.minChunk, cap)))
        }
      ),
      { numRuns: 200 }
    ))

  it("a run's four parts at once, each on its share of the starts, keep to the limit and end near the run's bound", () => {
    const parts = [0, 1, 2, 3].map((index) => ChunkPlan.plan(5_000, 2000, fiber, { index, of: 4 }))
    assert.strictEqual(sum(parts.flat().map((p) => p.size)), 20_000)
    // in every minute the parts' starts add up to the limit, not more (the last minute: what is left)
    const windows = Math.max(...parts.flat().map((p) => p.window))
    for (let window = 0; window < windows; window++) {
      assert.strictEqual(parts.flat().filter((p) => p.window === window).length, fiber.startsPerMinute)
    }
    const ends = parts.flat().map((p) =>
      ChunkPlan.windowStartMillis(fiber, p.window) + ChunkPlan.jobMillis(fiber, p.size)
    )
    const bound = ChunkPlan.earliestFinish(fiber, 2000, 20_000)
    assert.isAtMost(Math.max(...ends), bound + (ChunkPlan.minChunk - 1) * fiber.perPersonMillis)
    // planned alone, each part would take every start: twice the starts of the shared plan, and later ends
    const alone = ChunkPlan.chunkSizes(5_000, 2000, fiber)
    assert.isAbove(4 * alone.length, 1.5 * parts.flat().length)
  })

  it("four parts that start together split the starts unevenly and end at the run's bound, not 2 s after", () => {
    const even = [0, 1, 2, 3].map((index) => ChunkPlan.plan(5_000, 2000, fiber, { index, of: 4 }))
    const shared = [0, 1, 2, 3].map((index) => ChunkPlan.plan(5_000, 2000, fiber, { index, of: 4, people: 5_000 }))
    const lastEnd = (parts: ReadonlyArray<ReadonlyArray<ChunkPlan.Planned>>) =>
      Math.max(
        ...parts.flat().map((p) => ChunkPlan.windowStartMillis(fiber, p.window) + ChunkPlan.jobMillis(fiber, p.size))
      )
    const bound = ChunkPlan.earliestFinish(fiber, 2000, 20_000)
    assert.strictEqual(sum(shared.flat().map((p) => p.size)), 20_000)
    for (const parts of [even, shared]) {
      for (let window = 0; window <= 1; window++) {
        assert.strictEqual(parts.flat().filter((p) => p.window === window).length, fiber.startsPerMinute)
      }
    }
    // 30 starts do not divide by 4: evenly, two parts get 7 of the first minute's long jobs and end 2 s late
    assert.isAbove(lastEnd(even), bound + 1_500)
    assert.isAtMost(lastEnd(shared), bound + 500)
  })

  it("parts that share a split keep every minute within the limit, whatever their own people", () =>
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: 100, max: 20_000 }),
        FastCheck.integer({ min: 2, max: 6 }),
        FastCheck.array(FastCheck.integer({ min: 0, max: 100 }), { minLength: 6, maxLength: 6 }),
        (perPart, of, fewer) => {
          // each part has up to `perPart` people (a shard's rows, less its duplicates and rejected rows)
          const parts = Array.from({ length: of }, (_, index) =>
            ChunkPlan.plan(Math.max(1, perPart - fewer[index]!), 2000, fiber, { index, of, people: perPart }))
          const windows = Math.max(
            ...parts.flat().map((p) =>
              p.window
            )
          )
          for (let window = 0; window <= windows; window++) {
            assert.isAtMost(parts.flat().filter((p) => p.window === window).length, fiber.startsPerMinute)
          }
          // and never later than the even split
          const even = Array.from({ length: of }, (_, index) => ChunkPlan.plan(perPart, 2000, fiber, { index, of }))
          const lastEnd = (planned: ReadonlyArray<ReadonlyArray<ChunkPlan.Planned>>) =>
            Math.max(
              ...planned.flat().map((p) =>
                ChunkPlan.windowStartMillis(fiber, p.window) + ChunkPlan.jobMillis(fiber, p.size)
              )
            )
          const shared = Array.from({ length: of }, (_, index) =>
            ChunkPlan.plan(perPart, 2000, fiber, { index, of, people: perPart }))
          assert.isAtMost(lastEnd(shared), lastEnd(even) + (ChunkPlan.minChunk - 1) * fiber.perPersonMillis)
        }
      ),
      { numRuns: 100 }
    ))

  it("useful concurrency covers every start while a full job runs", () => {
    // a job of 2000 takes 5 s + 1999 × 0.25 s ≈ 505 s: 9 minutes of starts, plus the current one
    assert.strictEqual(ChunkPlan.usefulConcurrency(fiber, 2000), 30 * 10)
  })
})
