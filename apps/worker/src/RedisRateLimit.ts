/**
 * The providers' limits in Redis, shared by every process that uses the same Redis (and key prefix): a
 * `RateLimitStore` with the memory store's semantics across processes.
 *
 * - Windows: one sorted set per (provider, endpoint, window length). A member is one request; its score is the
 *   time (Redis's clock, the same for every machine) at which it stops counting. A request in flight holds its
 *   slot with a lease (now + lease + interval), renewed while it runs, so a worker that dies frees its slots within
 *   a lease and an interval; on completion the score becomes completion + interval, which is the memory store's
 *   "held while in flight and for one interval after it completes". One Lua script removes what expired, counts
 *   and adds, for every window of the endpoint at once, so acquisition is atomic across processes.
 * - Waiting: the script answers how long until the oldest member leaves the window, at most one interval (a
 *   request still in flight, scored with its lease, frees its slot an interval after it completes, so never
 *   sooner); the caller sleeps that long (`Effect.sleep`) and asks again. One fiber
 *   per endpoint of a process asks Redis at a time, the others queue behind it in this process.
 * - Slots (Crustdata's active jobs): one sorted set per (provider, name), a member per holder scored with its lease
 *   expiry, renewed while held, removed on release, lapsing when the holder dies; waiters queue in arrival order
 *   across processes (a sorted set beside it), so no process starves behind one that frees and retakes slots.
 *
 * Why not `@effect/experimental`'s `RateLimiter` with its Redis store: it offers a fixed window and a token bucket,
 * both counted when a request starts. The providers count a sliding window of the requests they receive: a token
 * bucket lets `limit` through at once and refills during the same window, a fixed window lets a second `limit`
 * through right after its reset, so both let bursts reach the provider, which answers them with 429s. Measured
 * against the Fiber simulator (`test/RedisRateLimit.test.ts`, "measured": 400 calls at once at `/single`'s 200 per
 * minute): fixed window 4–186 429s over four runs (it depends on timing), token bucket 200, this store 0. Nor does
 * it hold a slot while a request is in flight, which the active-job caps need.
 *
 * @since 0.1.0
 */
import { type RateLimits, RateLimitStore } from "@enrich/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import { randomUUID } from "node:crypto"

/** Redis could not be reached or refused a command (the message never carries the URL's password). */
export class RedisStoreError extends Schema.TaggedError<RedisStoreError>()("RedisStoreError", {
  message: Schema.String
}) {}

/** @since 0.1.0 */
export const defaultPrefix = "enrich:limits:"

export interface Options {
  /** `redis://…`; a password in it is never printed */
  readonly url: Redacted.Redacted
  /** every key starts with it (default `enrich:limits:`); processes share limits when they share the prefix */
  readonly prefix?: string | undefined
  /** how long a request in flight or a held slot counts when its process stops renewing it (default 30 s) */
  readonly lease?: Duration.DurationInput | undefined
  /** longest wait between two looks at full slots freed by another process (default 1 s) */
  readonly slotPoll?: Duration.DurationInput | undefined
}

/** `redis://user:***@host:port/db`: the URL with its password masked, for messages. */
export const safeUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "(unparseable Redis URL)"
  }
}

// Redis's clock in milliseconds (microsecond precision), one clock for every process and machine.
const now = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000`

// Keeps a key at least `ms` alive (it only holds members that count for less than that).
const ensureTtl = `local function ensureTtl(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, math.ceil(ms)) end
end`

/**
 * KEYS: the endpoint's windows; ARGV: member, lease, then limit and interval per key.
 * Returns 0 when the member was added to every window, else the milliseconds to wait (no window was touched).
 */
const acquireWindows = `${now}
${ensureTtl}
local member = ARGV[1]
local lease = tonumber(ARGV[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local interval = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = math.min(tonumber(oldest[2]) - now, interval)
    if w > wait then wait = w end
  end
end
if wait > 0 then return math.max(1, math.ceil(wait)) end
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', key, now + lease + interval, member)
  ensureTtl(key, lease + interval + 1000)
end
return 0`

/**
 * KEYS: keys (repeated as needed); ARGV: lease, then per key the extra time it counts after its lease (the interval
 * of a window, 0 for a slot) and the member. Sets each member's expiry to now + lease + extra; used both to renew
 * leases and, with a lease of 0, to mark completions.
 */
const setExpiries = `${now}
${ensureTtl}
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local extra = tonumber(ARGV[2 * i])
  redis.call('ZADD', key, now + lease + extra, ARGV[2 * i + 1])
  ensureTtl(key, lease + extra + 1000)
end
return #KEYS`

/**
 * KEYS: the slots, the queue of waiters (scored by arrival), the waiters' leases; ARGV: member, max, lease.
 * Slots go to waiters in the order they first asked, across processes (a process that frees a slot does not
 * take it back ahead of another that waits); a waiter that stops asking (it died) leaves the queue when its
 * lease lapses. Returns 0 when the member holds a slot (it may already have), else the milliseconds until the
 * earliest lease of a holder would lapse (the caller asks again sooner).
 */
const acquireSlot = `${now}
${ensureTtl}
local slots, queue, leases = KEYS[1], KEYS[2], KEYS[3]
local member = ARGV[1]
local max = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do redis.call('ZREM', queue, gone) end
redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
if redis.call('ZSCORE', slots, member) then
  redis.call('ZADD', slots, now + lease, member)
  return 0
end
redis.call('ZADD', queue, 'NX', now, member)
redis.call('ZADD', leases, now + lease, member)
if redis.call('ZRANK', queue, member) < max - redis.call('ZCARD', slots) then
  redis.call('ZADD', slots, now + lease, member)
  redis.call('ZREM', queue, member)
  redis.call('ZREM', leases, member)
  ensureTtl(slots, lease + 1000)
  return 0
end
ensureTtl(queue, lease + 1000)
ensureTtl(leases, lease + 1000)
local oldest = redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')
if oldest[2] == nil then return lease end
return math.max(1, math.ceil(tonumber(oldest[2]) - now))`

/** KEYS: the slots, the queue, the leases; ARGV: member. The member neither holds a slot nor waits for one. */
const releaseSlot = `for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[1]) end
return 0`

interface Scripted extends Redis {
  acquireWindows(...args: Array<string | number>): Promise<number>
  setExpiries(...args: Array<string | number>): Promise<number>
  acquireSlot(slots: string, queue: string, leases: string, member: string, max: number, lease: number): Promise<number>
  releaseSlot(slots: string, queue: string, leases: string, member: string): Promise<number>
}

/** A member this process holds in a key, renewed until released; `extra`: what it counts after its lease. */
interface Lease {
  readonly key: string
  readonly member: string
  readonly extra: number
}

/** The connection, with the scripts defined; `closed` once the scope closes it. */
interface Connection {
  readonly redis: Scripted
  readonly url: string
  readonly isClosed: () => boolean
}

const connect = (url: string): Effect.Effect<Connection, RedisStoreError, Scope.Scope> =>
  Effect.gen(function*() {
    // once the store is closed, what its users still give back lapses with its lease instead
    let closed = false
    const redis = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 }) as Scripted
          // ioredis reports connection failures as events: logged by the commands that fail, not here
          client.on("error", () => {})
          // a first connection that fails must not leave the client reconnecting in the background
          await client.connect().catch((error: unknown) => {
            client.disconnect()
            throw error
          })
          return client
        },
        catch: (cause) =>
          new RedisStoreError({
            message: `Redis at ${safeUrl(url)} unreachable: ${cause instanceof Error ? cause.message : String(cause)}`
          })
      }),
      (client) =>
        Effect.promise(() => {
          closed = true
          return client.quit().catch(() => client.disconnect())
        })
    )
    redis.defineCommand("acquireWindows", { lua: acquireWindows })
    redis.defineCommand("setExpiries", { lua: setExpiries })
    redis.defineCommand("acquireSlot", { lua: acquireSlot, numberOfKeys: 3 })
    redis.defineCommand("releaseSlot", { lua: releaseSlot, numberOfKeys: 3 })
    return { redis, url, isClosed: () => closed }
  })

/**
 * Running commands. One that fails (Redis restarting, network) is retried for a while; then the run cannot keep the
 * providers' limits and stops (a defect: the gates' callers have no error of their own for it). What is given back
 * (completions, releases, renewals) after the store closed lapses with its lease.
 */
const makeCommands = (connection: Connection) => {
  const attempt = <A>(name: string, run: () => Promise<A>) =>
    Effect.tryPromise({
      try: run,
      catch: (cause) =>
        new RedisStoreError({
          message: `Redis ${name} failed at ${safeUrl(connection.url)}: ${
            cause instanceof Error ? cause.message : String(cause)
          }`
        })
    }).pipe(
      Effect.tapError((error) => Effect.logWarning(error.message)),
      Effect.retry(
        Schedule.exponential("100 millis").pipe(
          Schedule.union(Schedule.spaced("5 seconds")),
          Schedule.upTo("1 minute")
        )
      ),
      Effect.orDie
    )
  const command = <A>(name: string, run: () => Promise<A>): Effect.Effect<A> =>
    Effect.suspend(() =>
      connection.isClosed()
        ? Effect.die(new RedisStoreError({ message: `Redis ${name} after the store was closed` }))
        : attempt(name, run)
    )
  const giveBack = (name: string, run: () => Promise<unknown>): Effect.Effect<void> =>
    Effect.suspend(() => connection.isClosed() ? Effect.void : Effect.asVoid(command(name, run)))
  return { command, giveBack }
}

/** What the window gates and the slots share: the connection, its commands, and this process's leases. */
interface Shared {
  readonly redis: Scripted
  readonly command: <A>(name: string, run: () => Promise<A>) => Effect.Effect<A>
  readonly giveBack: (name: string, run: () => Promise<unknown>) => Effect.Effect<void>
  /** ms a member counts while held, renewed every third of it */
  readonly lease: number
  /** the leases this process holds, by `${member}|${key}` */
  readonly held: Map<string, Lease>
  /** a member unique across every process sharing the prefix */
  readonly nextMember: () => string
  readonly key: (...parts: ReadonlyArray<string>) => string
}

/**
 * Renews every lease of this process every third of a lease; a member released meanwhile is not in the snapshot,
 * and its removal is sent after this command (the same connection keeps the order), so a release is never undone.
 */
const renewLeases = (shared: Shared): Effect.Effect<void, never, Scope.Scope> => {
  const renew = shared.giveBack("renew", () => {
    if (shared.held.size === 0) return Promise.resolve(0)
    const keys: Array<string> = []
    const args: Array<string | number> = [shared.lease]
    for (const { extra, key, member } of shared.held.values()) {
      keys.push(key)
      args.push(extra, member)
    }
    return shared.redis.setExpiries(keys.length, ...keys, ...args)
  })
  return Effect.asVoid(Effect.forkScoped(
    Effect.repeat(Effect.catchAllCause(renew, Effect.logWarning), Schedule.spaced(Math.max(1, shared.lease / 3)))
  ))
}

/** A gate per endpoint of `limits`: its sliding windows, counted in Redis. */
const windowGates = (shared: Shared) => (provider: string, limits: RateLimits.Limits) =>
  Effect.gen(function*() {
    const { command, giveBack, held, lease, redis } = shared
    const byEndpoint = new Map<string, ReturnType<RateLimits.Gates["gate"]>>()
    for (const [endpoint, windows] of Object.entries(limits)) {
      if (windows.length === 0) continue
      const parts = windows.map((w) => {
        const interval = Duration.toMillis(w.interval)
        return { key: shared.key(provider, endpoint, `${interval}ms`), limit: Math.max(1, w.limit), interval }
      })
      const keys = parts.map((p) => p.key)
      const windowArgs = parts.flatMap((p) => [p.limit, p.interval])
      // one fiber of this process asks Redis at a time; the others wait their turn here, in order
      const turn = yield* Effect.makeSemaphore(1)

      const tryOnce = (member: string) =>
        command("acquire", () =>
          redis.acquireWindows(keys.length, ...keys, member, lease, ...windowArgs).then((wait) => {
            // recorded in the same tick as the answer, so the renewal fiber sees it from now on
            if (wait === 0) {
              for (const p of parts) {
                held.set(`${member}|${p.key}`, { key: p.key, member, extra: p.interval })
              }
            }
            return wait
          }))

      // Waits are interruptible even inside a caller's uninterruptible region: nothing has been sent yet.
      const acquire = Effect.gen(function*() {
        const member = shared.nextMember()
        yield* Effect.interruptible(turn.take(1))
        yield* Effect.gen(function*() {
          while (true) {
            const wait = yield* tryOnce(member)
            if (wait === 0) {
              return
            }
            yield* Effect.interruptible(Effect.sleep(Duration.millis(wait)))
          }
        }).pipe(Effect.ensuring(turn.release(1)))
        return member
      })

      // Completion: the member counts one interval from now; it leaves the renewed set in the same tick.
      const complete = (member: string) =>
        giveBack("complete", () => {
          const args: Array<string | number> = [0]
          for (const p of parts) {
            held.delete(`${member}|${p.key}`)
            args.push(p.interval, member)
          }
          return redis.setExpiries(keys.length, ...keys, ...args)
        })

      byEndpoint.set(endpoint, (effect) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(acquire, (member) =>
            Effect.ensuring(restore(effect), complete(member)))
        ))
    }
    const gates: RateLimits.Gates = {
      gate: (endpoint) =>
        byEndpoint.get(endpoint) ?? identity
    }
    return gates
  })

/**
 * `max` slots named `name` of `provider` (e.g. Crustdata's active jobs), held in Redis under leases. A release in
 * this process wakes its waiters at once; releases elsewhere are seen within `slotPoll`.
 */
const slots = (shared: Shared, slotPoll: number) => (provider: string, name: string, max: number) =>
  Effect.sync((): RateLimitStore.Slots => {
    const { giveBack, held, lease, redis } = shared
    const slotKey = shared.key(provider, name)
    const keys = [slotKey, `${slotKey}:queue`, `${slotKey}:queue-leases`] as const
    const members = new Map<string, string>()
    const memberOf = (holder: string) => {
      let member = members.get(holder)
      if (member === undefined) members.set(holder, member = shared.nextMember())
      return member
    }
    let released = Effect.unsafeMakeLatch(false)
    const tryOnce = (member: string) =>
      shared.command("acquire slot", () =>
        redis.acquireSlot(...keys, member, max, lease).then((wait) => {
          if (wait === 0) held.set(`${member}|${slotKey}`, { key: slotKey, member, extra: 0 })
          return wait
        }))
    // out of the slots and of the queue; the holder's slot is renewed no more
    const leave = (member: string) =>
      giveBack("release slot", () => {
        held.delete(`${member}|${slotKey}`)
        return redis.releaseSlot(...keys, member)
      })
    return {
      max,
      acquire: (holder) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const member = memberOf(holder)
            while (true) {
              const wait = yield* tryOnce(member)
              if (wait === 0) return
              // asking again within `slotPoll` also renews the place in the queue (lease > slotPoll)
              yield* restore(Effect.raceFirst(Effect.sleep(Math.min(wait, slotPoll)), released.await)).pipe(
                // a waiter that gives up leaves the queue at once instead of holding it up for a lease
                Effect.onInterrupt(() => leave(member))
              )
            }
          })
        ),
      release: (holder) =>
        Effect.suspend(() => {
          const member = members.get(holder)
          if (member === undefined) return Effect.void
          members.delete(holder)
          return leave(member).pipe(
            Effect.zipRight(Effect.suspend(() => {
              const wake = released
              released = Effect.unsafeMakeLatch(false)
              return wake.open
            }))
          )
        })
    }
  })

/**
 * The store, for the life of the scope: one connection, the scripts, and a fiber that renews every lease this
 * process holds every third of a lease.
 *
 * @since 0.1.0 @category Constructors
 */
export const make = (options: Options): Effect.Effect<RateLimitStore.Service, RedisStoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const prefix = options.prefix ?? defaultPrefix
    const lease = Duration.toMillis(options.lease ?? "30 seconds")
    // a waiter keeps its place in the queue by asking again well within its lease
    const slotPoll = Math.min(Duration.toMillis(options.slotPoll ?? "1 second"), lease / 3)
    const instance = randomUUID()
    let counter = 0
    const connection = yield* connect(Redacted.value(options.url))
    const shared: Shared = {
      redis: connection.redis,
      ...makeCommands(connection),
      lease,
      held: new Map(),
      nextMember: () => `${instance}:${++counter}`,
      key: (...parts) =>
        // the hash tag keeps an endpoint's windows in one slot of a Redis Cluster
        `${prefix}{${parts.slice(0, 2).join(":")}}${parts.length > 2 ? `:${parts.slice(2).join(":")}` : ""}`
    }
    yield* renewLeases(shared)
    return { gates: windowGates(shared), slots: slots(shared, slotPoll) }
  })

/**
 * The Redis store in place of the memory one, for every client built under it.
 *
 * @since 0.1.0 @category Layers
 */
export const layer = (options: Options): Layer.Layer<RateLimitStore.RateLimitStore, RedisStoreError> =>
  Layer.scoped(RateLimitStore.RateLimitStore, make(options))
