import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import { CrustdataApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { createServer } from "node:http"
import { gunzipSync } from "node:zlib"
import { credentials } from "../src/Credentials.js"
import * as CrustdataSimulator from "../src/crustdata/CrustdataSimulator.js"
import { type Env, type EnvOptions, makeEnv } from "../src/Env.js"

const key = credentials.crustdata.apiKey

interface Sim {
  readonly env: Env
  readonly url: string
  readonly http: HttpClient.HttpClient
  /** webhook bodies the simulator posted */
  readonly hooks: Array<{ readonly url: string; readonly body: unknown }>
}

/** The simulator alone on a loopback port (basePath ""), a plain HTTP client, and a webhook recorder. */
const serve = (
  envOptions: EnvOptions = {},
  options: CrustdataSimulator.Options = {}
): Effect.Effect<Sim, never, Scope.Scope> =>
  Effect.gen(function*() {
    const env = yield* makeEnv({ timeScale: 1000, universe: { size: 200 }, ...envOptions })
    const hooks: Array<{ url: string; body: unknown }> = []
    const recorder = HttpClient.make((request) =>
      Effect.sync(() => {
        const body = request.body._tag === "Uint8Array"
          ? JSON.parse(new TextDecoder().decode(request.body.body)) as unknown
          : undefined
        hooks.push({ url: request.url, body })
      }).pipe(Effect.zipRight(Effect.die("recorded")))
    )
    const router = yield* CrustdataSimulator.make(env, { basePath: "", ...options }).pipe(
      Effect.provideService(HttpClient.HttpClient, recorder)
    )
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" }).pipe(Effect.orDie)
    yield* server.serve(router)
    const address = server.address
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
    const http = yield* HttpClient.HttpClient.pipe(Effect.provide(FetchHttpClient.layer))
    return { env, url, http, hooks }
  })

interface CallOptions {
  readonly body?: unknown
  readonly auth?: string | null
  readonly version?: string | null
  readonly headers?: Record<string, string>
}

const call = (sim: Sim, method: "GET" | "POST", path: string, options: CallOptions = {}) => {
  let request = (method === "GET" ? HttpClientRequest.get : HttpClientRequest.post)(
    path.startsWith("http") ? path : sim.url + path
  )
  if (options.auth !== null) {
    request = HttpClientRequest.setHeader(request, "authorization", options.auth ?? `Bearer ${key}`)
  }
  if (options.version !== null && method === "POST") {
    request = HttpClientRequest.setHeader(request, "x-api-version", options.version ?? CrustdataApi.apiVersion)
  }
  if (options.headers !== undefined) request = HttpClientRequest.setHeaders(request, options.headers)
  if (options.body !== undefined) request = HttpClientRequest.bodyUnsafeJson(request, options.body)
  return Effect.orDie(sim.http.execute(request))
}

const decode = <A, I>(schema: Schema.Schema<A, I>) => (response: HttpClientResponse.HttpClientResponse) =>
  Effect.orDie(Effect.flatMap(response.json, Schema.decodeUnknown(schema, { onExcessProperty: "error" })))

const errorOf = decode(CrustdataApi.ErrorBody)

const urls = (sim: Sim, known: number, ghosts = 0) => [
  ...sim.env.universe.people.slice(0, known).map((p) => p.linkedinUrl + "/"),
  ...Array.from({ length: ghosts }, (_, i) => sim.env.universe.ghostUrl(i))
]

const submit = (sim: Sim, body: unknown, options: CallOptions = {}) =>
  call(sim, "POST", "/batch/person/contact/enrich", { ...options, body })

const allFields = ["business_email", "personal_contact_info"]

/** Polls until the job is terminal (real time; the simulator runs 1000× faster). */
const waitFor = (sim: Sim, id: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      const status = yield* Effect.flatMap(call(sim, "GET", `/batch/${id}`), decode(CrustdataApi.BatchStatusResponse))
      if (status.status === "completed" || status.status === "failed") return status
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.die("job never finished")
  })

const download = (sim: Sim, link: string, headers: Record<string, string> = {}) =>
  Effect.orDie(sim.http.execute(HttpClientRequest.get(link).pipe(HttpClientRequest.setHeaders(headers))))

const records = (response: HttpClientResponse.HttpClientResponse) =>
  Effect.map(Effect.orDie(response.arrayBuffer), (buffer) => {
    const bytes = new Uint8Array(buffer)
    assert.deepStrictEqual([bytes[0], bytes[1]], [0x1f, 0x8b], "gzip magic")
    return gunzipSync(bytes).toString("utf8").split("\n").filter((l) => l.length > 0).map((line) =>
      Schema.decodeUnknownSync(Schema.parseJson(CrustdataApi.BatchRecord))(line)
    )
  })

describe("CrustdataSimulator", () => {
  it.scopedLive("requires a Bearer key and the version header on POSTs", () =>
    Effect.gen(function*() {
      const sim = yield* serve()
      const body = { professional_network_profile_urls: urls(sim, 1), fields: allFields }
      const none = yield* submit(sim, body, { auth: null })
      assert.strictEqual(none.status, 401)
      assert.strictEqual((yield* errorOf(none)).error.type, "authentication_error")
      assert.strictEqual((yield* submit(sim, body, { auth: "Bearer nope" })).status, 401)
      const noVersion = yield* submit(sim, body, { version: null })
      assert.strictEqual(noVersion.status, 400)
      assert.include((yield* errorOf(noVersion)).error.message, "x-api-version")
      // the legacy Token scheme is accepted too; GET needs no version header
      const ok = yield* submit(sim, body, { auth: `Token ${key}` })
      assert.strictEqual(ok.status, 200)
      const job = yield* decode(CrustdataApi.BatchSubmitResponse)(ok)
      assert.strictEqual((yield* call(sim, "GET", `/batch/${job.batch_id}`)).status, 200)
      assert.strictEqual(sim.env.counters.requestsTo("crustdata:batch/submit"), 4)
    }))

  it.scopedLive("validates the URL list (1..300, comma string) and the fields", () =>
    Effect.gen(function*() {
      const sim = yield* serve()
      assert.strictEqual((yield* submit(sim, { professional_network_profile_urls: [], fields: allFields })).status, 400)
      const tooMany = Array.from({ length: 301 }, (_, i) => sim.env.universe.ghostUrl(i))
      const big = yield* submit(sim, { professional_network_profile_urls: tooMany, fields: allFields })
      assert.strictEqual(big.status, 400)
      assert.include((yield* errorOf(big)).error.message, "300")
      const badField = yield* submit(sim, { professional_network_profile_urls: urls(sim, 1), fields: ["contact"] })
      assert.strictEqual(badField.status, 400)
      assert.deepStrictEqual(
        (yield* errorOf(badField)).error.metadata?.available_fields,
        CrustdataApi.batchFields
      )
      const empty = yield* submit(sim, { professional_network_profile_urls: urls(sim, 1), fields: [] })
      assert.strictEqual(empty.status, 400)
      const csv = yield* submit(sim, {
        professional_network_profile_urls: urls(sim, 3).join(","),
        fields: "business_email,personal_contact_info.phone_numbers"
      })
      assert.strictEqual(csv.status, 200)
      const job = yield* decode(CrustdataApi.BatchSubmitResponse)(csv)
      assert.match(job.batch_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      assert.deepStrictEqual(
        [job.status, job.entity, job.action, job.identifier_count, job.entities_requested, job.status_url],
        ["pending", "person", "contact_enrich", 3, 3, `/batch/${job.batch_id}`]
      )
    }))

  it.scopedLive("runs a job to completion and serves one gzipped record per URL, billing what it delivered", () =>
    Effect.gen(function*() {
      const sim = yield* serve({}, { partSize: 4, pendingMillis: 300_000 })
      const sent = urls(sim, 10, 2)
      const job = yield* Effect.flatMap(
        submit(sim, { professional_network_profile_urls: sent, fields: allFields }),
        decode(CrustdataApi.BatchSubmitResponse)
      )
      const first = yield* Effect.flatMap(
        call(sim, "GET", `/batch/${job.batch_id}`),
        decode(CrustdataApi.BatchStatusResponse)
      )
      assert.strictEqual(first.status, "pending")
      assert.isUndefined(first.download_url)
      const done = yield* waitFor(sim, job.batch_id)
      assert.strictEqual(done.status, "completed")
      assert.strictEqual(done.result_count, 12)
      assert.isDefined(done.completed_at)
      assert.strictEqual(done.download_urls?.length, 3)
      const response = yield* download(sim, done.download_url!)
      assert.strictEqual(response.status, 200)
      assert.isUndefined(response.headers["content-encoding"])
      const lines = yield* records(response)
      assert.deepStrictEqual(lines.map((r) => r.original_identifier), sent)
      const ghosts = lines.slice(10)
      assert.isTrue(ghosts.every((r) => r.internal_id === null && r.data.business_email.length === 0))
      // what the universe says Crustdata knows, and the bill for it
      let credits = 0
      let fulfilled = 0
      lines.slice(0, 10).forEach((r, i) => {
        const known = sim.env.universe.knowledge("crustdata", sim.env.universe.people[i]!)
        assert.strictEqual(r.data.business_email[0]?.email, known.workEmail?.address)
        assert.strictEqual(r.data.personal_contact_info.personal_emails[0]?.email, known.personalEmail?.address)
        assert.strictEqual(r.data.personal_contact_info.phone_numbers[0], known.phone)
        const p = CrustdataApi.priceOf({
          businessEmails: known.workEmail ? 1 : 0,
          personalEmails: known.personalEmail ? 1 : 0,
          phones: known.phone ? 1 : 0
        })
        credits += p
        if (p > 0) fulfilled++
      })
      assert.strictEqual(done.entities_fulfilled, fulfilled)
      assert.strictEqual(sim.env.counters.netCredits("crustdata"), credits)
      // parts hold the same records
      const parts = yield* Effect.forEach(done.download_urls!, (link) => Effect.flatMap(download(sim, link), records))
      assert.deepStrictEqual(parts.flat().map((r) => r.original_identifier), sent)
      // each submitted person counted once, by canonical URL
      assert.strictEqual(sim.env.counters.submissionsOf("crustdata", sim.env.universe.people[0]!.linkedinUrl), 1)
      // polling again neither charges again nor changes the file
      yield* waitFor(sim, job.batch_id)
      assert.strictEqual(sim.env.counters.netCredits("crustdata"), credits)
    }))

  it.scopedLive("only delivers the requested fields", () =>
    Effect.gen(function*() {
      const sim = yield* serve()
      const job = yield* Effect.flatMap(
        submit(sim, {
          professional_network_profile_urls: urls(sim, 30),
          fields: ["personal_contact_info.phone_numbers"]
        }),
        decode(CrustdataApi.BatchSubmitResponse)
      )
      const done = yield* waitFor(sim, job.batch_id)
      const lines = yield* Effect.flatMap(download(sim, done.download_url!), records)
      assert.isTrue(lines.every((r) => r.data.business_email.length === 0))
      assert.isTrue(lines.every((r) => r.data.personal_contact_info.personal_emails.length === 0))
      assert.isTrue(lines.some((r) => r.data.personal_contact_info.phone_numbers.length === 1))
    }))

  it.scopedLive("refuses downloads that carry Authorization, and expired links (S3 style)", () =>
    Effect.gen(function*() {
      const sim = yield* serve({}, { downloadTtlSeconds: 400 })
      const job = yield* Effect.flatMap(
        submit(sim, { professional_network_profile_urls: urls(sim, 2), fields: allFields }),
        decode(CrustdataApi.BatchSubmitResponse)
      )
      const done = yield* waitFor(sim, job.batch_id)
      const withAuth = yield* download(sim, done.download_url!, { authorization: `Bearer ${key}` })
      assert.strictEqual(withAuth.status, 403)
      assert.include(yield* Effect.orDie(withAuth.text), "<Error>")
      const forged = yield* download(sim, done.download_url!.replace(/X-Amz-Signature=\w/, "X-Amz-Signature=z"))
      assert.strictEqual(forged.status, 403)
      // 400 provider seconds = 400 real ms at 1000×
      yield* Effect.sleep("500 millis")
      const expired = yield* download(sim, done.download_url!)
      assert.strictEqual(expired.status, 403)
      assert.include(yield* Effect.orDie(expired.text), "Request has expired")
      const fresh = yield* waitFor(sim, job.batch_id)
      assert.strictEqual((yield* download(sim, fresh.download_url!)).status, 200)
    }))

  it.scopedLive("allows 5 active jobs per key and refuses the sixth with 429", () =>
    Effect.gen(function*() {
      const sim = yield* serve({ timeScale: 100 })
      const body = { professional_network_profile_urls: urls(sim, 1), fields: allFields }
      const ids: Array<string> = []
      for (let i = 0; i < 5; i++) {
        ids.push((yield* Effect.flatMap(submit(sim, body), decode(CrustdataApi.BatchSubmitResponse))).batch_id)
      }
      const sixth = yield* submit(sim, body)
      assert.strictEqual(sixth.status, 429)
      const error = yield* errorOf(sixth)
      assert.include(error.error.message, "active")
      assert.strictEqual(error.error.metadata?.active_jobs, 5)
      yield* waitFor(sim, ids[0]!)
      assert.strictEqual((yield* submit(sim, body)).status, 200)
    }))

  it.scopedLive("lists jobs most recent first, by cursor pages and status, without download links", () =>
    Effect.gen(function*() {
      const sim = yield* serve({}, { maxActiveJobs: 10, pendingMillis: 1e9 })
      const ids: Array<string> = []
      for (let n = 1; n <= 5; n++) {
        const body = { professional_network_profile_urls: urls(sim, n), fields: allFields }
        ids.push((yield* Effect.flatMap(submit(sim, body), decode(CrustdataApi.BatchSubmitResponse))).batch_id)
      }
      // summaries only: decoding with excess properties refused proves no download link is listed
      const listOf = (query: string) =>
        Effect.flatMap(call(sim, "GET", `/batch${query}`), decode(CrustdataApi.BatchListResponse))
      const seen: Array<string> = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page: CrustdataApi.BatchListResponse = yield* listOf(
          `?limit=2${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`
        )
        assert.isAtMost(page.batches.length, 2)
        seen.push(...page.batches.map((b) => b.batch_id))
        for (const b of page.batches) assert.strictEqual(b.identifier_count, ids.indexOf(b.batch_id) + 1)
        cursor = page.next_cursor
        pages++
      } while (cursor !== null)
      assert.strictEqual(pages, 3)
      assert.deepStrictEqual(seen, [...ids].reverse())
      // all five are still pending: the filter keeps them all for pending and none for the other states
      const pending = yield* listOf("?status=pending")
      assert.deepStrictEqual(pending.batches.map((b) => b.batch_id), [...ids].reverse())
      assert.strictEqual(pending.next_cursor, null)
      assert.deepStrictEqual((yield* listOf("?status=completed")).batches, [])
      assert.deepStrictEqual((yield* listOf("?status=processing")).batches, [])
      // no version header needed on GET, but a key is; a bad cursor or limit is a 400
      assert.strictEqual((yield* call(sim, "GET", "/batch", { auth: null })).status, 401)
      assert.strictEqual((yield* call(sim, "GET", "/batch?cursor=nope")).status, 400)
      assert.strictEqual((yield* call(sim, "GET", "/batch?limit=101")).status, 400)
      assert.strictEqual((yield* call(sim, "GET", "/batch?status=done")).status, 400)
      assert.strictEqual(sim.env.counters.requestsTo("crustdata:batch/list"), 10)
    }))

  it.scopedLive("slowJobFactor stretches a job's whole run in provider time", () =>
    Effect.gen(function*() {
      const sim = yield* serve({ timeScale: 2000, faults: { crustdata: { slowJobFactor: 4 } } })
      const body = { professional_network_profile_urls: urls(sim, 10), fields: allFields }
      const { batch_id } = yield* Effect.flatMap(submit(sim, body), decode(CrustdataApi.BatchSubmitResponse))
      const done = yield* waitFor(sim, batch_id)
      assert.strictEqual(done.status, "completed")
      // (20 s pending + 120 s processing + 10 × 100 ms) × 4
      assert.strictEqual(Date.parse(done.completed_at!) - Date.parse(done.created_at!), 141_000 * 4)
    }))

  it.scopedLive("fails jobs per the fault knob without billing, and posts the webhook once", () =>
    Effect.gen(function*() {
      const sim = yield* serve({ faults: { crustdata: { failJobRate: 1 } } })
      const job = yield* Effect.flatMap(
        submit(sim, {
          professional_network_profile_urls: urls(sim, 5),
          fields: allFields,
          webhook_url: "http://hooks.test/crustdata"
        }),
        decode(CrustdataApi.BatchSubmitResponse)
      )
      const done = yield* waitFor(sim, job.batch_id)
      assert.strictEqual(done.status, "failed")
      assert.isString(done.error_message)
      assert.isUndefined(done.download_url)
      assert.strictEqual(sim.env.counters.netCredits("crustdata"), 0)
      yield* Effect.sleep("50 millis")
      assert.strictEqual(sim.hooks.length, 1)
      assert.strictEqual(sim.hooks[0]!.url, "http://hooks.test/crustdata")
      const payload = Schema.decodeUnknownSync(CrustdataApi.WebhookPayload)(sim.hooks[0]!.body)
      assert.deepStrictEqual([payload.batch_id, payload.status], [job.batch_id, "failed"])
    }))

  it.scopedLive("sync contact enrich: input order, misses as matches [], caps, fields, 15 rpm with headers", () =>
    Effect.gen(function*() {
      const sim = yield* serve({ timeScale: 1 })
      const ids = [...urls(sim, 3), sim.env.universe.ghostUrl(7)]
      const response = yield* call(sim, "POST", "/person/contact/enrich", {
        body: { professional_network_profile_urls: ids, fields: ["contact.business_emails"] }
      })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers["x-ratelimit-limit"], "15")
      assert.strictEqual(response.headers["x-ratelimit-remaining"], "14")
      const entries = yield* decode(CrustdataApi.ContactEnrichResponse)(response)
      assert.deepStrictEqual(entries.map((e) => e.matched_on), ids)
      assert.deepStrictEqual(entries[3]!.matches, [])
      for (const [i, entry] of entries.slice(0, 3).entries()) {
        const known = sim.env.universe.knowledge("crustdata", sim.env.universe.people[i]!)
        const contact = entry.matches[0]?.person_data.contact
        assert.strictEqual(contact?.business_emails[0]?.email, known.workEmail?.address)
        assert.strictEqual(contact?.phone_numbers.length ?? 0, 0)
      }
      const both = yield* call(sim, "POST", "/person/contact/enrich", {
        body: { professional_network_profile_urls: ids, business_emails: ["a@b.co"] }
      })
      assert.strictEqual(both.status, 400)
      const tooMany = yield* call(sim, "POST", "/person/contact/enrich", {
        body: { professional_network_profile_urls: urls(sim, 26) }
      })
      assert.strictEqual(tooMany.status, 400)
      const badField = yield* call(sim, "POST", "/person/contact/enrich", {
        body: { professional_network_profile_urls: ids, fields: ["name"] }
      })
      assert.strictEqual(badField.status, 400)
      assert.include((yield* errorOf(badField)).error.metadata?.available_fields ?? [], "contact.phone_numbers")
      let last = response
      for (let i = 0; i < 12; i++) {
        last = yield* call(sim, "POST", "/person/contact/enrich", { body: { business_emails: ["a@b.co"] } })
      }
      assert.strictEqual(last.status, 429)
      assert.strictEqual(last.headers["x-ratelimit-remaining"], "0")
      assert.isAbove(Number(last.headers["x-ratelimit-reset"]), 50)
      assert.strictEqual(sim.env.counters.totalRateLimited("crustdata:person/contact/enrich"), 1)
    }))

  it.scopedLive("refuses the sync endpoint to self-serve keys with 403", () =>
    Effect.gen(function*() {
      const sim = yield* serve({}, { syncDeniedKeys: [key] })
      const response = yield* call(sim, "POST", "/person/contact/enrich", { body: { business_emails: ["a@b.co"] } })
      assert.strictEqual(response.status, 403)
      assert.strictEqual((yield* errorOf(response)).error.type, "permission_error")
    }))

  it.scopedLive("injects 5xx bursts, 429 storms, malformed and truncated bodies, unknown enum values", () =>
    Effect.gen(function*() {
      const burst = yield* serve({ faults: { crustdata: { serverErrorBurst: { from: 1, length: 2 } } } })
      const body = { professional_network_profile_urls: urls(burst, 1), fields: allFields }
      assert.deepStrictEqual(
        [(yield* submit(burst, body)).status, (yield* submit(burst, body)).status, (yield* submit(burst, body)).status],
        [500, 500, 200]
      )
      const storm = yield* serve({ faults: { crustdata: { rateLimitStorm: { from: 2, length: 2 } } } })
      const statuses = []
      for (let i = 0; i < 4; i++) statuses.push((yield* submit(storm, body)).status)
      assert.deepStrictEqual(statuses, [200, 429, 429, 200])
      assert.strictEqual(storm.env.counters.totalRateLimited("crustdata"), 2)

      const malformed = yield* serve({ faults: { crustdata: { malformedRate: 1 } } })
      const job = yield* Effect.flatMap(submit(malformed, body), decode(CrustdataApi.BatchSubmitResponse))
      const drifted = yield* Effect.flatMap(call(malformed, "GET", `/batch/${job.batch_id}`), (r) => r.json)
      assert.isTrue(Schema.decodeUnknownEither(CrustdataApi.BatchStatusResponse)(drifted)._tag === "Left")

      const truncated = yield* serve({ faults: { crustdata: { truncatedRate: 1 } } })
      const job2 = yield* Effect.flatMap(submit(truncated, body), decode(CrustdataApi.BatchSubmitResponse))
      const text = yield* Effect.flatMap(call(truncated, "GET", `/batch/${job2.batch_id}`), (r) => Effect.orDie(r.text))
      assert.throws(() => JSON.parse(text))

      // pending for 1.5 s of real time: long enough to be seen pending on a loaded machine (it once was not at 5 ms)
      const odd = yield* serve({ faults: { crustdata: { unknownEnumRate: 1 } } }, {
        pendingMillis: 1_500_000,
        processingMillis: 0
      })
      const job3 = yield* Effect.flatMap(
        submit(odd, { professional_network_profile_urls: urls(odd, 20), fields: allFields }),
        decode(CrustdataApi.BatchSubmitResponse)
      )
      const raw = yield* Effect.flatMap(call(odd, "GET", `/batch/${job3.batch_id}`), (r) => r.json)
      assert.strictEqual((raw as { status: string }).status, "queued")
      const done = yield* waitFor(odd, job3.batch_id)
      const bytes = new Uint8Array(
        yield* Effect.orDie(Effect.flatMap(download(odd, done.download_url!), (r) => r.arrayBuffer))
      )
      const file = gunzipSync(bytes).toString("utf8")
      assert.include(file, "\"catch_all\"")
      assert.notInclude(file, "\"deliverable\"")
    }))
})
