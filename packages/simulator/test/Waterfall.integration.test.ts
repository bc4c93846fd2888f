import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { assert, describe, it } from "@effect/vitest"
import {
  Backoff,
  Budget,
  type Contact,
  ContactProvider,
  CrustdataClient,
  CrustdataProvider,
  FiberAiClient,
  FiberAiProvider,
  Identifier,
  Journal,
  Polling,
  RateLimits,
  TheHogClient,
  TheHogProvider,
  Waterfall
} from "@enrich/core"
import { CrustdataApi, FiberAiApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:http"
import { credentials } from "../src/Credentials.js"
import type { Env } from "../src/Env.js"
import * as Simulators from "../src/Simulators.js"
import type { Knowledge, ProviderName, TruePerson, Universe } from "../src/Universe.js"

// Provider time runs 500× faster than real time; the clients' rate limits are scaled the same way.
const timeScale = 500
const seed = 7
const size = 200
const ghosts = 5
const order: ReadonlyArray<ProviderName> = ["fiber", "crustdata", "thehog"]
const fields = ["work_email", "personal_email", "phone"] as const
type Field = Contact.Field

// ---------------------------------------------------------------------------------------------------------------
// Harness: the three simulators on one loopback port, the three real clients and adapters pointed at it
// ---------------------------------------------------------------------------------------------------------------

/**
 * A real port rather than `NodeHttpServer.layerTest`: Crustdata's results are pre-signed absolute download URLs,
 * which layerTest's client would prefix with the server address a second time.
 */
const withSimulators = <A, E>(
  options: Omit<Simulators.Options, "seed" | "timeScale" | "universe">,
  body: (env: Env) => Effect.Effect<A, E, ContactProvider.ContactProviders>
) =>
  Effect.scoped(Effect.gen(function*() {
    const simulators = yield* Simulators.make({ universe: { size }, timeScale, seed, ...options })
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" }).pipe(Effect.orDie)
    yield* server.serve(simulators.router)
    const address = server.address
    const origin = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
    const clients = Layer.mergeAll(
      FiberAiClient.layer({
        apiKey: Redacted.make(credentials.fiber.apiKey),
        baseUrl: `${origin}/fiber`,
        limits: RateLimits.scale(FiberAiClient.defaultLimits, timeScale)
      }),
      CrustdataClient.layer({
        apiKey: Redacted.make(credentials.crustdata.apiKey),
        baseUrl: `${origin}/crustdata`,
        limits: RateLimits.scale(CrustdataClient.defaultLimits, timeScale)
      }),
      TheHogClient.layer({
        accessKey: Redacted.make(credentials.thehog.accessKey),
        secretKey: Redacted.make(credentials.thehog.secretKey),
        baseUrl: `${origin}/thehog`,
        limits: RateLimits.scale(TheHogClient.defaultLimits, timeScale)
      })
    )
    const registry = Layer.effect(
      ContactProvider.ContactProviders,
      Effect.map(
        Effect.all([FiberAiProvider.make, CrustdataProvider.make, TheHogProvider.make]),
        ContactProvider.ContactProviders.fromServices
      )
    )
    return yield* body(simulators.env).pipe(Effect.provide(registry.pipe(Layer.provide(clients))))
  })).pipe(
    // the Crustdata simulator posts webhooks through an HttpClient (none are configured here)
    Effect.provide(FetchHttpClient.layer),
    Effect.provideService(Polling.Polling, {
      initialDelay: "20 millis",
      maxDelay: "50 millis",
      deadline: "20 seconds"
    }),
    Effect.provideService(Backoff.Backoff, { base: "20 millis", max: "200 millis", times: 12 })
  )

interface Input {
  readonly person: ContactProvider.Person
  readonly truth: TruePerson | undefined
}

/**
 * The universe as input: mostly LinkedIn URLs, every 10th person by work email, X handle or GitHub username
 * (which only TheHog takes), and a few LinkedIn ghosts nobody knows.
 */
const inputsOf = (universe: Universe): ReadonlyArray<Input> => {
  const inputs: Array<Input> = universe.people.map((truth) => {
    const [kind, value] = truth.index % 10 === 3
      ? ["email", truth.workEmail] as const
      : truth.index % 10 === 6
      ? ["x", `@${truth.xHandle}`] as const
      : truth.index % 10 === 9
      ? ["github", truth.github] as const
      : ["linkedin", truth.linkedinUrl] as const
    const identifier = Either.getOrThrow(Identifier.parse(kind, value))
    return { person: new ContactProvider.Person({ key: identifier.key, identifier }), truth }
  })
  for (let g = 0; g < ghosts; g++) {
    const identifier = Either.getOrThrow(Identifier.parseLinkedIn(universe.ghostUrl(g)))
    inputs.push({ person: new ContactProvider.Person({ key: identifier.key, identifier }), truth: undefined })
  }
  return inputs
}

const run = (
  env: Env,
  providers: ReadonlyArray<ProviderName>,
  limit?: number
) =>
  Effect.gen(function*() {
    const journal = yield* Journal.makeMemory
    const result = yield* Waterfall.runCollecting({
      runId: "sim",
      people: inputsOf(env.universe).map((i) => i.person),
      providers,
      fields: [...fields]
    }).pipe(Effect.provide(Layer.merge(Layer.succeed(Journal.Journal, journal), Budget.layer(limit))))
    // what the waterfall asked of each provider, per person, as it wrote it down before sending
    const asked = new Map<string, Map<string, ReadonlyArray<Field>>>()
    for (const chunk of yield* journal.chunks("sim")) {
      const byPerson = asked.get(chunk.provider) ?? new Map<string, ReadonlyArray<Field>>()
      for (const key of chunk.keys) byPerson.set(key, chunk.fields)
      asked.set(chunk.provider, byPerson)
    }
    return { result, asked }
  })

/** (person, field) pairs with a chosen value, and people with at least one. */
const filled = (result: Waterfall.Collected) => {
  let values = 0
  let people = 0
  for (const merged of result.merged.values()) {
    const n = Object.keys(merged.best).length
    values += n
    if (n > 0) people++
  }
  return { values, people }
}

const netOf = (env: Env) => Object.fromEntries(order.map((p) => [p, env.counters.netCredits(p)]))

// ---------------------------------------------------------------------------------------------------------------
// The oracle: what the waterfall should ask and pay, computed from the universe's truth
// ---------------------------------------------------------------------------------------------------------------

const takes = (provider: ProviderName, input: Input) =>
  provider === "thehog" || input.person.identifier.kind === "linkedin"

/** The values `provider` hands back for these fields (TheHog only returns verified emails). */
const deliveredBy = (provider: ProviderName, known: Knowledge | undefined, asked: ReadonlyArray<Field>) => {
  const email = (e: Knowledge["workEmail"]) =>
    e === undefined || (provider === "thehog" && e.verdict !== "valid") ? undefined : e
  const out: Partial<Record<Field, "valid" | "risky" | "unknown" | "invalid">> = {}
  const work = email(known?.workEmail)
  const personal = email(known?.personalEmail)
  if (asked.includes("work_email") && work !== undefined) out.work_email = work.verdict
  if (asked.includes("personal_email") && personal !== undefined) out.personal_email = personal.verdict
  // phones are E.164 in the universe, so they count as valid
  if (asked.includes("phone") && known?.phone !== undefined) out.phone = "valid"
  return out
}

/**
 * What each provider charges for one person asked for `asked`, per its billing model:
 * - Fiber takes the full price upfront and refunds what it did not deliver, so the net is the price of the
 *   fields delivered (an invalid email is delivered, hence paid);
 * - Crustdata bills per value delivered, capped per profile;
 * - TheHog bills per identifier submitted for the field groups asked (email, phone), found or not — so the ghosts
 *   and every miss cost there.
 */
const priceAt = (
  provider: ProviderName,
  asked: ReadonlyArray<Field>,
  delivered: Partial<Record<Field, unknown>>
): number => {
  const got = (f: Field) => delivered[f] !== undefined
  switch (provider) {
    case "fiber":
      return FiberAiApi.price(asked.filter(got), "batch")
    case "crustdata":
      return CrustdataApi.priceOf({
        businessEmails: got("work_email") ? 1 : 0,
        personalEmails: got("personal_email") ? 1 : 0,
        phones: got("phone") ? 1 : 0
      })
    case "thehog":
      return (asked.includes("work_email") || asked.includes("personal_email") ? TheHogProvider.prices.email : 0) +
        (asked.includes("phone") ? TheHogProvider.prices.phone : 0)
  }
}

/**
 * Walks the providers in order for every person, asking each only for the fields no earlier provider answered
 * with a `valid` value (the default stop policy), and adds up the price of exactly that.
 */
const oracle = (universe: Universe, providers: ReadonlyArray<ProviderName>) => {
  const credits: Record<ProviderName, number> = { fiber: 0, crustdata: 0, thehog: 0 }
  const asked: Record<ProviderName, Map<string, ReadonlyArray<Field>>> = {
    fiber: new Map(),
    crustdata: new Map(),
    thehog: new Map()
  }
  let values = 0
  for (const input of inputsOf(universe)) {
    let missing: ReadonlyArray<Field> = fields
    const kept = new Set<Field>()
    for (const provider of providers) {
      if (missing.length === 0 || !takes(provider, input)) continue
      const known = input.truth === undefined ? undefined : universe.knowledge(provider, input.truth)
      const delivered = deliveredBy(provider, known, missing)
      credits[provider] += priceAt(provider, missing, delivered)
      asked[provider].set(input.person.key, missing)
      for (const [field, verdict] of Object.entries(delivered)) if (verdict !== "invalid") kept.add(field as Field)
      missing = missing.filter((f) => delivered[f] !== "valid")
    }
    values += kept.size
  }
  return { credits, asked, values }
}

const sortedFields = (fs: ReadonlyArray<Field> | undefined) => fs === undefined ? undefined : [...fs].sort()

// ---------------------------------------------------------------------------------------------------------------

describe("Waterfall on the simulator universe", () => {
  it.live(
    "fills more than any single provider, asks only what is missing, and pays exactly the oracle's minimum",
    () =>
      Effect.gen(function*() {
        const waterfall = yield* withSimulators({}, (env) =>
          Effect.map(run(env, order), (r) => ({ ...r, env, net: netOf(env) })))
        const { asked, env, net, result } = waterfall
        const expected = oracle(env.universe, order)

        // 2. credits: what the waterfall reports == what the simulators charged net == the oracle, per provider
        for (const [i, provider] of order.entries()) {
          const summary = result.providers[i]!
          assert.strictEqual(summary.provider, provider)
          assert.strictEqual(net[provider], expected.credits[provider], `${provider} net credits`)
          assert.strictEqual(summary.credits, net[provider], `${provider} reported credits`)
          // everyone the oracle asks, and nobody else, reached the provider, once, for exactly those fields
          assert.strictEqual(env.counters.submissions.get(provider)?.size ?? 0, expected.asked[provider].size)
          assert.deepStrictEqual(env.counters.resubmitted(provider), [])
          const got = asked.get(provider) ?? new Map<string, ReadonlyArray<Field>>()
          assert.strictEqual(got.size, expected.asked[provider].size)
          for (const [key, fs] of expected.asked[provider]) {
            assert.deepStrictEqual(sortedFields(got.get(key)), sortedFields(fs), `${provider} asked ${key}`)
          }
        }
        const total = order.reduce((n, p) =>
          n + expected.credits[p], 0)
        assert.strictEqual(result.credits.spent, total)
        assert.strictEqual(order.reduce((n, p) => n + net[p]!, 0), total)

        // 1. more than any single provider, each run alone in a fresh simulator with the same seed
        const all = filled(result)
        assert.strictEqual(all.values, expected.values)
        const singles: Record<string, { values: number; people: number; credits: number }> = {}
        for (const provider of order) {
          const alone = yield* withSimulators({}, (env) => run(env, [provider]))
          singles[provider] = { ...filled(alone.result), credits: alone.result.credits.spent }
          assert.strictEqual(singles[provider].values, oracle(env.universe, [provider]).values, provider)
          assert.isAbove(all.values, singles[provider].values, `waterfall vs ${provider} alone (values)`)
          assert.isAbove(all.people, singles[provider].people, `waterfall vs ${provider} alone (people)`)
        }
        yield* Effect.logInfo("waterfall on the simulator universe").pipe(
          Effect.annotateLogs({
            people: size + ghosts,
            waterfall: JSON.stringify({ ...all, credits: result.credits.spent, net }),
            singles: JSON.stringify(singles),
            summaries: JSON.stringify(result.providers)
          })
        )

        // 4. routing: email / X / GitHub people only ever reach TheHog, each once
        const others = inputsOf(env.universe).filter((i) => i.person.identifier.kind !== "linkedin")
        assert.isAbove(others.length, 50)
        const reached = (provider: ProviderName, slug: string) =>
          // the simulators count people by "in/<slug>" (Fiber) or the canonical profile URL (Crustdata)
          [...(env.counters.submissions.get(provider)?.keys() ?? [])].some((s) => s.split("/").includes(slug))
        // the check below does see LinkedIn people where they were sent
        const atCrustdata = inputsOf(env.universe).find((i) => expected.asked.crustdata.has(i.person.key))!
        assert.isTrue(reached("fiber", atCrustdata.truth!.slug))
        assert.isTrue(reached("crustdata", atCrustdata.truth!.slug))
        for (const { person, truth } of others) {
          for (const provider of ["fiber", "crustdata"] as const) {
            assert.isFalse(asked.get(provider)?.has(person.key) ?? false)
            assert.isFalse(reached(provider, truth!.slug), `${truth!.slug} reached ${provider}`)
          }
          const [wireKey, wireValue] = Object.entries(TheHogProvider.toWire(person.identifier))[0]!
          assert.strictEqual(env.counters.submissionsOf("thehog", `${wireKey}:${wireValue}`), 1)
        }

        // 5. stop policy per field, on Fiber's work emails
        const linkedin = inputsOf(env.universe).filter((i) => i.truth !== undefined && takes("crustdata", i))
        const fiberWork = (i: Input) => env.universe.knowledge("fiber", i.truth!).workEmail
        const valid = linkedin.filter((i) => fiberWork(i)?.verdict === "valid")
        const risky = linkedin.filter((i) => fiberWork(i)?.verdict === "risky")
        assert.isAbove(valid.length, 20)
        assert.isAbove(risky.length, 3)
        for (const i of valid) {
          for (const later of ["crustdata", "thehog"]) {
            assert.notInclude(asked.get(later)?.get(i.person.key) ?? [], "work_email")
          }
          assert.strictEqual(result.merged.get(i.person.key)!.best.work_email!.provenance.provider, "fiber")
        }
        let fallbacks = 0
        for (const i of risky) {
          assert.include(asked.get("crustdata")!.get(i.person.key)!, "work_email")
          const best = result.merged.get(i.person.key)!.best.work_email!
          const betterLater = env.universe.knowledge("crustdata", i.truth!).workEmail?.verdict === "valid" ||
            env.universe.knowledge("thehog", i.truth!).workEmail?.verdict === "valid"
          if (betterLater) assert.strictEqual(best.verdict, "valid")
          else {
            // kept as the fallback: nobody later had a valid one
            assert.strictEqual(best.verdict, "risky")
            assert.strictEqual(best.provenance.provider, "fiber")
            fallbacks++
          }
        }
        assert.isAbove(fallbacks, 0)
        let invalidSeen = 0
        for (const merged of result.merged.values()) {
          invalidSeen += merged.candidates.filter((c) => c.verdict === "invalid").length
          for (const best of Object.values(merged.best)) assert.notStrictEqual(best.verdict, "invalid")
        }
        assert.isAbove(invalidSeen, 0)
      }),
    60_000
  )

  it.live("holds a budget cap below the full cost exactly, sending nobody twice", () =>
    Effect.gen(function*() {
      const full = yield* withSimulators({}, (env) => Effect.succeed(oracle(env.universe, order).credits))
      const limit = Math.floor((full.fiber + full.crustdata + full.thehog) / 2)
      const { env, result } = yield* withSimulators({}, (env) =>
        Effect.map(run(env, order, limit), (r) => ({ ...r, env })))
      const net = order.reduce((n, p) =>
        n + env.counters.netCredits(p), 0)
      yield* Effect.logInfo("budget cap").pipe(
        Effect.annotateLogs({ limit, net, unsent: result.unsentForBudget.length })
      )
      assert.isAtMost(net, limit)
      // the budget saw exactly what the simulators charged
      assert.strictEqual(result.credits.spent, net)
      assert.strictEqual(result.credits.limit, limit)
      assert.isAbove(result.unsentForBudget.length, 0)
      for (const provider of order) assert.deepStrictEqual(env.counters.resubmitted(provider), [])
    }), 30_000)

  it.live(
    "settles from what the provider charged, failed items and failed jobs included",
    () =>
      Effect.gen(function*() {
        // TheHog charges at submission whatever then happens to an item or to the whole job
        const { env, result } = yield* withSimulators(
          { thehog: { itemFailureRate: 0.2 }, faults: { thehog: { failJobRate: 0.3 } } },
          (env) => Effect.map(run(env, order), (r) => ({ ...r, env }))
        )
        const thehog = result.providers.find((s) => s.provider === "thehog")!
        yield* Effect.logInfo("failures at TheHog").pipe(
          Effect.annotateLogs({ failed: thehog.failed, credits: thehog.credits })
        )
        assert.isAbove(thehog.failed, 0)
        for (const summary of result.providers) {
          assert.strictEqual(summary.credits, env.counters.netCredits(summary.provider), summary.provider)
        }
        assert.strictEqual(result.credits.spent, order.reduce((n, p) => n + env.counters.netCredits(p), 0))
        // and it is still the oracle's minimum: TheHog is last, so its failures change nobody's questions
        const expected = oracle(env.universe, order).credits
        assert.strictEqual(env.counters.netCredits("thehog"), expected.thehog)
      }),
    30_000
  )
})
