/**
 * `enrich simulate` as a user drives it: a list of people it knows that `enrich run` takes, faults switched on
 * from the command line and seen on the wire, its counters served as JSON, and one-line errors for a bad mix.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Command from "@effect/platform/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodePath from "node:path"
import { enrich, main } from "./utils/binary.js"

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-sim-" }))

/** `enrich simulate --port 0 ...args` for the life of the scope: the URL it printed first. */
const simulate = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const process = yield* Command.make("node", main, "simulate", "--port", "0", ...args).pipe(
      Command.env({ PATH: globalThis.process.env.PATH ?? "", NO_COLOR: "1" }, { extendEnv: false }),
      Command.start
    )
    const first = yield* process.stdout.pipe(Stream.decodeText(), Stream.splitLines, Stream.runHead)
    const url = Option.flatMap(first, (line) => Option.fromNullable(/^simulators at (http:\S+)\/fiber,/.exec(line)))
    assert.isTrue(Option.isSome(url), `first line: ${Option.getOrElse(first, () => "(none)")}`)
    return Option.getOrThrow(url)[1]!
  })

interface Counters {
  readonly requests: Record<string, number>
  readonly submissions: Record<string, Record<string, number>>
  readonly netCredits: Record<string, number>
}

const counters = (url: string) =>
  Effect.promise(() => fetch(`${url}/_simulator/counters`).then((r) => r.json() as Promise<Counters>))

describe("enrich simulate", () => {
  it.scoped("--list 20 is a CSV of people the simulators know, which enrich run takes; counters show the run", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const fs = yield* FileSystem.FileSystem
      const listed = yield* enrich(["simulate", "--list", "20", "--people", "300", "--seed", "7"], { cwd: dir })
      assert.strictEqual(listed.exitCode, 0, listed.stderr)
      const lines = listed.stdout.trimEnd().split("\n")
      assert.strictEqual(lines[0], "name,company,linkedin_url,email,x_handle,github")
      assert.strictEqual(lines.length, 21)
      yield* fs.writeFileString(NodePath.join(dir, "people.csv"), listed.stdout)

      const url = yield* simulate(["--people", "300", "--seed", "7", "--time-scale", "600"])
      const result = yield* enrich([
        "run",
        "people.csv",
        "--simulator-url",
        url,
        "--time-scale",
        "600",
        "--db",
        "ledger.db",
        "--out",
        "out.csv"
      ], { cwd: dir })
      assert.strictEqual(result.exitCode, 0, result.stderr)
      const out = (yield* fs.readFileString(NodePath.join(dir, "out.csv"))).trimEnd().split("\n")
      assert.strictEqual(out.length, 21)
      // people of this universe are found: the list is not strangers
      assert.isAbove(out.filter((line) => line.includes(",found,")).length, 5)

      const seen = yield* counters(url)
      const submitted = Object.values(seen.submissions).reduce((n, byPerson) => n + Object.keys(byPerson).length, 0)
      assert.isAbove(submitted, 0)
      assert.isAbove(seen.netCredits.fiber!, 0)
      for (const byPerson of Object.values(seen.submissions)) {
        for (const [person, n] of Object.entries(byPerson)) assert.strictEqual(n, 1, person)
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("--faults switched on are seen on the wire", () =>
    Effect.gen(function*() {
      const url = yield* simulate(["--faults", "5xx=1", "--people", "50"])
      const response = yield* Effect.promise(() =>
        fetch(`${url}/fiber/v1/contact-details/single`, { method: "POST", body: "{}" })
      )
      assert.include([500, 503], response.status)
      assert.strictEqual((yield* counters(url)).requests["fiber:single"], 1)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a bad --faults is one line naming the item, exit code 2", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      for (
        const [mix, mentions] of [
          ["5xx=0.1,boom=1", /--faults: unknown fault "boom=1"/],
          ["429=2", /--faults: fault "429=2": 429 takes/]
        ] as const
      ) {
        const result = yield* enrich(["simulate", "--faults", mix], { cwd: dir })
        assert.strictEqual(result.exitCode, 2, result.stderr)
        assert.match(result.stderr, mentions)
        assert.notMatch(result.stderr, /\n\s+at /, "a stack trace leaked")
      }
    }).pipe(Effect.provide(NodeContext.layer)))
})
