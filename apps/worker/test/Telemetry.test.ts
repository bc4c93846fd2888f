/**
 * Telemetry as an operator meets it: the built `enrich` with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a
 * receiver in this test sends its traces and metrics over OTLP/HTTP (JSON), with the expected span and metric
 * names, the standard variables honoured, everything flushed at the end, also after Ctrl-C, and no email
 * address, phone number, LinkedIn URL or key in any of it.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Command from "@effect/platform/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Credentials } from "@enrich/simulator"
import { serve } from "@enrich/simulator/node"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as NodeHttp from "node:http"
import type { AddressInfo } from "node:net"
import * as Telemetry from "../src/Telemetry.js"
import { enrich, examplePeople, main } from "./utils/binary.js"

interface Received {
  readonly path: string
  readonly headers: NodeHttp.IncomingHttpHeaders
  readonly body: string
}

/** An OTLP/HTTP receiver on a free loopback port: keeps every request, answers 200. */
const receiver = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly received: Array<Received>; readonly server: NodeHttp.Server }>(
    (resume) => {
      const received: Array<Received> = []
      const server = NodeHttp.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          // kept before the answer: an exporter's export resolves only once answered, so the worker's exit
          // comes after every body it sent is here
          received.push({
            path: request.url ?? "",
            headers: request.headers,
            body: Buffer.concat(chunks).toString("utf8")
          })
          response.writeHead(200, { "content-type": "application/json" })
          response.end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, received, server }))
      })
    }
  ),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

interface KeyValue {
  readonly key: string
  readonly value: { readonly stringValue?: string; readonly intValue?: number | string }
}
interface TracesBody {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource: { readonly attributes: ReadonlyArray<KeyValue> }
    readonly scopeSpans: ReadonlyArray<
      { readonly spans: ReadonlyArray<{ readonly name: string; readonly attributes: ReadonlyArray<KeyValue> }> }
    >
  }>
}
interface Metric {
  readonly name: string
  readonly sum?: {
    readonly dataPoints: ReadonlyArray<{ readonly asInt?: number | string; readonly asDouble?: number }>
  }
}
interface MetricsBody {
  readonly resourceMetrics: ReadonlyArray<{
    readonly resource: { readonly attributes: ReadonlyArray<KeyValue> }
    readonly scopeMetrics: ReadonlyArray<{ readonly metrics: ReadonlyArray<Metric> }>
  }>
}

/** What the receiver got, read as OTLP JSON. */
const exported = (received: ReadonlyArray<Received>) => {
  const traces = received.filter((r) => r.path === "/v1/traces").map((r) => JSON.parse(r.body) as TracesBody)
  const metrics = received.filter((r) => r.path === "/v1/metrics").map((r) => JSON.parse(r.body) as MetricsBody)
  const spans = traces.flatMap((t) => t.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)))
  const resources = [
    ...traces.flatMap((t) => t.resourceSpans.map((rs) => rs.resource)),
    ...metrics.flatMap((m) => m.resourceMetrics.map((rm) => rm.resource))
  ]
  const allMetrics = metrics.flatMap((m) =>
    m.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))
  )
  return {
    spans,
    spanNames: new Set(spans.map((s) => s.name)),
    metricNames: new Set(allMetrics.map((metric) => metric.name)),
    /** a counter's total over its data points, in the last export that has it (counters are cumulative) */
    total: (name: string) => {
      const last = allMetrics.filter((m) => m.name === name).at(-1)
      return (last?.sum?.dataPoints ?? []).reduce((n, p) => n + Number(p.asInt ?? p.asDouble ?? 0), 0)
    },
    serviceNames: new Set(
      resources.flatMap((r) => r.attributes.filter((a) => a.key === "service.name").map((a) => a.value.stringValue))
    )
  }
}

/** Nothing that names or reaches a person, and no key, anywhere in what was sent. */
const assertNothingPersonal = (received: ReadonlyArray<Received>) => {
  const all = received.map((r) => r.body).join("\n")
  assert.notMatch(all, /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b/, "an email address")
  assert.notMatch(all, /\+\d{7,15}/, "a phone number")
  assert.notMatch(all, /linkedin\.com|linkedin:/i, "a LinkedIn URL or person key")
  const keys = [
    Credentials.credentials.fiber.apiKey,
    Credentials.credentials.crustdata.apiKey,
    Credentials.credentials.thehog.accessKey,
    Credentials.credentials.thehog.secretKey
  ]
  for (const key of keys) assert.notInclude(all, key, "a provider key")
}

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "enrich-otel-" }))

describe("telemetry", () => {
  it.effect("no exporter without an endpoint; per-signal endpoints and OTEL_SDK_DISABLED are honoured", () =>
    Effect.gen(function*() {
      const read = (env: Record<string, string>) =>
        Effect.withConfigProvider(Telemetry.config, ConfigProvider.fromMap(new Map(Object.entries(env))))
      const none = yield* read({})
      assert.deepStrictEqual([none.traces, none.metrics, none.serviceName], [false, false, "enrich"])
      const both = yield* read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })
      assert.deepStrictEqual([both.traces, both.metrics], [true, true])
      const traces = yield* read({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" })
      assert.deepStrictEqual([traces.traces, traces.metrics], [true, false])
      const off = yield* read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" })
      assert.deepStrictEqual([off.traces, off.metrics], [false, false])
      const bad = yield* Effect.flip(
        read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_METRIC_EXPORT_INTERVAL: "0" })
      )
      assert.include(String(bad), "OTEL_METRIC_EXPORT_INTERVAL")
      // exporting nothing, nothing else is read
      assert.isFalse((yield* read({ OTEL_METRIC_EXPORT_INTERVAL: "0" })).metrics)
      // the leak check below does catch what it looks for
      const leaking = (body: string) => () => assertNothingPersonal([{ path: "/v1/traces", headers: {}, body }])
      assert.throws(leaking(`{"value":"ada.lovelace@acme.io"}`), /email/)
      assert.throws(leaking(`{"value":"+14155550100"}`), /phone/)
      assert.throws(leaking(`{"url.full":"https://www.linkedin.com/in/ada"}`), /LinkedIn/)
      assert.throws(leaking(`{"header":"sk_sim"}`), /key/)
      assert.doesNotThrow(leaking(`{"scope":"@effect/opentelemetry","path":"effect@3.22.4/dist"}`))
    }))

  it.scoped("a demo run sends its spans and metrics, named, with the service name and headers, and nothing personal", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { received, url } = yield* receiver
      const result = yield* enrich(["demo"], {
        cwd: dir,
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: url,
          OTEL_EXPORTER_OTLP_HEADERS: "x-telemetry-test=let-me-in",
          OTEL_SERVICE_NAME: "enrich-test",
          OTEL_METRIC_EXPORT_INTERVAL: "200"
        }
      })
      assert.strictEqual(result.exitCode, 0, result.stderr)
      // the run found contact values: their absence below means something
      assert.match(result.stdout, /filled: work_email [1-9]\d* .*phone [1-9]\d* /)
      const runId = result.stdout.match(/^run (\S+):/m)?.[1]
      assert.isDefined(runId)

      assert.isNotEmpty(received)
      for (const request of received) {
        assert.strictEqual(request.headers["content-type"], "application/json")
        assert.strictEqual(request.headers["x-telemetry-test"], "let-me-in")
      }
      const { metricNames, serviceNames, spanNames, spans } = exported(received)
      assert.deepStrictEqual([...serviceNames], ["enrich-test"])
      for (
        const name of [
          "enrich.waterfall",
          "enrich.stage",
          "enrich.chunk",
          "fiber.submit",
          "fiber.batch/start",
          "crustdata.submit",
          "thehog.submit"
        ]
      ) assert.isTrue(spanNames.has(name), `span ${name}`)
      for (
        const name of [
          "enrich.provider.requests",
          "enrich.provider.latency",
          "enrich.chunks",
          "enrich.people.asked",
          "enrich.people.found",
          "enrich.credits.charged"
        ]
      ) assert.isTrue(metricNames.has(name), `metric ${name}`)
      // chunk spans say which run, provider and chunk they are
      const chunk = spans.find((s) => s.name === "enrich.chunk")!
      const attribute = (key: string) => chunk.attributes.find((a) => a.key === key)?.value
      assert.strictEqual(attribute("run")?.stringValue, runId)
      assert.include(["fiber", "crustdata", "thehog"], attribute("provider")?.stringValue)
      assert.match(attribute("chunk")?.stringValue ?? "", /^(fiber|crustdata|thehog)-[0-9a-f]{16}-\d+$/)
      assertNothingPersonal(received)

      // the same run's figures, from the ledger
      const status = yield* enrich(["status", "--run", runId!], { cwd: dir })
      assert.strictEqual(status.exitCode, 0, status.stderr)
      for (const provider of ["fiber", "crustdata", "thehog"]) {
        assert.match(
          status.stdout,
          new RegExp(
            `${provider} +asked [1-9]\\d* \\(cached 0\\): .*work_email \\d+/\\d+ \\(\\d+%\\).*; [1-9]\\d* requests, ` +
              `\\d+ × 429, \\d+ retries; \\d+\\.\\d s`
          ),
          provider
        )
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("Ctrl-C: what was recorded is still sent before the process exits", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { received, url } = yield* receiver
      const process = yield* Command.make("node", main, "demo").pipe(
        Command.workingDirectory(dir),
        // the default metric interval (a minute): metrics can only arrive through the flush at the end
        Command.env({ PATH: globalThis.process.env.PATH ?? "", OTEL_EXPORTER_OTLP_ENDPOINT: url }, {
          extendEnv: false
        }),
        Command.start
      )
      let interrupted = false
      // progress is one JSON line per event on stderr: interrupt once the first chunk is out at a provider
      yield* process.stderr.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.runForEach((line) => {
          if (interrupted || !line.includes(`"_tag":"ChunkSubmitted"`)) return Effect.void
          interrupted = true
          return process.kill("SIGINT")
        })
      )
      const exitCode = yield* process.exitCode
      assert.isTrue(interrupted, "the run ended before a chunk was submitted")
      assert.strictEqual(Number(exitCode), 130)
      const { metricNames, spanNames } = exported(received)
      // the waterfall's span ends only with the interruption: it was sent after Ctrl-C
      assert.isTrue(spanNames.has("enrich.waterfall"))
      assert.isTrue(metricNames.has("enrich.provider.requests"))
      assertNothingPersonal(received)
    }).pipe(Effect.provide(NodeContext.layer)))

  // live clock: the simulators in this process keep their own time
  it.scopedLive("429s from a provider: counted in the metrics and in status --run, as many as the provider sent", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { received, url } = yield* receiver
      // Fiber answers a fifth of its requests with 429, drawn from the seed
      const served = yield* serve({ port: 0, timeScale: 600, seed: 42, faults: { fiber: { rateLimitRate: 0.2 } } })
      const ledger = ["--db", `${dir}/ledger.db`]
      const result = yield* enrich([
        "run",
        examplePeople,
        "--providers",
        "fiber",
        "--simulator-url",
        served.url,
        "--time-scale",
        "600",
        "--out",
        `${dir}/out.csv`,
        ...ledger
      ], { cwd: dir, env: { OTEL_EXPORTER_OTLP_ENDPOINT: url } })
      assert.strictEqual(result.exitCode, 0, result.stderr)
      const sent = served.simulators.env.counters.totalRateLimited()
      assert.isAbove(sent, 0, "the simulator sent no 429")

      const { total } = exported(received)
      assert.strictEqual(total("enrich.provider.rate_limited"), sent)
      assert.isAtLeast(total("enrich.provider.retries"), sent, "every 429 was retried")
      const runId = result.stdout.match(/^run (\S+):/m)?.[1]
      const status = yield* enrich(["status", "--run", runId!, ...ledger], { cwd: dir })
      assert.match(status.stdout, new RegExp(`fiber .*; \\d+ requests, ${sent} × 429, \\d+ retries`))
      assertNothingPersonal(received)
    }).pipe(Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici))))
})
