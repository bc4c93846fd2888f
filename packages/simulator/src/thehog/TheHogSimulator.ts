/**
 * A simulator of TheHog's enrichment API (docs generation B), from `shared/providers/thehog.md`:
 *
 * - `POST /api/enrichments` with `X-Access-Key` + `X-Secret-Key`: a single LinkedIn `identifier` asking contact
 *   fields only is answered 200 `{data, meta}`; anything else 202 `{id, operationId, status: "queued", pollUrl,
 *   meta}` (or only some of it: `acceptedFields`). `Idempotency-Key` (per organisation) replays the stored answer
 *   — same status, same body — without a new job or a new charge.
 * - `GET /api/enrichments/:id` and `GET /api/operations/:id`: `{id, status, progress, result, error}`, moving
 *   `queued → processing → succeeded | partial_success | failed` with provider time. `partial_success` (INFERRED)
 *   means the job finished and some items failed (a "no data" miss is a failed item too).
 * - NestJS-style error bodies `{statusCode, error, message, path, requestId, timestamp, errors?}`; `X-Request-Id`
 *   on every answer, mirrored as `meta.requestId` (a replay keeps the stored body, so its `meta.requestId` is the
 *   first request's; the header is always the new request's, and `Idempotent-Replayed: true` is added).
 * - Rate limits per organisation: polls share 30/minute; everything shares a global limit (INFERRED 300/minute,
 *   the real value is not published). No `Retry-After` (none documented).
 * - Credits (INFERRED): per identifier at submission, `contact.email` 1 and `contact.phone` 2, charged per attempt
 *   whether or not anything is found; polls are free; replays charge nothing. Answers report the charge in
 *   `meta.cost` unless `reportCost: false`.
 * - Emails and phones are arrays of strings; only emails the universe calls `valid` are returned ("verified").
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { TheHogApi } from "@enrich/core"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { credentials } from "../Credentials.js"
import type { Env, Faults } from "../Env.js"
import type { TruePerson } from "../Universe.js"

/** A key pair and the organisation it belongs to (rate limits and idempotency keys are per organisation). */
export interface Key {
  readonly accessKey: string
  readonly secretKey: string
  readonly org: string
}

export interface Options {
  /** accepted key pairs; default: the pair in `Credentials.ts`, organisation `org_sim` */
  readonly keys?: ReadonlyArray<Key>
  /** provider ms a job stays `queued` (default 1 500) */
  readonly queuedMillis?: number
  /** provider ms a job is `processing`: base plus per identifier (defaults 4 000 and 200) */
  readonly processingMillis?: number
  readonly perItemMillis?: number
  /** poll bucket per organisation and minute (documented 30) */
  readonly pollLimit?: number
  /** global limit per organisation and minute over every authenticated endpoint (INFERRED default 300) */
  readonly globalLimit?: number
  /** `pollUrl` as `http://host/<mount>/api/...` instead of the relative `/api/...` (both are documented) */
  readonly absolutePollUrl?: boolean
  /** which poll path `pollUrl` names (default `operations`, as documented) */
  readonly pollPath?: "operations" | "enrichments"
  /**
   * What the 202 job reference carries. Default: all of it, as Shapes-B shows (`{id, operationId, status, pollUrl,
   * meta}`); the guide calls it only "a job reference" polled at `GET /api/enrichments/:id`, so e.g. `["id"]` or
   * `["id", "operationId", "status"]` (no `pollUrl`, no `meta`) are readings a client must take too.
   */
  readonly acceptedFields?: ReadonlyArray<AcceptedField>
  /**
   * Whether answers report their charge in `meta.cost` (default true; INFERRED from gen A). Without it a client
   * can only estimate what it was charged; the counters still charge as usual.
   */
  readonly reportCost?: boolean
  /** credits per identifier per requested field (defaults: contact.email 1, contact.phone 2, others 0) */
  readonly prices?: Partial<Record<TheHogApi.RequestField, number>>
  /** share of items that fail with a transient upstream error (not a "no data" miss) */
  readonly itemFailureRate?: number
  /**
   * The first `count` submits are answered only after `millis` real ms — after the job is recorded and charged,
   * as when a response is lost on the way back — to prove that a client retry does not pay twice.
   */
  readonly slowSubmit?: { readonly count: number; readonly millis: number }
}

type Field = TheHogApi.RequestField

/** The parts of a 202 job reference (see `Options.acceptedFields`). */
export type AcceptedField = "id" | "operationId" | "status" | "pollUrl" | "meta"

const allAcceptedFields: ReadonlyArray<AcceptedField> = ["id", "operationId", "status", "pollUrl", "meta"]

interface Reply {
  readonly status: number
  readonly body: unknown
  readonly headers?: Readonly<Record<string, string>>
}

interface Job {
  readonly id: string
  readonly org: string
  readonly submittedAt: number
  readonly queuedMillis: number
  readonly processingMillis: number
  readonly fails: boolean
  readonly items: ReadonlyArray<TheHogApi.ResultItem>
}

interface Stored {
  readonly fingerprint: string
  readonly reply: Reply
}

const defaultPrices: Record<Field, number> = { "contact.email": 1, "contact.phone": 2, signals: 0, profile: 0 }

const isoOf = (millis: number) => new Date(millis).toISOString()

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)

/** What a LinkedIn URL names: an `/in/` slug, another LinkedIn page, or not LinkedIn at all. */
const linkedInSlug = (url: string): { readonly slug: string } | { readonly problem: string } => {
  const match = /^(?:https?:\/\/)?(?:[a-z0-9-]+\.)*linkedin\.com\/([^?#]*)/i.exec(url.trim())
  if (match === null) return { problem: "Invalid identifier: linkedin_url must be a LinkedIn profile URL" }
  const segments = match[1]!.split("/").filter((s) => s !== "")
  if (segments[0]?.toLowerCase() !== "in" || segments[1] === undefined) {
    return { problem: "Unsupported LinkedIn URL: only /in/ profile URLs are supported" }
  }
  try {
    return { slug: decodeURIComponent(segments[1]) }
  } catch {
    return { problem: "Invalid identifier: linkedin_url is not a valid URL" }
  }
}

/** Validates a raw identifier object: exactly one known key, a non-empty string. */
const identifierIssue = (raw: unknown): string | undefined => {
  if (!Predicate.isRecord(raw)) return "must be an object"
  const present = TheHogApi.identifierKeys.filter((key) => raw[key] !== undefined)
  if (present.length !== 1) {
    return `must have exactly one of ${TheHogApi.identifierKeys.join(", ")}`
  }
  const value = raw[present[0]!]
  return Predicate.isString(value) && value.trim() !== "" ? undefined : `${present[0]} must be a non-empty string`
}

/** class-validator style checks of the request body; the issues of a 400 `Validation failed`. */
const validate = (body: unknown): ReadonlyArray<TheHogApi.ValidationIssue> => {
  if (!Predicate.isRecord(body)) return [{ property: "body", message: "body must be a JSON object" }]
  const issues: Array<TheHogApi.ValidationIssue> = []
  const hasOne = body.identifier !== undefined
  const hasMany = body.identifiers !== undefined
  if (hasOne && hasMany) {
    issues.push({ property: "identifier", message: "identifier and identifiers are mutually exclusive; use one" })
  } else if (!hasOne && !hasMany) {
    issues.push({ property: "identifier", message: "either identifier or identifiers must be provided" })
  } else if (hasOne) {
    const issue = identifierIssue(body.identifier)
    if (issue !== undefined) issues.push({ property: "identifier", message: `identifier ${issue}` })
  } else if (!Array.isArray(body.identifiers) || body.identifiers.length === 0) {
    issues.push({ property: "identifiers", message: "identifiers must be a non-empty array" })
  } else if (body.identifiers.length > TheHogApi.maxIdentifiers) {
    issues.push({
      property: "identifiers",
      message: `identifiers must contain no more than ${TheHogApi.maxIdentifiers} elements`
    })
  } else {
    body.identifiers.forEach((raw: unknown, i) => {
      const issue = identifierIssue(raw)
      if (issue !== undefined) issues.push({ property: `identifiers.${i}`, message: `each identifier ${issue}` })
    })
  }
  const fields = body.fields
  if (!Array.isArray(fields) || fields.length === 0) {
    issues.push({ property: "fields", message: "fields must be a non-empty array" })
  } else if (!fields.every((f) => TheHogApi.requestFields.includes(f))) {
    issues.push({
      property: "fields",
      message: `each value in fields must be one of the following values: ${TheHogApi.requestFields.join(", ")}`
    })
  }
  return issues
}

/** A stable text of a JSON value (keys sorted), to tell a replay from a different request under the same key. */
const fingerprint = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    Predicate.isRecord(v) && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
      : v)

/** A 2xx body with a wrong type in its first field (what `malformedRate` sends). */
const corrupt = (body: unknown): unknown => {
  if (!Predicate.isRecord(body)) return 42
  const [first] = Object.keys(body)
  return first === undefined ? 42 : { ...body, [first]: Predicate.isString(body[first]) ? 12345 : "corrupt" }
}

/** @since 0.1.0 @category Constructors */
export const make = (env: Env, options: Options = {}): Effect.Effect<HttpRouter.HttpRouter<never, never>> =>
  Effect.sync(() => {
    const keys = options.keys ?? [{ ...credentials.thehog, org: "org_sim" }]
    const queuedMillis = options.queuedMillis ?? 1_500
    const processingMillis = options.processingMillis ?? 4_000
    const perItemMillis = options.perItemMillis ?? 200
    const pollLimit = options.pollLimit ?? TheHogApi.pollLimitPerMinute
    const globalLimit = options.globalLimit ?? 300
    const prices = { ...defaultPrices, ...options.prices }
    const acceptedFields = new Set(options.acceptedFields ?? allAcceptedFields)
    const costOf = (estimated: number, actual: number) =>
      options.reportCost === false ? {} : { cost: { estimated, actual } }
    const faults = (): Faults => env.faults.thehog ?? {}

    const jobs = new Map<string, Job>()
    const idempotent = new Map<string, Stored>()
    let jobCounter = 0
    let requestCounter = 0
    let submits = 0

    const nextRequestId = () => {
      requestCounter += 1
      return `00000000-0000-4000-8000-${requestCounter.toString(16).padStart(12, "0")}`
    }
    const nextJobId = () => {
      jobCounter += 1
      return `op_01HOG${jobCounter.toString(36).toUpperCase().padStart(21, "0")}`
    }

    const errorReply = (
      status: number,
      message: string,
      path: string,
      requestId: string,
      now: number,
      errors?: ReadonlyArray<TheHogApi.ValidationIssue>
    ): Reply => ({
      status,
      body: Schema.encodeSync(TheHogApi.ErrorBody)({
        statusCode: status,
        error: TheHogApi.reasonPhrase[status] ?? "Error",
        message,
        path,
        requestId,
        timestamp: isoOf(now),
        ...(errors === undefined ? {} : { errors })
      })
    })

    // ---- people and items ----------------------------------------------------------------------------------

    const resolve = (identifier: TheHogApi.PersonIdentifier): TruePerson | { readonly problem: string } => {
      const [key, value] = TheHogApi.identifierEntry(identifier)
      let person: TruePerson | undefined
      switch (key) {
        case "linkedin_url": {
          const slug = linkedInSlug(value)
          if ("problem" in slug) return slug
          person = env.universe.bySlugOf(slug.slug)
          break
        }
        case "email":
          person = env.universe.byEmailOf(value.trim())
          break
        case "x_handle":
          person = env.universe.byXHandleOf(value.trim())
          break
        case "github_username":
          person = env.universe.byGitHubOf(value.trim())
          break
      }
      return person ?? { problem: "Person not found" }
    }

    /** What TheHog answers for one identifier, or the message of a failed item. */
    const lookup = (
      identifier: TheHogApi.PersonIdentifier,
      fields: ReadonlyArray<Field>
    ): TheHogApi.EnrichmentData | { readonly problem: string } => {
      const person = resolve(identifier)
      if ("problem" in person) return person
      const known = env.universe.knowledge("thehog", person)
      const wantEmail = fields.includes("contact.email")
      const wantPhone = fields.includes("contact.phone")
      const emails = wantEmail
        ? [known.workEmail, known.personalEmail].flatMap((e) =>
          e !== undefined && e.verdict === "valid" ? [e.address] : []
        )
        : []
      const phones = wantPhone && known.phone !== undefined ? [known.phone] : []
      const extra = fields.includes("profile") || fields.includes("signals")
      if (emails.length === 0 && phones.length === 0 && !extra) return { problem: "No contact data found" }
      return {
        ...(wantEmail || wantPhone
          ? { contact: { ...(wantEmail ? { email: emails } : {}), ...(wantPhone ? { phone: phones } : {}) } }
          : {}),
        ...(fields.includes("profile")
          ? {
            profile: {
              firstName: capitalize(person.firstName),
              lastName: capitalize(person.lastName),
              company: person.company,
              title: null
            }
          }
          : {}),
        ...(fields.includes("signals") ? { signals: {} } : {})
      }
    }

    const itemOf = (identifier: TheHogApi.PersonIdentifier, fields: ReadonlyArray<Field>): TheHogApi.ResultItem => {
      if (env.chance(options.itemFailureRate)) {
        return {
          identifier,
          status: "failed",
          error: { message: "Upstream provider timeout", code: "UPSTREAM_TIMEOUT" }
        }
      }
      const found = lookup(identifier, fields)
      return "problem" in found
        ? { identifier, status: "failed", error: { message: found.problem } }
        : { identifier, status: "success", data: found }
    }

    const charge = (identifiers: ReadonlyArray<TheHogApi.PersonIdentifier>, fields: ReadonlyArray<Field>) => {
      const perPerson = fields.reduce((n, f) => n + prices[f], 0)
      for (const identifier of identifiers) {
        const [key, value] = TheHogApi.identifierEntry(identifier)
        env.counters.submitted("thehog", `${key}:${value}`)
      }
      const total = perPerson * identifiers.length
      if (total > 0) env.counters.charge("thehog", total)
      return total
    }

    // ---- operations ----------------------------------------------------------------------------------------

    const operationAt = (job: Job, now: number): TheHogApi.Operation => {
      const started = job.submittedAt + job.queuedMillis
      const doneAt = started + job.processingMillis
      if (now < started) {
        return { id: job.id, status: "queued", progress: 0, result: null, error: null }
      }
      if (now < doneAt) {
        const progress = Math.min(99, Math.floor(((now - started) / job.processingMillis) * 100))
        return { id: job.id, status: "processing", progress, result: null, error: null }
      }
      if (job.fails) {
        return {
          id: job.id,
          status: "failed",
          progress: 100,
          result: null,
          error: { message: "Enrichment failed: upstream providers unavailable", code: "ENRICHMENT_FAILED" }
        }
      }
      const partial = job.items.some((item) => item.status === "failed")
      return {
        id: job.id,
        status: partial ? "partial_success" : "succeeded",
        progress: 100,
        result: { items: job.items },
        error: null
      }
    }

    // Unknown enum values cannot be written through the schema (it only knows the documented ones).
    const encodeOperation = (operation: TheHogApi.Operation, unknownEnum: boolean): unknown => {
      const body = Schema.encodeSync(TheHogApi.Operation)(operation) as Record<string, unknown>
      if (!unknownEnum) return body
      const status = operation.result === null || operation.result === undefined ? "waiting_on_upstream" : "done"
      const result = body.result as { items: Array<Record<string, unknown>> } | null
      const items = result?.items.map((item) => item.status === "success" ? { ...item, status: "verified" } : item)
      return { ...body, status, result: result === null ? null : { items } }
    }

    // ---- the request pipeline ------------------------------------------------------------------------------

    interface Call {
      readonly request: HttpServerRequest.HttpServerRequest
      readonly org: string
      readonly requestId: string
      readonly now: number
      readonly path: string
      readonly params: Readonly<Record<string, string | undefined>>
    }

    const serve = (endpoint: string, handler: (call: Call) => Effect.Effect<Reply>) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const params = yield* HttpRouter.params
        const requestId = nextRequestId()
        const now = yield* env.now
        const path = request.url.split("?")[0]!
        env.counters.request(`thehog:${endpoint}`)
        const f = faults()
        const n = env.nextRequestNumber("thehog")
        const limited = () => {
          env.counters.limited(`thehog:${endpoint}`)
          return errorReply(429, TheHogApi.messages.rateLimited, path, requestId, now)
        }
        let reply: Reply | undefined
        const burst = f.serverErrorBurst
        if (
          (burst !== undefined && n >= burst.from && n < burst.from + burst.length) || env.chance(f.serverErrorRate)
        ) {
          reply = errorReply(503, "Service temporarily unavailable", path, requestId, now)
        }
        const storm = f.rateLimitStorm
        if (
          reply === undefined &&
          ((storm !== undefined && n >= storm.from && n < storm.from + storm.length) || env.chance(f.rateLimitRate))
        ) {
          reply = limited()
        }
        let key: Key | undefined
        if (reply === undefined) {
          const access = request.headers[TheHogApi.headers.accessKey]
          const secret = request.headers[TheHogApi.headers.secretKey]
          key = keys.find((k) => k.accessKey === access && k.secretKey === secret)
          if (key === undefined) reply = errorReply(401, TheHogApi.messages.unauthorized, path, requestId, now)
        }
        if (reply === undefined && key !== undefined) {
          if (!env.window(`thehog:global:${key.org}`, globalLimit, 60_000).admit(now).allowed) reply = limited()
        }
        if (reply === undefined && key !== undefined) {
          reply = yield* handler({ request, org: key.org, requestId, now, path, params })
          if (reply.status === 429) env.counters.limited(`thehog:${endpoint}`)
        }
        return respond(reply!, requestId, f)
      }).pipe(
        // a bug in the simulator answers like a crashing NestJS app rather than dropping the connection
        Effect.catchAllDefect((defect) =>
          Effect.map(env.now, (now) =>
            HttpServerResponse.unsafeJson(
              errorReply(500, `Internal server error: ${String(defect)}`.slice(0, 300), endpoint, "", now).body,
              { status: 500 }
            ))
        )
      )

    const respond = (reply: Reply, requestId: string, f: Faults): HttpServerResponse.HttpServerResponse => {
      const headers = { ...reply.headers, [TheHogApi.headers.requestId]: requestId }
      const ok = reply.status >= 200 && reply.status < 300
      if (ok && env.chance(f.truncatedRate)) {
        const text = JSON.stringify(reply.body)
        return HttpServerResponse.text(text.slice(0, Math.floor(text.length / 2)), {
          status: reply.status,
          contentType: "application/json",
          headers
        })
      }
      const body = ok && env.chance(f.malformedRate) ? corrupt(reply.body) : reply.body
      return HttpServerResponse.unsafeJson(body, { status: reply.status, headers })
    }

    const submit = (call: Call): Effect.Effect<Reply> =>
      Effect.gen(function*() {
        const { now, org, path, request, requestId } = call
        const raw = yield* Effect.orElseSucceed(request.json, () => undefined)
        const issues = validate(raw)
        if (issues.length > 0) {
          return errorReply(400, TheHogApi.messages.validation, path, requestId, now, issues)
        }
        const decoded = Schema.decodeUnknownEither(TheHogApi.EnrichmentRequest)(raw)
        if (decoded._tag === "Left") {
          return errorReply(400, TheHogApi.messages.validation, path, requestId, now, [{
            property: "body",
            message: decoded.left.message.slice(0, 200)
          }])
        }
        const body = decoded.right
        const idempotencyKey = request.headers[TheHogApi.headers.idempotencyKey]
        const storeKey = idempotencyKey === undefined ? undefined : `${org}\n${idempotencyKey}`
        const print = fingerprint(raw)
        const stored = storeKey === undefined ? undefined : idempotent.get(storeKey)
        let reply: Reply
        if (stored !== undefined) {
          reply = stored.fingerprint === print
            ? { ...stored.reply, headers: { "idempotent-replayed": "true" } }
            : errorReply(
              422,
              "Idempotency-Key was already used with a different request body",
              path,
              requestId,
              now
            )
        } else {
          reply = accept(body, call)
          if (storeKey !== undefined) idempotent.set(storeKey, { fingerprint: print, reply })
        }
        submits += 1
        const slow = options.slowSubmit
        if (slow !== undefined && submits <= slow.count) yield* Effect.sleep(slow.millis)
        return reply
      })

    /** A new request: answer sync or start a job, and charge. */
    const accept = (body: TheHogApi.EnrichmentRequest, call: Call): Reply => {
      const fields = body.fields
      const contactOnly = fields.every((f) => TheHogApi.contactFields.includes(f))
      const single = body.identifier
      const perPerson = fields.reduce((n, f) => n + prices[f], 0)
      if (single !== undefined && "linkedin_url" in single && contactOnly) {
        const actual = charge([single], fields)
        const found = lookup(single, fields)
        const data: TheHogApi.EnrichmentData = "problem" in found
          ? {
            contact: {
              ...(fields.includes("contact.email") ? { email: [] } : {}),
              ...(fields.includes("contact.phone") ? { phone: [] } : {})
            }
          }
          : found
        return {
          status: 200,
          body: Schema.encodeSync(TheHogApi.SyncResponse)({
            data,
            meta: { requestId: call.requestId, ...costOf(perPerson, actual) }
          })
        }
      }
      const identifiers = single !== undefined ? [single] : body.identifiers ?? []
      const actual = charge(identifiers, fields)
      const id = nextJobId()
      const f = faults()
      const slowFactor = f.slowJobFactor ?? 1
      jobs.set(id, {
        id,
        org: call.org,
        submittedAt: call.now,
        queuedMillis: queuedMillis * slowFactor,
        processingMillis: (processingMillis + perItemMillis * identifiers.length) * slowFactor,
        fails: env.chance(f.failJobRate),
        items: identifiers.map((identifier) => itemOf(identifier, fields))
      })
      const pollPath = `/api/${options.pollPath ?? "operations"}/${id}`
      let pollUrl = pollPath
      if (options.absolutePollUrl === true) {
        const { request } = call
        const prefix = request.originalUrl.slice(0, Math.max(0, request.originalUrl.length - request.url.length))
        pollUrl = `http://${request.headers.host ?? "localhost"}${prefix}${pollPath}`
      }
      const reference: TheHogApi.Accepted = {
        id,
        operationId: id,
        status: "queued",
        pollUrl,
        meta: { requestId: call.requestId, ...costOf(perPerson * identifiers.length, actual) }
      }
      const encoded = Schema.encodeSync(TheHogApi.Accepted)(reference) as Record<string, unknown>
      return {
        status: 202,
        body: Object.fromEntries(Object.entries(encoded).filter(([key]) => acceptedFields.has(key as AcceptedField)))
      }
    }

    const poll = (call: Call): Effect.Effect<Reply> =>
      Effect.sync(() => {
        const { now, org, params, path, requestId } = call
        if (!env.window(`thehog:poll:${org}`, pollLimit, 60_000).admit(now).allowed) {
          return errorReply(429, TheHogApi.messages.rateLimited, path, requestId, now)
        }
        const id = params.id ?? ""
        const job = jobs.get(id)
        if (job === undefined || job.org !== org) {
          return errorReply(404, `Operation ${id} not found`, path, requestId, now)
        }
        const operation = operationAt(job, now)
        // a failed job keeps its documented status: an unknown one would read as "still running" forever
        const unknownEnum = operation.status !== "failed" && env.chance(faults().unknownEnumRate)
        return { status: 200, body: encodeOperation(operation, unknownEnum) }
      })

    return HttpRouter.empty.pipe(
      HttpRouter.get("/health", HttpServerResponse.json({ status: "ok" }).pipe(Effect.orDie)),
      HttpRouter.post("/api/enrichments", serve("enrichments", submit)),
      HttpRouter.get("/api/enrichments/:id", serve("enrichments/:id", poll)),
      HttpRouter.get("/api/operations/:id", serve("operations/:id", poll))
    )
  })
