import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as SimulatorFaults from "../src/SimulatorFaults.js"

describe("enrich simulate --faults", () => {
  it("reads the documented mix: rates, a factor, knobs whose value is implied", () => {
    const mix = Either.getOrThrow(SimulatorFaults.parse(
      "5xx=0.3,429=0.4,truncated=0.3,malformed=0.3,failed-jobs=0.5,expired-links,slow=10,unknown-enums"
    ))
    const expected = {
      serverErrorRate: 0.3,
      rateLimitRate: 0.4,
      truncatedRate: 0.3,
      malformedRate: 0.3,
      failJobRate: 0.5,
      slowJobFactor: 10,
      unknownEnumRate: 0.2
    }
    for (const provider of ["fiber", "crustdata", "thehog"] as const) {
      assert.deepStrictEqual(mix.faults[provider], expected)
    }
    assert.strictEqual(mix.expiredLinks, 3)
  })

  it("limits a knob to one provider with a prefix", () => {
    const mix = Either.getOrThrow(SimulatorFaults.parse("thehog:429=0.5, expired-links=7"))
    assert.deepStrictEqual(mix.faults, { thehog: { rateLimitRate: 0.5 } })
    assert.strictEqual(mix.expiredLinks, 7)
    assert.deepStrictEqual(Either.getOrThrow(SimulatorFaults.parse("")), { faults: {}, expiredLinks: 0 })
  })

  it("says which item is wrong", () => {
    const unknown = SimulatorFaults.parse("5xx=0.1,gremlins=1")
    assert.isTrue(Either.isLeft(unknown))
    assert.include(Either.getLeft(unknown).pipe((o) => o._tag === "Some" ? o.value : ""), `unknown fault "gremlins=1"`)
    for (const bad of ["5xx=2", "429=-0.1", "slow=0.5", "slow", "expired-links=1.5", "truncated=lots"]) {
      const error = SimulatorFaults.parse(bad)
      assert.isTrue(Either.isLeft(error), bad)
    }
  })
})
