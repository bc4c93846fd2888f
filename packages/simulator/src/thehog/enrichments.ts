/**
 * `POST /api/enrichments`: validation, `Idempotency-Key` replays, then either a 200 `{data, meta}` (one LinkedIn
 * identifier asking contact fields only) or a 202 job reference (only the `acceptedFields` of it), charged at
 * submission; the first `slowSubmit.count` submits are answered late, after they are recorded and charged.
 */
import { TheHogApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Call } from "./guards.js"
import { idempotently } from "./idempotency.js"
import { charge, itemOf, lookup, pricePerPerson } from "./people.js"
import { errorReply, type Reply } from "./replies.js"
import { costOf, type Field, type Sim } from "./sim.js"
import type { AcceptedField } from "./TheHogSimulator.js"
import { validate } from "./validation.js"

/** The 200 answer for one LinkedIn identifier and contact fields: what is found, or empty lists. */
const answerNow = (
  sim: Sim,
  identifier: TheHogApi.PersonIdentifier,
  fields: ReadonlyArray<Field>,
  call: Call
): Reply => {
  const actual = charge(sim, [identifier], fields)
  const found = lookup(sim.env, identifier, fields)
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
      meta: { requestId: call.requestId, ...costOf(sim, pricePerPerson(sim, fields), actual) }
    })
  }
}

/** `pollUrl`: relative as documented, or absolute under the path the simulator is mounted at. */
const pollUrlOf = ({ settings }: Sim, id: string, { request }: Call) => {
  const pollPath = `/api/${settings.pollPath}/${id}`
  if (!settings.absolutePollUrl) return pollPath
  const prefix = request.originalUrl.slice(0, Math.max(0, request.originalUrl.length - request.url.length))
  return `http://${request.headers.host ?? "localhost"}${prefix}${pollPath}`
}

/** A new job, its items fixed now, and the 202 job reference. */
const startJob = (
  sim: Sim,
  identifiers: ReadonlyArray<TheHogApi.PersonIdentifier>,
  fields: ReadonlyArray<Field>,
  call: Call
): Reply => {
  const { env, settings } = sim
  const actual = charge(sim, identifiers, fields)
  const id = sim.sequences.nextJobId()
  const f = sim.faults()
  const slowFactor = f.slowJobFactor ?? 1
  sim.jobs.set(id, {
    id,
    org: call.org,
    submittedAt: call.now,
    queuedMillis: settings.queuedMillis * slowFactor,
    processingMillis: (settings.processingMillis + settings.perItemMillis * identifiers.length) * slowFactor,
    fails: env.chance(f.failJobRate),
    items: identifiers.map((identifier) => itemOf(sim, identifier, fields))
  })
  const reference: TheHogApi.Accepted = {
    id,
    operationId: id,
    status: "queued",
    pollUrl: pollUrlOf(sim, id, call),
    meta: { requestId: call.requestId, ...costOf(sim, pricePerPerson(sim, fields) * identifiers.length, actual) }
  }
  const encoded = Schema.encodeSync(TheHogApi.Accepted)(reference) as Record<string, unknown>
  return {
    status: 202,
    body: Object.fromEntries(
      Object.entries(encoded).filter(([key]) => settings.acceptedFields.has(key as AcceptedField))
    )
  }
}

/** A new request: answer sync or start a job, and charge. */
const accept = (sim: Sim, body: TheHogApi.EnrichmentRequest, call: Call): Reply => {
  const fields = body.fields
  const contactOnly = fields.every((f) => TheHogApi.contactFields.includes(f))
  const single = body.identifier
  if (single !== undefined && "linkedin_url" in single && contactOnly) return answerNow(sim, single, fields, call)
  return startJob(sim, single !== undefined ? [single] : body.identifiers ?? [], fields, call)
}

export const submit = (sim: Sim) => (call: Call): Effect.Effect<Reply> =>
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
    const idempotencyKey = request.headers[TheHogApi.headers.idempotencyKey]
    const reply = idempotently(
      sim,
      { org, idempotencyKey, raw, path, requestId, now },
      () => accept(sim, decoded.right, call)
    )
    const slow = sim.settings.slowSubmit
    const submits = sim.sequences.nextSubmit()
    if (slow !== undefined && submits <= slow.count) yield* Effect.sleep(slow.millis)
    return reply
  })
