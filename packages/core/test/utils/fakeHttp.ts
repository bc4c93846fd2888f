/**
 * A fake provider behind the HttpClient tag, for unit tests of the provider modules: `handler` answers each
 * request (1-based number) with a web `Response`, a promise of one, or a transport failure; every request is
 * recorded with its method, URL, headers and JSON body.
 */
import type * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export interface Seen<Body = unknown> {
  readonly method: string
  readonly url: URL
  readonly headers: Headers.Headers
  /** the parsed JSON body; `undefined` when the request has none */
  readonly body: Body
  readonly request: HttpClientRequest.HttpClientRequest
}

export type Answer = Response | "transport-error"

export const fakeHttp = <Body = unknown>(
  handler: (request: Seen<Body>, n: number) => Answer | Promise<Answer>
) => {
  const seen: Array<Seen<Body>> = []
  const client = HttpClient.make((request, url) =>
    Effect.flatMap(
      Effect.promise(async () => {
        const body = request.body._tag === "Uint8Array"
          ? JSON.parse(new TextDecoder().decode(request.body.body)) as Body
          : undefined as Body
        const entry: Seen<Body> = { method: request.method, url, headers: request.headers, body, request }
        seen.push(entry)
        return handler(entry, seen.length)
      }),
      (answer) =>
        answer === "transport-error"
          ? Effect.fail(
            new HttpClientError.RequestError({ request, reason: "Transport", description: "socket hang up" })
          )
          : Effect.succeed(HttpClientResponse.fromWeb(request, answer))
    )
  )
  return { seen, client, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

/** A JSON answer (a string body is sent as is, e.g. to fake a broken one). */
export const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers }
  })
