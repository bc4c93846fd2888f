/**
 * The baseline, measured first in the same process: the machine, one loopback HTTP round trip to a served
 * simulator, and raw gunzip + JSON.parse speed. Absolute times vary between machines; these say how fast this
 * one is.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { serve } from "@enrich/simulator/node"
import * as Effect from "effect/Effect"
import { cpus, totalmem } from "node:os"
import { gunzipSync, gzipSync } from "node:zlib"
import { fixed, say, since } from "./Common.js"
import { crustdataLine } from "./Ingest.js"

export const machine = () => {
  const cpu = cpus()
  return `machine: ${cpu.length} cpus (${cpu[0]?.model.trim() ?? "unknown"}), ${
    fixed(totalmem() / 2 ** 30, 1)
  } GiB RAM, node ${process.version}, ${process.platform}/${process.arch}, ${new Date().toISOString()}`
}

const roundTrip = Effect.gen(function*() {
  const served = yield* serve({ timeScale: 1 })
  const url = `${served.url}/fiber/v1/contact-details/batch/poll`
  const once = () =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }).then((r) => r.text())
  yield* Effect.promise(async () => {
    for (let i = 0; i < 50; i++) await once()
  })
  const samples: Array<number> = []
  yield* Effect.promise(async () => {
    for (let i = 0; i < 500; i++) {
      const start = process.hrtime.bigint()
      await once()
      samples.push(since(start))
    }
  })
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]!
}).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

/** Records per second of gunzip + JSON.parse over 100 000 Crustdata lines, as one buffer. */
export const rawParseRate = Effect.sync(() => {
  const lines: Array<string> = []
  for (let i = 0; i < 100_000; i++) lines.push(crustdataLine(i, 42))
  const gz = gzipSync(lines.join("\n") + "\n")
  const start = process.hrtime.bigint()
  const text = gunzipSync(gz).toString("utf8")
  let n = 0
  for (const line of text.split("\n")) if (line !== "") n += JSON.parse(line) === null ? 0 : 1
  return n / (since(start) / 1000)
})

export const run = Effect.gen(function*() {
  yield* say("# baseline (this machine, this process)")
  yield* say(machine())
  const rtt = yield* roundTrip
  yield* say(`baseline loopback HTTP round trip (median of 500): ${fixed(rtt, 3)} ms`)
  const rate = yield* rawParseRate
  yield* say(`baseline raw gunzip + JSON.parse: ${fixed(rate / 1000, 0)}k records/s`)
})
