/**
 * Exporting the worker's traces and metrics (the spans and `ProviderMetrics` of `@enrich/core`) over OTLP/HTTP
 * to a collector, Grafana, Honeycomb, Datadog or Jaeger, through `@effect/opentelemetry` and the OpenTelemetry
 * SDK's exporters. Only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or a per-signal `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
 * `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`) is set: otherwise nothing is started and nothing is exported.
 *
 * The standard variables apply: `OTEL_SERVICE_NAME` (default "enrich"), `OTEL_RESOURCE_ATTRIBUTES`,
 * `OTEL_EXPORTER_OTLP_HEADERS` (e.g. an API key for the backend: read by the exporters, never logged),
 * `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 60000), `OTEL_SDK_DISABLED`.
 *
 * The encoding is JSON (the SDK's `-otlp-http` exporters); `OTEL_EXPORTER_OTLP_PROTOCOL` is not read.
 *
 * What was recorded is flushed when the program ends, also after Ctrl-C / SIGTERM: the layer's scope closes then.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/** How long the final flush may hold up the exit when the collector is slow or gone. */
const flushTimeoutMillis = 5_000

const isSet = (name: string) =>
  Config.string(name).pipe(Config.option, Config.map(Option.exists((value) => value.trim() !== "")))

/** Which signals are exported, from the environment. */
const signals = Config.all({
  disabled: Config.boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  endpoint: isSet("OTEL_EXPORTER_OTLP_ENDPOINT"),
  tracesEndpoint: isSet("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  metricsEndpoint: isSet("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
}).pipe(Config.map((c) => ({
  traces: !c.disabled && (c.endpoint || c.tracesEndpoint),
  metrics: !c.disabled && (c.endpoint || c.metricsEndpoint)
})))

const settings = Config.all({
  serviceName: Config.string("OTEL_SERVICE_NAME").pipe(Config.withDefault("enrich")),
  metricInterval: Config.integer("OTEL_METRIC_EXPORT_INTERVAL").pipe(
    Config.validate({ message: "must be a positive number of milliseconds", validation: (n) => n > 0 }),
    Config.withDefault(60_000)
  )
})

/**
 * What is exported, from the environment; the rest of the variables are read (and a bad one is an error) only when
 * something is.
 */
export const config = Effect.flatMap(signals, (on) =>
  on.traces || on.metrics
    ? Effect.map(settings, (s) => ({ ...on, ...s }))
    : Effect.succeed({ ...on, serviceName: "enrich", metricInterval: 60_000 }))

/** Settles within `millis` whatever `flush` does: a collector that does not answer must not hold the exit. */
const boundedFlush = (flush: () => Promise<unknown>, millis: number): Promise<void> =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, millis)
    timer.unref()
    flush().then(
      () => resolve(),
      () => resolve()
    ).finally(() => clearTimeout(timer))
  })

/**
 * The exporters when configured, else nothing. The SDK's own shutdown runs when the scope closes; before it, an
 * uninterruptible flush, so that an interrupted program (Ctrl-C) still sends what it recorded.
 */
export const layer: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(Effect.gen(function*() {
  const options = yield* config
  if (!options.traces && !options.metrics) return Layer.empty
  const spanProcessor = options.traces ? new BatchSpanProcessor(new OTLPTraceExporter()) : undefined
  const metricReader = options.metrics
    ? new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter(),
      exportIntervalMillis: options.metricInterval,
      exportTimeoutMillis: Math.min(options.metricInterval, 30_000)
    })
    : undefined
  const sdk = NodeSdk.layer(() => ({
    resource: { serviceName: options.serviceName, serviceVersion: "0.1.0" },
    spanProcessor,
    metricReader,
    shutdownTimeout: `${flushTimeoutMillis} millis`
  }))
  const flushFirst = Layer.scopedDiscard(Effect.addFinalizer(() =>
    Effect.promise(() =>
      boundedFlush(
        () => Promise.all([spanProcessor?.forceFlush(), metricReader?.forceFlush()]),
        flushTimeoutMillis
      )
    ).pipe(Effect.uninterruptible)
  ))
  return flushFirst.pipe(Layer.provideMerge(sdk), Layer.discard)
}))
