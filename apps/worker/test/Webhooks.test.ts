/**
 * The worker's listener over real HTTP on loopback: unknown tokens are 404, bodies over the limit 413, /healthz
 * 200; a callback with a run's token wakes that run's Crustdata client — through Postgres LISTEN/NOTIFY in
 * another "worker" (its own connection), or directly on SQLite.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { CrustdataClient } from "@enrich/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as JobWakeups from "../src/JobWakeups.js"
import * as Webhooks from "../src/Webhooks.js"
import * as WebhookTokens from "../src/WebhookTokens.js"
import { databaseUrl, type Db, postgres, sqlite } from "./utils/db.js"

const runId = "run-webhooks-test"
const batchId = "c97333e3-046f-4fd2-b888-a5b07793a0ac"

/** A run's registry whose Crustdata client only reports the jobs it is told are done. */
const wokenRegistry = Effect.gen(function*() {
  const woken = yield* Queue.unbounded<string>()
  const registry = yield* Layer.build(
    Layer.mock(CrustdataClient.CrustdataClient, {
      maxActiveJobs: 5,
      pageSize: 100,
      webhookUrl: undefined,
      notifyCompleted: (id) => Effect.asVoid(Queue.offer(woken, id))
    })
  )
  return { woken, registry }
})

/** The listener on a free loopback port with `wakeups`, and a client for it. */
const listener = (wakeups: JobWakeups.JobWakeups) =>
  Effect.gen(function*() {
    const bound = yield* Webhooks.serve({
      address: { host: "127.0.0.1", port: 0 },
      worker: "test-worker",
      shardsInHand: Effect.succeed(0),
      wake: wakeups.publish
    })
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest(HttpClientRequest.prependUrl(`http://${bound.host}:${bound.port}`))
    )
    return client
  })

const callback = (token: string, body: string) =>
  HttpClientRequest.post(`/webhooks/crustdata/${token}`).pipe(HttpClientRequest.bodyText(body, "application/json"))

const statusBody = JSON.stringify({ batch_id: batchId, status: "completed", entity: "person" })

/** Checks every dialect shares: the listener's answers to wrong requests, and health. */
const refusals = (client: HttpClient.HttpClient, token: string) =>
  Effect.gen(function*() {
    const health = yield* client.get("/healthz")
    assert.strictEqual(health.status, 200)
    assert.deepStrictEqual(yield* health.json, { ok: true, worker: "test-worker", shards: 0 })

    const unknown = yield* client.execute(callback(WebhookTokens.newToken(), statusBody))
    assert.strictEqual(unknown.status, 404)
    // the token is case-sensitive and whole: a prefix of a real one is no token
    const prefix = yield* client.execute(callback(token.slice(0, -1), statusBody))
    assert.strictEqual(prefix.status, 404)

    const large = "x".repeat(Webhooks.maxBodyBytes + 1)
    const declared = yield* client.execute(callback(token, large))
    assert.strictEqual(declared.status, 413)
    // the same without a Content-Length (chunked): reading stops past the limit, and Node closes the connection
    // (a reset, or the 413 if it was read first); either way the body is not taken (nothing woken, checked after)
    const chunked = yield* client.execute(
      HttpClientRequest.post(`/webhooks/crustdata/${token}`).pipe(
        HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode(large)), { contentType: "application/json" })
      )
    ).pipe(Effect.either)
    if (Either.isRight(chunked)) assert.strictEqual(chunked.right.status, 413)

    const noJob = yield* client.execute(callback(token, JSON.stringify({ status: "completed" })))
    assert.strictEqual(noJob.status, 400)
    const other = yield* client.get(`/webhooks/crustdata/${token}`)
    assert.strictEqual(other.status, 404)
  })

const withLedger = (db: Db) =>
<A, E>(
  effect: Effect.Effect<A, E, SqlClient.SqlClient | HttpClient.HttpClient | Scope.Scope>
) => effect.pipe(Effect.scoped, Effect.provide(db), Effect.provide(NodeHttpClient.layerUndici))

describe("enrich worker --listen", () => {
  it.live(
    "on SQLite: refusals, health, and a callback wakes this process's client for the run",
    () =>
      withLedger(sqlite)(Effect.gen(function*() {
        const token = WebhookTokens.newToken()
        yield* WebhookTokens.record(runId, { token, publicUrl: "https://hooks.example.com/base" })
        const wakeups = yield* JobWakeups.make
        assert.strictEqual(wakeups.via, "local")
        const { registry, woken } = yield* wokenRegistry
        yield* wakeups.register(runId, registry)
        const client = yield* listener(wakeups)
        yield* refusals(client, token)
        assert.strictEqual(yield* Queue.size(woken), 0, "a refused callback woke a job")

        const accepted = yield* client.execute(callback(token, statusBody))
        assert.strictEqual(accepted.status, 202)
        assert.strictEqual(yield* Queue.take(woken), batchId)
      })),
    30_000
  )

  describe.skipIf(databaseUrl === undefined)(
    databaseUrl === undefined ? "on Postgres (skipped: DATABASE_URL is not set)" : "on Postgres",
    () => {
      it.live(
        "refusals, health, and a callback wakes the run's client in another worker through LISTEN/NOTIFY",
        () =>
          withLedger(postgres(databaseUrl ?? "postgres://unset"))(Effect.gen(function*() {
            const token = WebhookTokens.newToken()
            yield* WebhookTokens.record(runId, { token, publicUrl: "https://hooks.example.com/base" })
            const receiving = yield* JobWakeups.make
            assert.strictEqual(receiving.via, "postgres")
            // the worker that waits for the job: its own Postgres connections, so the wake-up can only come by NOTIFY
            const own = yield* Layer.build(PgClient.layer({ url: Redacted.make(databaseUrl!) }))
            const waiting = yield* Effect.provide(JobWakeups.make, own)
            const { registry, woken } = yield* wokenRegistry
            yield* waiting.register(runId, registry)
            const client = yield* listener(receiving)
            yield* refusals(client, token)

            const accepted = yield* client.execute(callback(token, statusBody))
            assert.strictEqual(accepted.status, 202)
            assert.strictEqual(yield* Queue.take(woken), batchId)
            // another run's job wakes nobody here
            yield* receiving.publish("run-someone-else", "another-job")
            yield* receiving.publish(runId, "second-job")
            assert.strictEqual(yield* Queue.take(woken), "second-job")
            // the refused callbacks (published before, so delivered before) woke nothing
            assert.strictEqual(yield* Queue.size(woken), 0)
          })),
        30_000
      )
    }
  )
})
