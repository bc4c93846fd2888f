/**
 * `enrich worker --listen`: a small HTTP listener for Crustdata's callbacks and for health checks.
 *
 * - `POST /webhooks/crustdata/<token>`: the token names a run (an unknown one is 404); the body (at most
 *   `maxBodyBytes`, else 413, or a closed connection for a chunked body) is read only for the job's `batch_id`, which is published as a wake-up (`JobWakeups`)
 *   to whichever worker waits for the job. Nothing else in it is believed: the waiting client fetches the job's
 *   status itself. Answered 202 as soon as the wake-up is published.
 * - `GET /healthz`: 200 with the worker's id and the shards it holds.
 *
 * The token is a secret: the listener logs no request and makes no spans (their attributes would carry the path).
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { createServer } from "node:http"
import type { LedgerError } from "./Ledger.js"
import * as WebhookTokens from "./WebhookTokens.js"

/** A callback body is a job's status (a few KiB at most): anything much larger is not Crustdata's. */
export const maxBodyBytes = 64 * 1024

/** @since 0.1.0 @category Models */
export interface Address {
  readonly host: string
  readonly port: number
}

/**
 * `--listen`'s value: `PORT`, `HOST:PORT` or `[IPv6]:PORT`; without a host, 127.0.0.1 (only this machine): a
 * listener open to others is asked for by naming the host (e.g. 0.0.0.0).
 */
export const parseAddress = (raw: string): Either.Either<Address, string> => {
  const match = /^(?:(\[[^\]]+\]|[^:[\]]*):)?(\d{1,5})$/.exec(raw.trim())
  const port = match === null ? Number.NaN : Number(match[2])
  if (match === null || !(port >= 0 && port <= 65535)) {
    return Either.left(`expected PORT or HOST:PORT (e.g. 127.0.0.1:8080), got ${raw}`)
  }
  const host = match[1] === undefined || match[1] === "" ? "127.0.0.1" : match[1].replace(/^\[|\]$/g, "")
  return Either.right({ host, port })
}

/** The listener could not be started (the port is taken, the host is not this machine's). */
export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", { message: Schema.String }) {}

/** What the listener needs from the worker. */
export interface Options {
  readonly address: Address
  readonly worker: string
  /** shards this worker holds now */
  readonly shardsInHand: Effect.Effect<number>
  /** tells the worker waiting for this job to check it now */
  readonly wake: (runId: string, batchId: string) => Effect.Effect<void, LedgerError>
  /** a callback was taken for `runId`'s job (for the worker's messages: no token) */
  readonly onReceived?: ((runId: string, batchId: string) => Effect.Effect<void>) | undefined
}

/** Only the job's id is read from a callback. */
const CallbackBody = Schema.parseJson(Schema.Struct({ batch_id: Schema.String }))
const decodeBody = Schema.decodeUnknownEither(CallbackBody)

const status = (code: number, error: string) => HttpServerResponse.unsafeJson({ error }, { status: code })

/** The listener's routes, as an app (served by `serve`; tests may serve it elsewhere). */
export const app = (options: Omit<Options, "address">) => {
  const callback = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const { token } = yield* HttpRouter.params
    const declared = Number(request.headers["content-length"] ?? "0")
    // refused before any lookup or read when the sender says how large it is
    if (declared > maxBodyBytes) return status(413, "body too large")
    const runId = yield* WebhookTokens.runOf(token ?? "")
    if (Option.isNone(runId)) return status(404, "not found")
    const body = yield* request.text.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(maxBodyBytes)),
      Effect.either
    )
    // A body without a length announced (chunked) stops being read past the limit: Node then closes the
    // connection, so the sender sees a reset rather than this 413. Crustdata's callbacks announce their length.
    if (Either.isLeft(body)) return status(413, "body too large")
    const parsed = decodeBody(body.right)
    if (Either.isLeft(parsed)) return status(400, "no batch_id in the body")
    const batchId = parsed.right.batch_id
    yield* options.wake(runId.value, batchId)
    if (options.onReceived !== undefined) yield* options.onReceived(runId.value, batchId)
    return HttpServerResponse.unsafeJson({ accepted: true }, { status: 202 })
  }).pipe(
    // a ledger that cannot answer: the sender may try again, and polling finds the job anyway
    Effect.catchTag("LedgerError", () => Effect.succeed(status(503, "unavailable")))
  )

  const health = Effect.map(
    options.shardsInHand,
    (shards) => HttpServerResponse.unsafeJson({ ok: true, worker: options.worker, shards })
  )

  return HttpRouter.empty.pipe(
    HttpRouter.post(`${WebhookTokens.pathPrefix}:token`, callback),
    HttpRouter.get("/healthz", health),
    HttpRouter.catchAll(() => Effect.succeed(status(404, "not found")))
  )
}

/**
 * Serves the listener for the life of the scope; the address it is bound to (port 0: the one the system chose).
 */
export const serve = (
  options: Options
): Effect.Effect<Address, ListenError, Scope.Scope | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), {
      host: options.address.host,
      port: options.address.port
    }).pipe(Effect.mapError((error) =>
      new ListenError({
        message: `cannot listen on ${options.address.host}:${options.address.port}: ${
          error.cause instanceof Error ? error.cause.message : String(error.cause)
        }`
      })
    ))
    // no logger middleware and no spans: both would carry the request's path, and with it the token
    yield* server.serve(app(options)).pipe(Effect.withTracerEnabled(false))
    const bound = server.address
    return bound._tag === "TcpAddress" ? { host: bound.hostname, port: bound.port } : options.address
  })
