import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { gzipSync } from "node:zlib"
import * as Backoff from "../src/Backoff.js"
import { ContactProvider, JobRef, Person, type ResultPage } from "../src/ContactProvider.js"
import * as CrustdataApi from "../src/CrustdataApi.js"
import * as CrustdataClient from "../src/CrustdataClient.js"
import * as CrustdataProvider from "../src/CrustdataProvider.js"
import * as Identifier from "../src/Identifier.js"
import type { ProviderOutcome } from "../src/PersonResult.js"
import * as Polling from "../src/Polling.js"
import { fakeHttp, json, type Seen } from "./utils/fakeHttp.js"
import { linkedInPerson, requestOf, urlOf } from "./utils/requests.js"
import { observe } from "./utils/telemetry.js"

const apiKey = "crust-secret-key-4711"
const base = "http://crust.test"

/** A fake Crustdata: `handler` answers each request; every request is recorded. */
const fake = (handler: (request: Seen, n: number) => Response | Promise<Response>) => {
  const { layer, seen } = fakeHttp(handler)
  return { seen, client: layer }
}

const gz = (records: ReadonlyArray<unknown>) =>
  new Response(gzipSync(records.map((r) => JSON.stringify(r)).join("\n") + "\n"), {
    status: 200,
    headers: { "content-type": "application/octet-stream" }
  })

const person = (slug: string) => linkedInPerson(`https://linkedin.com/in/${slug}/`)
const people = ["ada", "alan", "grace", "linus", "ghost"].map(person)

const request = requestOf("crustdata")

const batchId = "c97333e3-046f-4fd2-b888-a5b07793a0ac"

const status = (state: string, extra: Record<string, unknown> = {}) => ({
  batch_id: batchId,
  status: state,
  entity: "person",
  action: "contact_enrich",
  identifier_count: 5,
  entities_requested: 5,
  ...extra
})

const completed = (link = "https://s3.test/results.jsonl.gz?sig=1") =>
  status("completed", {
    result_count: 4,
    entities_fulfilled: 2,
    completed_at: "2026-05-28T10:06:00Z",
    download_url: link,
    download_urls: [link]
  })

const record = (p: Person, data: Record<string, unknown>, internalId: number | null = 1) => ({
  original_identifier: urlOf(p),
  internal_id: internalId,
  data: { professional_network_url: urlOf(p), person_id: internalId, ...data }
})

// ada: everything; alan: only an undeliverable business email + an unknown-status personal email;
// grace: known, nothing found; linus: missing from the file; ghost: unknown to Crustdata.
const fileRecords = [
  record(people[0]!, {
    business_email: [{ email: "ada@acme.io", status: "deliverable" }],
    personal_contact_info: {
      personal_emails: [{ email: "ada@gmail.com", status: "risky" }],
      phone_numbers: ["+1 415 555 0100"]
    }
  }),
  record(people[1]!, {
    business_email: { email: "alan@acme.io", status: "undeliverable" },
    personal_contact_info: { personal_emails: [{ email: "alan@gmail.com", status: "catch_all" }], phone_numbers: [] }
  }),
  record(people[2]!, { business_email: [], personal_contact_info: { personal_emails: [], phone_numbers: [] } }),
  record(people[4]!, { business_email: null, personal_contact_info: null }, null)
]

const submitted = {
  batch_id: batchId,
  status: "pending",
  entity: "person",
  action: "contact_enrich",
  identifier_count: 5,
  entities_requested: 5,
  status_url: `/batch/${batchId}`
}

/** A fake whose job is already completed, with the file above behind the download link. */
const happyFake = (download: (n: number) => Response = () => gz(fileRecords)) => {
  let downloads = 0
  return fake((req) => {
    if (req.url.pathname === "/batch/person/contact/enrich") return json(submitted)
    if (req.url.pathname === `/batch/${batchId}`) return json(completed())
    if (req.url.host === "s3.test") return download(++downloads)
    return json({ error: { type: "invalid_request_error", message: "no route" } }, 404)
  })
}

const testPolicies = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.provideService(Polling.Polling, { initialDelay: "1 second", maxDelay: "4 seconds", deadline: "1 minute" }),
    Effect.provideService(Backoff.Backoff, { base: "100 millis", max: "1 second", times: 3 })
  )

const layers = (client: Layer.Layer<HttpClient.HttpClient>, options: Partial<CrustdataClient.Options> = {}) =>
  CrustdataProvider.layer.pipe(
    Layer.provideMerge(
      CrustdataClient.layer({ apiKey: Redacted.make(apiKey), baseUrl: base, pageSize: 2, ...options })
    ),
    Layer.provide(client)
  )

const run = <A, E>(
  effect: Effect.Effect<A, E, ContactProvider | CrustdataClient.CrustdataClient>,
  client: Layer.Layer<HttpClient.HttpClient>,
  options: Partial<CrustdataClient.Options> = {}
) => testPolicies(Effect.provide(effect, layers(client, options)))

const collect = (stream: Stream.Stream<ResultPage, unknown>) =>
  Effect.map(Stream.runCollect(stream), (pages) => Chunk.toReadonlyArray(pages))

const byKey = (pages: ReadonlyArray<ResultPage>) => {
  const out = new Map<string, ProviderOutcome>()
  for (const page of pages) for (const o of page.results) if (o.key !== undefined) out.set(o.key, o)
  return out
}

describe("Crustdata client", () => {
  it.effect("submits with Bearer auth, the version header, canonical URLs and mapped fields", () => {
    const { client, seen } = happyFake()
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request(people, ["work_email", "phone"]))
        assert.strictEqual(ref.id, batchId)
        assert.strictEqual(ref.provider, "crustdata")
        // the meta is stored as a list, not a newline-joined string
        assert.deepStrictEqual(ref.meta, { urls: people.map(urlOf), statusUrl: `/batch/${batchId}` })
        const sent = seen[0]!
        assert.strictEqual(sent.url.href, `${base}/batch/person/contact/enrich`)
        assert.strictEqual(sent.headers.authorization, `Bearer ${apiKey}`)
        assert.strictEqual(sent.headers["x-api-version"], "2025-11-01")
        assert.deepStrictEqual(sent.body, {
          professional_network_profile_urls: people.map(urlOf),
          fields: ["business_email", "personal_contact_info.phone_numbers"]
        })
      }),
      client
    )
  })

  it("maps our fields to Crustdata's, grouping personal email and phone", () => {
    assert.deepStrictEqual(CrustdataProvider.batchFieldsOf(["work_email", "personal_email", "phone"]), [
      "business_email",
      "personal_contact_info"
    ])
    assert.deepStrictEqual(CrustdataProvider.batchFieldsOf(["personal_email"]), [
      "personal_contact_info.personal_emails"
    ])
    assert.deepStrictEqual(CrustdataProvider.syncFieldsOf(["phone", "work_email"]), [
      "contact.business_emails",
      "contact.phone_numbers"
    ])
    assert.strictEqual(CrustdataProvider.maxPerPerson(["work_email", "personal_email", "phone"]), 5)
    assert.strictEqual(CrustdataProvider.maxPerPerson(["personal_email"]), 2)
  })

  it.effect("maps 401 to Unauthorized without leaking the key, and 400 with the available fields", () => {
    const { client } = fake((req) =>
      req.method === "GET"
        ? json({ error: { type: "authentication_error", message: "Invalid API key" } }, 401)
        : json({
          error: {
            type: "invalid_request_error",
            message: "Invalid field: contact",
            metadata: { available_fields: CrustdataApi.batchFields }
          }
        }, 400)
    )
    return run(
      Effect.gen(function*() {
        const crustdata = yield* CrustdataClient.CrustdataClient
        const auth = yield* Effect.flip(crustdata.batchStatus(batchId))
        assert.strictEqual(auth._tag, "Unauthorized")
        assert.notInclude(JSON.stringify(auth) + auth.message + String(auth), apiKey)
        const bad = yield* Effect.flip(crustdata.submitBatch({
          professional_network_profile_urls: [urlOf(people[0]!)],
          fields: ["contact"]
        }))
        assert.strictEqual(bad._tag, "InvalidRequest")
        assert.include(bad.message, "personal_contact_info.phone_numbers")
      }),
      client
    )
  })

  it.effect("keeps the key out of spans, logs, failures and the rendered options", () => {
    const { client } = fake((req) =>
      req.url.pathname === "/batch"
        ? json({ error: { type: "authentication_error", message: "Invalid API key" } }, 401)
        : json(status("processing"))
    )
    const options = { apiKey: Redacted.make(apiKey), baseUrl: base }
    return run(
      Effect.gen(function*() {
        const crustdata = yield* CrustdataClient.CrustdataClient
        const failed = yield* observe(crustdata.listBatches({ limit: 5 }))
        const polled = yield* observe(crustdata.batchStatus(batchId))
        assert.isTrue(Exit.isFailure(failed.exit))
        assert.isTrue(Exit.isSuccess(polled.exit))
        assert.include(failed.spanNames, "crustdata.batch/list")
        assert.include(polled.spanNames, "crustdata.batch/status")
        // the Bearer header is on every request, yet shows nowhere; no HTTP client span records URLs or headers
        for (const text of [failed.text, polled.text]) {
          assert.notInclude(text, apiKey)
          assert.notInclude(text, "url.full")
          assert.notInclude(text, "authorization")
        }
        const rendered = [JSON.stringify(options), String(options.apiKey), Inspectable.format(options)].join("\n")
        assert.notInclude(rendered, apiKey)
      }),
      client,
      options
    )
  })

  it.effect("reads the active-jobs 429 as TooManyActiveJobs", () => {
    const { client } = fake(() =>
      json({ error: { type: "rate_limit_error", message: "Too many active batch jobs (max 5)" } }, 429)
    )
    return run(
      Effect.gen(function*() {
        const crustdata = yield* CrustdataClient.CrustdataClient
        const error = yield* Effect.flip(crustdata.submitBatch({
          professional_network_profile_urls: [urlOf(people[0]!)],
          fields: ["business_email"]
        }))
        assert.strictEqual(error._tag, "TooManyActiveJobs")
      }),
      client
    )
  })

  it.effect("honours x-ratelimit-reset on a 429 before retrying", () => {
    const { client, seen } = fake((_, n) =>
      n === 1
        ? json({ error: { type: "rate_limit_error", message: "slow down" } }, 429, {
          "x-ratelimit-limit": "120",
          "x-ratelimit-remaining": "0",
          "x-ratelimit-reset": "30"
        })
        : json(status("processing"))
    )
    return run(
      Effect.gen(function*() {
        const crustdata = yield* CrustdataClient.CrustdataClient
        const fiber = yield* Effect.fork(crustdata.batchStatus(batchId))
        yield* TestClock.adjust("29 seconds")
        assert.strictEqual(seen.length, 1, "retried before the reset")
        yield* TestClock.adjust("2 seconds")
        const result = yield* Fiber.join(fiber)
        assert.strictEqual(result.status, "processing")
        assert.strictEqual(seen.length, 2)
      }),
      client
    )
  })

  it.effect("reports schema drift as MalformedResponse with the path", () => {
    const { client } = fake(() => json(status("completed", { identifier_count: "five" })))
    return run(
      Effect.gen(function*() {
        const error = yield* Effect.flip((yield* CrustdataClient.CrustdataClient).batchStatus(batchId))
        assert.strictEqual(error._tag, "MalformedResponse")
        if (error._tag === "MalformedResponse") assert.strictEqual(error.path, `["identifier_count"]`)
      }),
      client
    )
  })

  it.effect("keeps polling through an unknown job status", () => {
    const { client } = fake((_, n) => json(n === 1 ? status("queued") : completed()))
    return run(
      Effect.gen(function*() {
        const crustdata = yield* CrustdataClient.CrustdataClient
        const fiber = yield* Effect.fork(crustdata.awaitCompletion(batchId))
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual((yield* Fiber.join(fiber)).status, "completed")
      }),
      client
    )
  })

  it.effect("waits per the Polling schedule and gives up with JobTimedOut at the deadline", () => {
    const { client, seen } = fake(() => json(status("processing")))
    return run(
      Effect.gen(function*() {
        const crustdata = yield* CrustdataClient.CrustdataClient
        const fiber = yield* Effect.fork(Effect.flip(crustdata.awaitCompletion(batchId)))
        yield* TestClock.adjust("10 seconds")
        const early = seen.length
        // exponential from 1 s (×1.5, jittered), capped at 4 s: a handful of polls in 10 s, not hundreds
        assert.isAtLeast(early, 3)
        assert.isAtMost(early, 8)
        yield* TestClock.adjust("1 minute")
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error._tag, "JobTimedOut")
        assert.isAtMost(seen.length, 25)
      }),
      client
    )
  })

  it.effect("ends the wait at once on a webhook signal", () => {
    let done = false
    const { client, seen } = fake(() => json(done ? completed() : status("processing")))
    return Effect.gen(function*() {
      const crustdata = yield* CrustdataClient.CrustdataClient
      const signal = yield* Deferred.make<void>()
      const viaSignal = yield* Effect.fork(crustdata.awaitCompletion(batchId, Deferred.await(signal)))
      const viaRegistry = yield* Effect.fork(crustdata.awaitCompletion(batchId))
      yield* TestClock.adjust("1 millis")
      const before = seen.length
      done = true
      yield* Deferred.succeed(signal, undefined)
      assert.strictEqual((yield* Fiber.join(viaSignal)).status, "completed")
      yield* crustdata.notifyCompleted(batchId)
      assert.strictEqual((yield* Fiber.join(viaRegistry)).status, "completed")
      // one status check per wake-up, no waiting for the (1 hour) poll interval
      assert.strictEqual(seen.length, before + 2)
    }).pipe(
      Effect.provide(layers(client)),
      Effect.provideService(Polling.Polling, { initialDelay: "1 hour", maxDelay: "1 hour", deadline: "1 day" })
    )
  })

  it.effect("gates the sync endpoint at 15 requests a minute", () => {
    const { client, seen } = fake((req) =>
      json((req.body as CrustdataApi.ContactEnrichRequest).professional_network_profile_urls!.map((url) => ({
        matched_on: url,
        match_type: "professional_network_profile_url",
        matches: []
      })))
    )
    return run(
      Effect.gen(function*() {
        const crustdata = yield* CrustdataClient.CrustdataClient
        const call = crustdata.enrichContacts({ professional_network_profile_urls: [urlOf(people[0]!)] })
        const fiber = yield* Effect.fork(Effect.all(Array.from({ length: 16 }, () => call), { concurrency: 16 }))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(seen.length, 15)
        yield* TestClock.adjust("1 minute")
        assert.strictEqual((yield* Fiber.join(fiber)).length, 16)
        assert.strictEqual(seen.length, 16)
      }),
      client
    )
  })
})

describe("Crustdata adapter", () => {
  it.effect("streams the gzipped file in pages: Found, NotFound and Failed for everyone submitted", () => {
    const { client, seen } = happyFake()
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request(people))
        const pages = yield* collect(provider.results(ref))
        assert.deepStrictEqual(pages.map((p) => p.cursor), ["2", undefined])
        const outcomes = byKey(pages)
        assert.strictEqual(pages.flatMap((p) => p.results).length, people.length)
        const ada = outcomes.get(people[0]!.key)!
        assert.strictEqual(ada._tag, "Found")
        if (ada._tag === "Found") {
          assert.deepStrictEqual(ada.emails.map((e) => [e.address, e.kind, e.verdict]), [
            ["ada@acme.io", "work", "valid"],
            ["ada@gmail.com", "personal", "risky"]
          ])
          assert.strictEqual(ada.phones[0]!.number, "+14155550100")
          assert.strictEqual(ada.provenance.cost, 5)
          assert.strictEqual(ada.provenance.mode, "batch")
        }
        const alan = outcomes.get(people[1]!.key)!
        assert.strictEqual(alan._tag, "Found")
        if (alan._tag === "Found") {
          // a single business_email object is read as a list; an unknown status is an unknown verdict
          assert.deepStrictEqual(alan.emails.map((e) => e.verdict), ["invalid", "unknown"])
          assert.strictEqual(alan.provenance.cost, 3)
        }
        assert.strictEqual(outcomes.get(people[2]!.key)!._tag, "NotFound")
        assert.strictEqual(outcomes.get(people[4]!.key)!._tag, "NotFound")
        const linus = outcomes.get(people[3]!.key)!
        assert.strictEqual(linus._tag, "Failed")
        if (linus._tag === "Failed") assert.include(linus.reason, "not in Crustdata's results file")
        // the pre-signed link is fetched bare
        const download = seen.find((s) => s.url.host === "s3.test")!
        assert.isUndefined(download.headers.authorization)
        assert.isUndefined(download.headers["x-api-version"])
      }),
      client
    )
  })

  it.effect("resumes after a cursor with exactly the remaining people", () => {
    const { client } = happyFake()
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request(people))
        const all = yield* collect(provider.results(ref))
        const rest = yield* collect(provider.results(ref, all[0]!.cursor))
        const first = all[0]!.results.map((o) => o.key)
        const remaining = rest.flatMap((p) => p.results.map((o) => o.key))
        assert.deepStrictEqual([...first, ...remaining].sort(), people.map((p) => p.key).sort())
        assert.deepStrictEqual(remaining, all[1]!.results.map((o) => o.key))
        const bad = yield* Effect.flip(Stream.runDrain(provider.results(ref, "x")))
        assert.strictEqual(bad._tag, "InvalidRequest")
      }),
      client
    )
  })

  it.effect("refreshes an expired download link once", () => {
    const { client, seen } = happyFake((n) =>
      n === 1
        ? new Response("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", {
          status: 403
        })
        : gz(fileRecords)
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request(people))
        const pages = yield* collect(provider.results(ref))
        assert.strictEqual(byKey(pages).size, people.length)
        assert.strictEqual(seen.filter((s) => s.url.pathname === `/batch/${batchId}`).length, 2)
      }),
      client
    )
  })

  it.effect("fails with ResultExpired when the fresh link is refused too", () => {
    const { client } = happyFake(() =>
      new Response("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", { status: 403 })
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request(people))
        const error = yield* Effect.flip(Stream.runDrain(provider.results(ref)))
        assert.strictEqual(error._tag, "ResultExpired")
        if (error._tag === "ResultExpired") {
          assert.strictEqual(error.jobId, batchId)
          assert.include(error.message, "expired")
        }
      }),
      client
    )
  })

  it.effect("rejects a file that is not gzip, and a truncated one, as MalformedResponse", () =>
    Effect.gen(function*() {
      for (
        const body of [
          new TextEncoder().encode(JSON.stringify(fileRecords[0])),
          gzipSync(fileRecords.map((r) => JSON.stringify(r)).join("\n")).subarray(0, 40)
        ]
      ) {
        const { client } = happyFake(() => new Response(body, { status: 200 }))
        const error = yield* run(
          Effect.gen(function*() {
            const provider = yield* ContactProvider
            const ref = yield* provider.submit(request(people))
            return yield* Effect.flip(Stream.runDrain(provider.results(ref)))
          }),
          client
        )
        assert.strictEqual(error._tag, "MalformedResponse")
      }
    }))

  it.effect("points at the offending line when a record drifts", () => {
    const { client } = happyFake(() => gz([fileRecords[0], { original_identifier: 42 }]))
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request(people))
        const error = yield* Effect.flip(Stream.runDrain(provider.results(ref)))
        assert.strictEqual(error._tag, "MalformedResponse")
        if (error._tag === "MalformedResponse") assert.strictEqual(error.path, `line 2 ["original_identifier"]`)
      }),
      client
    )
  })

  it.effect("fails the stream with JobFailed when the job failed", () => {
    const { client } = fake((req) =>
      req.method === "POST" ? json(submitted) : json(status("failed", { error_message: "upstream outage" }))
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request(people))
        const error = yield* Effect.flip(Stream.runDrain(provider.results(ref)))
        assert.strictEqual(error._tag, "JobFailed")
        assert.strictEqual((yield* provider.poll(ref)).state, "failed")
      }),
      client
    )
  })

  it.effect("holds at most maxActiveJobs permits and frees one when a job is seen terminal", () => {
    let n = 0
    const finished = new Set<string>()
    const { client } = fake((req) => {
      if (req.method === "POST") return json({ ...submitted, batch_id: `job-${++n}`, status_url: `/batch/job-${n}` })
      const id = req.url.pathname.split("/")[2]!
      return json({ ...status(finished.has(id) ? "completed" : "processing"), batch_id: id })
    })
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const one = yield* provider.submit(request([people[0]!]))
        yield* provider.submit(request([people[1]!]))
        const third = yield* Effect.fork(provider.submit(request([people[2]!])))
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(n, 2, "a third job was submitted while two were active")
        finished.add(one.id)
        // nobody polls job-1: the waiting submit re-checks the held jobs and finds it finished
        yield* TestClock.adjust("5 seconds")
        const ref = yield* Fiber.join(third)
        assert.strictEqual(ref.id, "job-3")
      }),
      client,
      { maxActiveJobs: 2 }
    )
  })

  it.effect("a job Crustdata no longer knows is lost: its permit comes back and nothing waits forever", () => {
    let n = 0
    const { client } = fake((req) => {
      if (req.method === "POST") return json({ ...submitted, batch_id: `job-${++n}`, status_url: `/batch/job-${n}` })
      // the provider restarted and forgot every job
      return json({ error: { type: "not_found", message: "batch not found" } }, 404)
    })
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const lost = yield* provider.submit(request([people[0]!]))
        yield* provider.submit(request([people[1]!]))
        // both permits are held: the waiting submit re-checks the held jobs, learns they are gone, takes a permit
        const third = yield* Effect.fork(provider.submit(request([people[2]!])))
        yield* TestClock.adjust("1 millis")
        assert.strictEqual((yield* Fiber.join(third)).id, "job-3")
        const error = yield* Effect.flip(Stream.runDrain(provider.results(lost)))
        assert.strictEqual(error._tag, "JobLost")
        assert.include(error.message, "Crustdata no longer knows batch job-1")
      }),
      client,
      { maxActiveJobs: 2 }
    )
  })

  it.effect("a submit gives up when no permit came back for a whole polling deadline", () => {
    const { client } = fake((req) =>
      req.method === "POST"
        ? json({ ...submitted, batch_id: "job-1", status_url: "/batch/job-1" })
        : json({ ...status("processing"), batch_id: "job-1" })
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        yield* provider.submit(request([people[0]!]))
        const waiting = yield* Effect.fork(provider.submit(request([people[1]!])))
        yield* TestClock.adjust("3 hours")
        const error = yield* Effect.flip(Fiber.join(waiting))
        assert.strictEqual(error._tag, "TooManyActiveJobs")
      }),
      client,
      { maxActiveJobs: 1 }
    )
  })

  it.effect("shares the cap between adapters over one client: never more than maxActiveJobs together", () => {
    let n = 0
    const finished = new Set<string>()
    const { client } = fake((req) => {
      if (req.method === "POST") return json({ ...submitted, batch_id: `job-${++n}`, status_url: `/batch/job-${n}` })
      const id = req.url.pathname.split("/")[2]!
      return json({ ...status(finished.has(id) ? "completed" : "processing"), batch_id: id })
    })
    return run(
      Effect.gen(function*() {
        // two adapters (two registries, a worker and a bench…) over the one client of the account
        const a = yield* CrustdataProvider.make
        const b = yield* CrustdataProvider.make
        const one = yield* a.submit(request([people[0]!]))
        yield* b.submit(request([people[1]!]))
        const third = yield* Effect.fork(b.submit(request([people[2]!])))
        const fourth = yield* Effect.fork(a.submit(request([people[3]!])))
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(n, 2, "a third job was submitted while two were active")
        // a job seen terminal through one adapter frees a permit for the other
        finished.add(one.id)
        assert.strictEqual((yield* a.poll(one)).state, "completed")
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(n, 3)
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(n, 3, "a fourth job was submitted while two were active")
        yield* Fiber.interrupt(fourth)
        assert.strictEqual((yield* Fiber.join(third)).id, "job-3")
      }).pipe(
        // waits of a minute with no permit coming back: within the deadline after which a submit gives up
        Effect.provideService(Polling.Polling, {
          initialDelay: "1 second",
          maxDelay: "4 seconds",
          deadline: "10 minutes"
        })
      ),
      client,
      { maxActiveJobs: 2 }
    )
  })

  it.effect("gives a job's permit back once, however often it is seen terminal", () => {
    let n = 0
    const { client } = fake((req) => {
      if (req.method === "POST") return json({ ...submitted, batch_id: `job-${++n}`, status_url: `/batch/job-${n}` })
      const id = req.url.pathname.split("/")[2]!
      return json({ ...status(id === "job-1" ? "completed" : "processing"), batch_id: id })
    })
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const one = yield* provider.submit(request([people[0]!]))
        yield* provider.poll(one)
        yield* provider.poll(one)
        assert.strictEqual((yield* provider.cancel(one)).state, "completed")
        yield* provider.submit(request([people[1]!]))
        const third = yield* Effect.fork(provider.submit(request([people[2]!])))
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(n, 2, "one terminal job gave back more than its permit")
        yield* Fiber.interrupt(third)
      }),
      client,
      { maxActiveJobs: 1 }
    )
  })

  it.effect("keeps the permit of a job whose results stream was interrupted before it ended", () => {
    let n = 0
    let done = false
    const { client } = fake((req) => {
      if (req.method === "POST") return json({ ...submitted, batch_id: `job-${++n}`, status_url: `/batch/job-${n}` })
      const id = req.url.pathname.split("/")[2]!
      return json({ ...status(done && id === "job-1" ? "completed" : "processing"), batch_id: id })
    })
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const one = yield* provider.submit(request([people[0]!]))
        const reading = yield* Effect.fork(Stream.runDrain(provider.results(one)))
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.interrupt(reading)
        const second = yield* Effect.fork(provider.submit(request([people[1]!])))
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(n, 1, "job-1 is still active at Crustdata, yet its permit was given back")
        // the waiting submit re-checks the held job and gets the permit once it has finished
        done = true
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual((yield* Fiber.join(second)).id, "job-2")
      }).pipe(
        // waits of a minute with no permit coming back: within the deadline after which a submit gives up
        Effect.provideService(Polling.Polling, {
          initialDelay: "1 second",
          maxDelay: "4 seconds",
          deadline: "10 minutes"
        })
      ),
      client,
      { maxActiveJobs: 1 }
    )
  })

  it.effect("marks every cost as estimated: Crustdata reports no charge", () => {
    const { client } = happyFake()
    const sync = fake(() =>
      json([{
        matched_on: urlOf(people[0]!),
        match_type: "professional_network_profile_url",
        matches: [{
          confidence_score: 1,
          person_data: {
            crustdata_person_id: 1,
            contact: { business_emails: [{ email: "ada@acme.io", status: "deliverable" }] }
          }
        }]
      }])
    )
    return Effect.gen(function*() {
      const batch = yield* run(
        Effect.gen(function*() {
          const provider = yield* ContactProvider
          const ref = yield* provider.submit(request(people))
          const pages = yield* collect(provider.results(ref))
          return { ref, pages, status: yield* provider.poll(ref) }
        }),
        client
      )
      assert.isTrue(batch.ref.estimated)
      assert.isTrue(batch.status.estimated)
      assert.isTrue(batch.pages[batch.pages.length - 1]!.final!.estimated)
      const priced = batch.pages.flatMap((p) => p.results).flatMap((o) =>
        o._tag === "Found" || o._tag === "NotFound" ? [o.provenance] : []
      )
      assert.strictEqual(priced.length, 4)
      assert.isTrue(priced.every((p) => p.estimated))
      assert.isAbove(priced.reduce((n, p) => n + p.cost, 0), 0)
      const outcomes = yield* run(
        Effect.flatMap(ContactProvider, (provider) => provider.enrichSync(request([people[0]!], ["work_email"]))),
        sync.client
      )
      assert.strictEqual(outcomes[0]!._tag, "Found")
      if (outcomes[0]!._tag === "Found") {
        assert.strictEqual(outcomes[0]!.provenance.cost, 1)
        assert.isTrue(outcomes[0]!.provenance.estimated)
      }
    })
  })

  it.effect("reads a job stored with the older meta (URLs joined by newlines)", () => {
    const { client } = happyFake()
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const ref = yield* provider.submit(request(people))
        const legacy = new JobRef({
          ...ref,
          meta: { urls: people.map(urlOf).join("\n"), statusUrl: `/batch/${batchId}` }
        })
        const outcomes = byKey(yield* collect(provider.results(legacy)))
        assert.strictEqual(outcomes.size, people.length)
        assert.strictEqual(outcomes.get(people[3]!.key)!._tag, "Failed")
        // and a meta that is neither is refused as such, naming the job
        const broken = new JobRef({ ...ref, meta: { urls: 42 } })
        const error = yield* Effect.flip(Stream.runDrain(provider.results(broken)))
        assert.strictEqual(error._tag, "MalformedResponse")
        assert.include(error.message, batchId)
      }),
      client
    )
  })

  it.effect("waits and retries a submit refused for too many active jobs", () => {
    const { client, seen } = fake((_, n) =>
      n <= 2
        ? json({ error: { type: "rate_limit_error", message: "Too many active batch jobs" } }, 429)
        : json(submitted)
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const fiber = yield* Effect.fork(provider.submit(request(people)))
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual((yield* Fiber.join(fiber)).id, batchId)
        assert.strictEqual(seen.length, 3)
      }),
      client
    )
  })

  it.effect("enrichSync maps the array response in input order, misses included", () => {
    const { client, seen } = fake(() =>
      json([
        {
          matched_on: urlOf(people[0]!),
          match_type: "professional_network_profile_url",
          matches: [{
            confidence_score: 1,
            person_data: {
              crustdata_person_id: 14540,
              contact: {
                business_emails: [{ email: "ada@acme.io", status: "deliverable" }],
                personal_emails: [],
                phone_numbers: []
              }
            }
          }]
        },
        { matched_on: urlOf(people[1]!), match_type: "professional_network_profile_url", matches: [] }
      ])
    )
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const outcomes = yield* provider.enrichSync(request(people.slice(0, 3), ["work_email"]))
        assert.deepStrictEqual(outcomes.map((o) => o._tag), ["Found", "NotFound", "Failed"])
        const ada = outcomes[0]!
        if (ada._tag === "Found") {
          assert.strictEqual(ada.provenance.cost, 1)
          assert.strictEqual(ada.provenance.mode, "sync")
        }
        assert.deepStrictEqual(seen[0]!.body, {
          professional_network_profile_urls: people.slice(0, 3).map(urlOf),
          fields: ["contact.business_emails"]
        })
        const tooMany = yield* Effect.flip(provider.enrichSync(request(
          Array.from({ length: 26 }, (_, i) => person(`p${i}`))
        )))
        assert.strictEqual(tooMany._tag, "InvalidRequest")
      }),
      client
    )
  })

  it.effect("refuses identifiers other than LinkedIn URLs", () => {
    const { client, seen } = happyFake()
    const email = Either.getOrThrow(Identifier.parseEmail("ada@acme.io"))
    return run(
      Effect.gen(function*() {
        const provider = yield* ContactProvider
        const error = yield* Effect.flip(provider.submit(request([new Person({ key: email.key, identifier: email })])))
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.strictEqual(seen.length, 0)
        assert.deepStrictEqual(provider.capabilities.identifierKinds, ["linkedin"])
        assert.strictEqual(provider.capabilities.maxBatch, 300)
        assert.deepStrictEqual(provider.capabilities.sync, { maxBatch: 25 })
      }),
      client
    )
  })
})
