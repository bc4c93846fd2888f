import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, it } from "@effect/vitest"
import type { PersonResult } from "@enrich/core"
import { ContactProvider, CrustdataClient, CrustdataProvider, Identifier, Polling, RateLimits } from "@enrich/core"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createServer } from "node:http"
import { credentials } from "../src/Credentials.js"
import * as CrustdataSimulator from "../src/crustdata/CrustdataSimulator.js"
import { type Env, type EnvOptions, makeEnv } from "../src/Env.js"
import { withPolicies } from "./utils/harness.js"

const timeScale = 1000

interface Setup {
  readonly env: Env
  readonly url: string
  readonly context: Context.Context<ContactProvider.ContactProvider | CrustdataClient.CrustdataClient>
}

/**
 * The simulator mounted under /crustdata next to a webhook receiver, on a loopback port, and the real client and
 * adapter pointed at it with time-scaled limits.
 */
const setup = (
  envOptions: EnvOptions = {},
  simOptions: CrustdataSimulator.Options = {},
  clientOptions: Partial<CrustdataClient.Options> & { readonly webhook?: boolean } = {}
): Effect.Effect<Setup, never, Scope.Scope> =>
  Effect.gen(function*() {
    const env = yield* makeEnv({ timeScale, universe: { size: 300 }, ...envOptions })
    const hook = { notify: (_: string): Effect.Effect<void> => Effect.void }
    const sim = yield* CrustdataSimulator.make(env, simOptions).pipe(Effect.provide(FetchHttpClient.layer))
    const receiver = Effect.gen(function*() {
      const body = yield* Effect.orElseSucceed((yield* HttpServerRequest.HttpServerRequest).json, () => undefined)
      if (Predicate.isRecord(body) && typeof body.batch_id === "string") yield* hook.notify(body.batch_id)
      return HttpServerResponse.empty({ status: 204 })
    })
    const router = HttpRouter.empty.pipe(
      HttpRouter.mount("/crustdata", sim),
      HttpRouter.post("/hooks/crustdata", receiver)
    )
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" }).pipe(Effect.orDie)
    yield* server.serve(router)
    const address = server.address
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
    const { webhook, ...rest } = clientOptions
    const context = yield* Layer.build(
      CrustdataProvider.layer.pipe(
        Layer.provideMerge(CrustdataClient.layer({
          apiKey: Redacted.make(credentials.crustdata.apiKey),
          baseUrl: `${url}/crustdata`,
          limits: RateLimits.scale(CrustdataClient.defaultLimits, timeScale),
          pageSize: 7,
          ...(webhook === true ? { webhookUrl: `${url}/hooks/crustdata` } : {}),
          ...rest
        })),
        Layer.provide(FetchHttpClient.layer)
      )
    )
    hook.notify = Context.get(context, CrustdataClient.CrustdataClient).notifyCompleted
    return { env, url, context }
  })

const fast = withPolicies({
  polling: { initialDelay: "20 millis", maxDelay: "50 millis", deadline: "30 seconds" },
  backoff: { base: "10 millis", max: "200 millis", times: 10 }
})

const personOf = (url: string) => {
  const identifier = Either.getOrThrow(Identifier.parseLinkedIn(url))
  return new ContactProvider.Person({ key: identifier.key, identifier })
}

/** `known` people of the universe (given in a non-canonical form) and `ghosts` nobody knows. */
const peopleOf = (env: Env, known: number, ghosts = 0, offset = 0) => [
  ...env.universe.people.slice(offset, offset + known).map((p) =>
    personOf(p.linkedinUrl.replace("https://www.", "http://uk.") + "/?trk=x")
  ),
  ...Array.from({ length: ghosts }, (_, i) => personOf(env.universe.ghostUrl(offset + i)))
]

const request = (people: ReadonlyArray<ContactProvider.Person>) =>
  new ContactProvider.EnrichRequest({
    people: people as [ContactProvider.Person, ...Array<ContactProvider.Person>],
    fields: ["work_email", "personal_email", "phone"],
    idempotencyKey: ContactProvider.chunkKey("crustdata", people.map((p) => p.key), ["work_email"])
  })

const pagesOf = (stream: Stream.Stream<ContactProvider.ResultPage, unknown>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const outcomesOf = (pages: ReadonlyArray<ContactProvider.ResultPage>) => pages.flatMap((p) => p.results)

/** Every person exactly once; returns outcomes by key. */
const exactlyOnce = (
  people: ReadonlyArray<ContactProvider.Person>,
  outcomes: ReadonlyArray<PersonResult.ProviderOutcome>
) => {
  const keys = outcomes.map((o) => o.key!)
  assert.strictEqual(new Set(keys).size, keys.length, "someone came out twice")
  assert.deepStrictEqual([...keys].sort(), people.map((p) => p.key).sort())
  return new Map(outcomes.map((o) => [o.key!, o]))
}

const costOf = (outcomes: ReadonlyArray<PersonResult.ProviderOutcome>) =>
  outcomes.reduce((n, o) => n + (o._tag === "Found" || o._tag === "NotFound" ? o.provenance.cost : 0), 0)

describe("Crustdata client + adapter against the simulator", () => {
  it.scopedLive("runs a job end to end in pages, matches the universe, and resumes from a cursor", () =>
    Effect.gen(function*() {
      const { context, env } = yield* setup()
      yield* fast(
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const people = peopleOf(env, 30, 6)
          const ref = yield* provider.submit(request(people))
          const pages = yield* pagesOf(provider.results(ref))
          assert.strictEqual(pages.length, Math.ceil(36 / 7))
          assert.isUndefined(pages[pages.length - 1]!.cursor)
          const outcomes = exactlyOnce(people, outcomesOf(pages))
          env.universe.people.slice(0, 30).forEach((truth, i) => {
            const known = env.universe.knowledge("crustdata", truth)
            const outcome = outcomes.get(people[i]!.key)!
            if (known.workEmail || known.personalEmail || known.phone) {
              assert.strictEqual(outcome._tag, "Found")
              if (outcome._tag === "Found") {
                const work = outcome.emails.find((e) => e.kind === "work")
                assert.strictEqual(work?.address, known.workEmail?.address)
                assert.strictEqual(work?.verdict, known.workEmail?.verdict)
                assert.strictEqual(outcome.phones[0]?.number, known.phone)
              }
            } else assert.strictEqual(outcome._tag, "NotFound")
          })
          assert.isTrue(people.slice(30).every((p) => outcomes.get(p.key)!._tag === "NotFound"))
          // billed exactly what the adapter says people cost; each person sent once
          const charged = env.counters.netCredits("crustdata")
          assert.isAbove(charged, 0)
          assert.strictEqual(costOf(outcomesOf(pages)), charged)
          assert.deepStrictEqual(env.counters.resubmitted("crustdata"), [])
          // resume after page 2: exactly the rest, nothing bought again
          const rest = outcomesOf(yield* pagesOf(provider.results(ref, pages[1]!.cursor)))
          assert.deepStrictEqual(
            rest.map((o) => o.key),
            outcomesOf(pages.slice(2)).map((o) => o.key)
          )
          assert.strictEqual(env.counters.netCredits("crustdata"), charged)
          assert.strictEqual((yield* provider.poll(ref)).state, "completed")
        }).pipe(Effect.provide(context))
      )
    }))

  it.scopedLive("finds a job whose id was lost in the job list, and nothing for a request never sent", () =>
    Effect.gen(function*() {
      const { context, env } = yield* setup()
      yield* fast(
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const sent = peopleOf(env, 10, 2)
          const decoy = peopleOf(env, 10, 2, 20)
          const ref = yield* provider.submit(request(sent))
          // a more recent job of the same size with other people: listed first, must not match
          const other = yield* provider.submit(request(decoy))
          // the crash: `ref` is forgotten; only the request is known
          const found = yield* provider.findSubmitted!(request(sent))
          assert.isTrue(Option.isSome(found))
          if (Option.isSome(found)) {
            assert.strictEqual(found.value.id, ref.id)
            assert.strictEqual(found.value.people, 12)
            const urlsOf = (meta: unknown) => (meta as CrustdataProvider.JobMeta).urls
            assert.deepStrictEqual(urlsOf(found.value.meta), urlsOf(ref.meta))
            assert.strictEqual(urlsOf(ref.meta).length, 12)
            exactlyOnce(sent, outcomesOf(yield* pagesOf(provider.results(found.value))))
          }
          assert.strictEqual(Option.getOrThrow(yield* provider.findSubmitted!(request(decoy))).id, other.id)
          // same size, never sent; and a size no job has
          assert.isTrue(Option.isNone(yield* provider.findSubmitted!(request(peopleOf(env, 10, 2, 40)))))
          assert.isTrue(Option.isNone(yield* provider.findSubmitted!(request(peopleOf(env, 3, 0, 60)))))
          // finding never submits: two submissions, each person once
          assert.strictEqual(env.counters.requestsTo("crustdata:batch/submit"), 2)
          assert.deepStrictEqual(env.counters.resubmitted("crustdata"), [])
          assert.isAbove(env.counters.requestsTo("crustdata:batch/list"), 0)
          // files read: decoy + sent, results, decoy, decoy + sent for the unsent one; none for the odd size,
          // which the list alone settles
          assert.strictEqual(env.counters.requestsTo("crustdata:download"), 6)
        }).pipe(Effect.provide(context))
      )
    }))

  it.scopedLive("survives a 429 storm and a 5xx burst with everyone accounted for once", () =>
    Effect.gen(function*() {
      const { context, env } = yield* setup({
        faults: { crustdata: { rateLimitStorm: { from: 1, length: 4 }, serverErrorBurst: { from: 7, length: 3 } } }
      })
      yield* fast(
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const people = peopleOf(env, 20, 2)
          const ref = yield* provider.submit(request(people))
          const outcomes = outcomesOf(yield* pagesOf(provider.results(ref)))
          exactlyOnce(people, outcomes)
          assert.strictEqual(env.counters.totalRateLimited("crustdata"), 4)
          assert.deepStrictEqual(env.counters.resubmitted("crustdata"), [])
          assert.strictEqual(costOf(outcomes), env.counters.netCredits("crustdata"))
        }).pipe(Effect.provide(context))
      )
    }))

  it.scopedLive("keeps to 5 active jobs when more chunks run at once", () =>
    Effect.gen(function*() {
      const { context, env } = yield* setup({ timeScale: 200 }, {}, {
        limits: RateLimits.scale(CrustdataClient.defaultLimits, 200)
      })
      yield* fast(
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const chunks = Array.from({ length: 8 }, (_, i) => peopleOf(env, 3, 0, i * 3))
          const outcomes = yield* Effect.forEach(
            chunks,
            (people) =>
              Effect.flatMap(provider.submit(request(people)), (ref) => pagesOf(provider.results(ref))).pipe(
                Effect.map(outcomesOf)
              ),
            { concurrency: "unbounded" }
          )
          exactlyOnce(chunks.flat(), outcomes.flat())
          assert.strictEqual(env.counters.requestsTo("crustdata:batch/submit"), 8)
          // the client's permits kept us under the cap: the simulator never had to refuse a job
          assert.strictEqual(env.counters.totalRateLimited("crustdata:batch/submit"), 0)
        }).pipe(Effect.provide(context))
      )
    }))

  it.scopedLive("maps malformed status bodies to MalformedResponse", () =>
    Effect.gen(function*() {
      const { context, env } = yield* setup({ faults: { crustdata: { malformedRate: 1 } } })
      const error = yield* fast(
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const ref = yield* provider.submit(request(peopleOf(env, 3)))
          return yield* Effect.flip(Stream.runDrain(provider.results(ref)))
        }).pipe(Effect.provide(context))
      )
      assert.strictEqual(error._tag, "MalformedResponse")
      if (error._tag === "MalformedResponse") assert.strictEqual(error.path, `["identifier_count"]`)
    }))

  it.scopedLive("tolerates unknown email statuses and job states", () =>
    Effect.gen(function*() {
      const { context, env } = yield* setup({ faults: { crustdata: { unknownEnumRate: 1 } } })
      yield* fast(
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const people = peopleOf(env, 20)
          const ref = yield* provider.submit(request(people))
          const outcomes = outcomesOf(yield* pagesOf(provider.results(ref)))
          exactlyOnce(people, outcomes)
          const emails = outcomes.flatMap((o) => (o._tag === "Found" ? o.emails : []))
          assert.isAbove(emails.length, 0)
          assert.isTrue(emails.every((e) => e.verdict === "unknown"))
        }).pipe(Effect.provide(context))
      )
    }))

  it.scopedLive("refreshes an expired download link, and reports ResultExpired when links keep expiring", () =>
    Effect.gen(function*() {
      const once = yield* setup({}, { expiredLinks: 1 })
      yield* fast(
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const people = peopleOf(once.env, 5)
          const ref = yield* provider.submit(request(people))
          exactlyOnce(people, outcomesOf(yield* pagesOf(provider.results(ref))))
          assert.strictEqual(once.env.counters.requestsTo("crustdata:download"), 2)
        }).pipe(Effect.provide(once.context))
      )

      const always = yield* setup({}, { expiredLinks: 1000 })
      const error = yield* fast(
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const ref = yield* provider.submit(request(peopleOf(always.env, 5)))
          return yield* Effect.flip(Stream.runDrain(provider.results(ref)))
        }).pipe(Effect.provide(always.context))
      )
      assert.strictEqual(error._tag, "ResultExpired")
      assert.strictEqual(always.env.counters.requestsTo("crustdata:download"), 2)
    }))

  it.scopedLive("reports a failed job as JobFailed, billing nothing", () =>
    Effect.gen(function*() {
      const { context, env } = yield* setup({ faults: { crustdata: { failJobRate: 1 } } })
      yield* fast(
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const ref = yield* provider.submit(request(peopleOf(env, 5)))
          const error = yield* Effect.flip(Stream.runDrain(provider.results(ref)))
          assert.strictEqual(error._tag, "JobFailed")
          assert.strictEqual(env.counters.netCredits("crustdata"), 0)
        }).pipe(Effect.provide(context))
      )
    }))

  it.scopedLive("finishes on the webhook instead of waiting for the next poll", () =>
    Effect.gen(function*() {
      const { context, env } = yield* setup({}, {}, { webhook: true })
      const started = Date.now()
      yield* Effect.gen(function*() {
        const provider = yield* ContactProvider.ContactProvider
        const people = peopleOf(env, 5)
        const ref = yield* provider.submit(request(people))
        exactlyOnce(people, outcomesOf(yield* pagesOf(provider.results(ref))))
      }).pipe(
        Effect.provide(context),
        // the poll interval alone would take an hour
        Effect.provideService(Polling.Polling, { initialDelay: "1 hour", maxDelay: "1 hour", deadline: "2 hours" })
      )
      assert.isBelow(Date.now() - started, 5_000)
      assert.strictEqual(env.counters.requestsTo("crustdata:webhook"), 1)
      assert.strictEqual(env.counters.requestsTo("crustdata:batch/status"), 2)
    }))

  it.scopedLive("enriches small lists synchronously", () =>
    Effect.gen(function*() {
      const { context, env } = yield* setup()
      yield* fast(
        Effect.gen(function*() {
          const provider = yield* ContactProvider.ContactProvider
          const people = peopleOf(env, 12, 3)
          const outcomes = yield* provider.enrichSync(request(people))
          assert.deepStrictEqual(outcomes.map((o) => o.key), people.map((p) => p.key))
          env.universe.people.slice(0, 12).forEach((truth, i) => {
            const known = env.universe.knowledge("crustdata", truth)
            assert.strictEqual(
              outcomes[i]!._tag,
              known.workEmail || known.personalEmail || known.phone ? "Found" : "NotFound"
            )
          })
          assert.strictEqual(costOf(outcomes), env.counters.netCredits("crustdata"))
          assert.strictEqual(env.counters.requestsTo("crustdata:person/contact/enrich"), 1)
        }).pipe(Effect.provide(context))
      )
    }))
})
