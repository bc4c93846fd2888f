/**
 * A run in which people failed at a provider is not a clean run: its own exit code (3) for `run` and `resume`,
 * and a summary that names the provider, how many people and why, with counts that add up.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { serve } from "@enrich/simulator/node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as Runner from "../src/Runner.js"
import { enrich, examplePeople } from "./utils/binary.js"

const environment = Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)
const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-fail-" }))

/** The summary line of one provider: its counts. */
const countsOf = (stdout: string, provider: string) => {
  const line = new RegExp(
    `${provider}\\s+asked (\\d+), cached (\\d+): found (\\d+), not found (\\d+), failed (\\d+), rejected (\\d+)`
  ).exec(stdout)
  assert.isNotNull(line, `no summary line for ${provider} in:\n${stdout}`)
  const [asked, cached, found, notFound, failed, rejected] = line!.slice(1).map(Number)
  return { asked: asked!, cached: cached!, found: found!, notFound: notFound!, failed: failed!, rejected: rejected! }
}

const summary = (
  providers: ReadonlyArray<Runner.StoredProviderSummary>,
  estimatedCredits?: number
): Runner.Summary => ({
  runId: "run-x",
  rows: 10,
  people: 10,
  rejected: 0,
  duplicates: 0,
  filled: { work_email: 1, personal_email: 0, phone: 0 },
  providers,
  credits: providers.reduce((n, p) => n + p.credits, 0),
  ...(estimatedCredits === undefined ? {} : { estimatedCredits }),
  budget: undefined,
  unsentForBudget: 0,
  ambiguousChunks: 0,
  out: "out.csv",
  seconds: 1
})

const provider = (name: string, counts: Partial<Runner.StoredProviderSummary> = {}): Runner.StoredProviderSummary => ({
  provider: name,
  requested: 10,
  cached: 0,
  found: 10,
  notFound: 0,
  failed: 0,
  rejected: 0,
  credits: 10,
  ...counts
})

describe("a run with failures", () => {
  it.live("exits 3 for run and resume, naming the provider, the people and the reason", () =>
    Effect.gen(function*() {
      // every Crustdata batch job fails; Fiber answers normally
      const served = yield* serve({ port: 0, timeScale: 600, seed: 42, faults: { crustdata: { failJobRate: 1 } } })
      const dir = yield* tempDir
      const ledger = ["--db", NodePath.join(dir, "ledger.db")]
      const out = NodePath.join(dir, "out.csv")
      const target = ["--simulator-url", served.url, "--time-scale", "600"]
      const first = yield* enrich(
        ["run", examplePeople, "--providers", "fiber,crustdata", "--out", out, ...target, ...ledger],
        { cwd: dir }
      )
      assert.strictEqual(first.exitCode, 3, first.stdout + first.stderr)
      const crustdata = countsOf(first.stdout, "crustdata")
      assert.isAbove(crustdata.failed, 0)
      assert.strictEqual(crustdata.failed, crustdata.asked)
      for (const name of ["fiber", "crustdata"]) {
        const c = countsOf(first.stdout, name)
        assert.strictEqual(c.found + c.notFound + c.failed + c.rejected, c.asked, name)
      }
      assert.match(
        first.stdout,
        new RegExp(`^crustdata: ${crustdata.failed} people failed — JobFailed: .+ \\(\\d+ chunks?\\)$`, "m")
      )
      assert.notMatch(first.stdout, /^fiber: \d+ (people|person) failed/m)
      assert.match(first.stderr, /finished with failures \(crustdata: \d+ people failed/)
      assert.isTrue(NodeFs.existsSync(out), "the output is written all the same")

      // a resume has nothing left to do, and says the same: the failures recorded before it count
      const again = yield* enrich(["resume", ...ledger], { cwd: dir })
      assert.strictEqual(again.exitCode, 3, again.stdout + again.stderr)
      assert.deepStrictEqual(countsOf(again.stdout, "crustdata"), crustdata)
      assert.match(again.stdout, new RegExp(`^crustdata: ${crustdata.failed} people failed — JobFailed: `, "m"))

      const status = yield* enrich(["status", ...ledger], { cwd: dir })
      assert.strictEqual(status.exitCode, 0, status.stderr)
    }).pipe(Effect.scoped, Effect.provide(environment)), { timeout: 120_000 })

  it("the summary shows estimated credits apart and groups failure reasons", () => {
    const text = Runner.report(summary([
      provider("fiber", { credits: 500 }),
      provider("crustdata", {
        found: 0,
        failed: 10,
        credits: 0,
        failures: [
          { reason: "JobFailed: batch job failed", people: 7, chunks: 2 },
          { reason: "not in the provider's output", people: 3, chunks: 1 }
        ]
      }),
      provider("thehog", { credits: 423, estimatedCredits: 423 })
    ], 423))
    assert.match(text, /thehog .*; ~423 credits \(estimated\)$/m)
    assert.match(text, /fiber .*; 500 credits$/m)
    assert.match(
      text,
      /^crustdata: 10 people failed — JobFailed: batch job failed \(7 people, 2 chunks\); not in the provider's output \(3 people, 1 chunk\)$/m
    )
    assert.match(text, /^credits: 923 \(~423 of them estimated\)$/m)
    assert.isDefined(Runner.failuresOf(summary([provider("crustdata", { failed: 1, found: 9 })])))
    assert.isUndefined(Runner.failuresOf(summary([provider("fiber")])))
  })

  it("a summary stored before estimates and failure reasons were kept still reads", () => {
    const text = Runner.report(summary([provider("fiber", { failed: 2, found: 8 })]))
    assert.match(text, /^fiber: 2 people failed$/m)
    assert.match(text, /^credits: 10$/m)
  })
})
