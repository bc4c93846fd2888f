/**
 * Which provider clients a run talks to: the real hosts with keys from the environment, or the built-in
 * simulators (same code path, only the base URLs and keys differ).
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Polling } from "@enrich/core"
import {
  ContactProvider,
  CrustdataClient,
  CrustdataProvider,
  FiberAiClient,
  FiberAiProvider,
  RateLimits,
  TheHogClient,
  TheHogProvider
} from "@enrich/core"
import { Credentials } from "@enrich/simulator"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

type ProviderName = ContactProvider.ProviderName

const adapt = (
  name: ProviderName
): Effect.Effect<
  ContactProvider.ContactProviderService,
  never,
  FiberAiClient.FiberAiClient | CrustdataClient.CrustdataClient | TheHogClient.TheHogClient
> => {
  switch (name) {
    case "fiber":
      return FiberAiProvider.make
    case "crustdata":
      return CrustdataProvider.make
    case "thehog":
      return TheHogProvider.make
  }
}

/** What a provider can do and what it costs: static, so known without a client or any request. */
export const capabilitiesOf = (name: ProviderName): ContactProvider.Capabilities => {
  switch (name) {
    case "fiber":
      return FiberAiProvider.capabilities
    case "crustdata":
      return CrustdataProvider.capabilities
    case "thehog":
      return TheHogProvider.capabilities
  }
}

/** Per-run settings of the clients. */
export interface ClientOptions {
  /** Crustdata calls this URL back when a batch job ends (`webhook_url`); none: polling only */
  readonly crustdataWebhookUrl?: string | undefined
}

/**
 * The registry for `names`, with clients configured from the environment (keys required only for those used).
 * The clients stay in the layer's output beside the registry (a webhook reaches the Crustdata client through it).
 */
export const fromEnv = (names: ReadonlyArray<ProviderName>, options: ClientOptions = {}) =>
  Layer.effect(
    ContactProvider.ContactProviders,
    Effect.map(Effect.forEach(names, adapt), ContactProvider.ContactProviders.fromServices)
  ).pipe(
    Layer.provideMerge(Layer.mergeAll(
      names.includes("fiber") ? FiberAiClient.layerConfig() : Layer.empty,
      names.includes("crustdata")
        ? CrustdataClient.layerConfig(
          Config.map(CrustdataClient.config, (config) => ({ ...config, webhookUrl: options.crustdataWebhookUrl }))
        )
        : Layer.empty,
      names.includes("thehog") ? TheHogClient.layerConfig() : Layer.empty
    ) as Layer.Layer<
      FiberAiClient.FiberAiClient | CrustdataClient.CrustdataClient | TheHogClient.TheHogClient,
      unknown,
      HttpClient.HttpClient
    >)
  )

/** Each client's own environment `Config` (keys, base URL): the one place those variable names are written. */
const configs: Record<ProviderName, Config.Config<unknown>> = {
  fiber: FiberAiClient.config,
  crustdata: CrustdataClient.config,
  thehog: TheHogClient.config
}

/** The environment of the clients `names` need, read up front: a missing key is a clear error naming it. */
export const requiredKeys = (names: ReadonlyArray<ProviderName>) => Config.all(names.map((name) => configs[name]))

/**
 * All three clients pointed at simulators served at `url`, with rate limits scaled to the simulators' time
 * scale and polling shortened to match. The clients stay in the layer's output beside the registry.
 */
export const forSimulators = (
  url: string,
  timeScale: number,
  names: ReadonlyArray<ProviderName> = ContactProvider.ProviderName.literals,
  options: ClientOptions = {}
) => {
  const clients = Layer.mergeAll(
    FiberAiClient.layer({
      apiKey: Redacted.make(Credentials.credentials.fiber.apiKey),
      baseUrl: `${url}/fiber`,
      limits: RateLimits.scale(FiberAiClient.defaultLimits, timeScale)
    }),
    CrustdataClient.layer({
      apiKey: Redacted.make(Credentials.credentials.crustdata.apiKey),
      baseUrl: `${url}/crustdata`,
      limits: RateLimits.scale(CrustdataClient.defaultLimits, timeScale),
      webhookUrl: options.crustdataWebhookUrl
    }),
    TheHogClient.layer({
      accessKey: Redacted.make(Credentials.credentials.thehog.accessKey),
      secretKey: Redacted.make(Credentials.credentials.thehog.secretKey),
      baseUrl: `${url}/thehog`,
      limits: RateLimits.scale(TheHogClient.defaultLimits, timeScale)
    })
  )
  return Layer.effect(
    ContactProvider.ContactProviders,
    Effect.map(
      Effect.forEach(names, (name) => Effect.map(adapt(name), (service) => scaledPacing(service, timeScale))),
      ContactProvider.ContactProviders.fromServices
    )
  ).pipe(Layer.provideMerge(clients))
}

/** A provider's job pacing on the clock of a client of simulators `timeScale`× faster, as its rate limits. */
const scaledPacing = (
  service: ContactProvider.ContactProviderService,
  timeScale: number
): ContactProvider.ContactProviderService => {
  const { pacing } = service.capabilities
  if (pacing === undefined) return service
  return {
    ...service,
    capabilities: { ...service.capabilities, pacing: ContactProvider.scalePacing(pacing, timeScale) }
  }
}

/**
 * Polling for a simulator running `timeScale`× faster than real time: the policy used against the real providers
 * (`Polling`'s default), scaled, so that a simulated run waits on its jobs as a real one would. (It backed off to
 * 30 provider-seconds between polls: a job was seen done up to half a minute late, 8% of a two-minute run.)
 */
export const simulatorPolling = (timeScale: number): Polling.PollingPolicy => {
  const real = Polling.Polling.defaultValue()
  return {
    initialDelay: `${Math.max(20, Duration.toMillis(real.initialDelay) / timeScale)} millis`,
    maxDelay: `${Math.max(50, Duration.toMillis(real.maxDelay) / timeScale)} millis`,
    deadline: "10 minutes"
  }
}
