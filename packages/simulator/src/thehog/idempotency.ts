/**
 * `Idempotency-Key` (per organisation): the first answer is stored with a fingerprint of its request body; the
 * same body under the same key replays it — same status, same body, `Idempotent-Replayed: true` — without a new
 * job or charge, and a different body under it is refused with 422.
 */
import * as Predicate from "effect/Predicate"
import { errorReply, type Reply } from "./replies.js"
import type { Sim } from "./sim.js"

export interface Stored {
  readonly fingerprint: string
  readonly reply: Reply
}

/** A stable text of a JSON value (keys sorted), to tell a replay from a different request under the same key. */
const fingerprint = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    Predicate.isRecord(v) && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
      : v)

export interface Request {
  readonly org: string
  readonly idempotencyKey: string | undefined
  /** the body as received */
  readonly raw: unknown
  readonly path: string
  readonly requestId: string
  readonly now: number
}

/** The stored answer (replayed) or a 422 for a reused key, else `answer()`'s reply, stored under the key if any. */
export const idempotently = ({ idempotent }: Sim, request: Request, answer: () => Reply): Reply => {
  const { idempotencyKey, now, org, path, requestId } = request
  const storeKey = idempotencyKey === undefined ? undefined : `${org}\n${idempotencyKey}`
  const print = fingerprint(request.raw)
  const stored = storeKey === undefined ? undefined : idempotent.get(storeKey)
  if (stored !== undefined) {
    return stored.fingerprint === print
      ? { ...stored.reply, headers: { "idempotent-replayed": "true" } }
      : errorReply(
        422,
        "Idempotency-Key was already used with a different request body",
        path,
        requestId,
        now
      )
  }
  const reply = answer()
  if (storeKey !== undefined) idempotent.set(storeKey, { fingerprint: print, reply })
  return reply
}
