/**
 * What a Fiber simulator handler receives (`Call`: the decoded body, the key, provider time, warnings) and
 * answers (`Reply`: a status and a body encoded with the `FiberAiApi` schemas).
 */
import { FiberAiApi } from "@enrich/core/wire"
import * as Schema from "effect/Schema"
import type { Env } from "../Env.js"

export interface Reply {
  readonly status: number
  readonly body: unknown
}

export interface Call<A> {
  readonly body: A
  readonly apiKey: string
  readonly now: number
  readonly warnings: ReadonlyArray<FiberAiApi.Warning>
}

export const error = (status: number, message: string, extra: Record<string, unknown> = {}): Reply => ({
  status,
  body: Schema.encodeSync(FiberAiApi.ErrorBody)({ message, ...extra })
})

/** A 429, counted against the endpoint (a real window's or an injected one). */
export const limited = (env: Env, endpoint: FiberAiApi.Endpoint, message: string): Reply => {
  env.counters.limited(`fiber:${endpoint}`)
  return error(429, message)
}

/** A 402 for a request needing more than the key's `available` credits. */
export const outOfCredits = (available: number, needed: number): Reply =>
  error(402, `Not enough credits: this request needs ${needed} credits and ${available} are available.`, {
    outOfCreditsAlert: {
      getMoreCreditsUrl: "https://fiber.ai/app/billing",
      message: "You are out of credits. Top up or restart your billing cycle to continue.",
      availableCredits: available
    }
  })

/** A 200 encoded with `schema`, with `warnings` when the request had keys the endpoint does not know. */
export const ok = <A, I>(
  schema: Schema.Schema<A, I>,
  value: A,
  warnings: ReadonlyArray<FiberAiApi.Warning>
): Reply => ({
  status: 200,
  body: Schema.encodeSync(schema)(
    (warnings.length === 0 ? value : { ...value, warnings }) as A
  )
})
