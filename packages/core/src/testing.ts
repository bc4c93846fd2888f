/**
 * An in-memory `ContactProvider` for tests and examples: a fixed directory of people, jobs that finish after
 * a number of polls, and counters that prove what was submitted and charged.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import type { Email, Field, Phone } from "./Contact.js"
import { fieldOfEmail, Provenance } from "./Contact.js"
import {
  type Capabilities,
  ContactProvider,
  type ContactProviderService,
  type EnrichRequest,
  JobRef,
  JobStatus
} from "./ContactProvider.js"
import { InvalidRequest, JobFailed } from "./EnrichmentError.js"
import type { IdentifierKind, PersonKey } from "./Identifier.js"
import { Found, NotFound, type ProviderOutcome } from "./PersonResult.js"

/** @since 0.1.0 @category Models */
export interface Known {
  readonly emails: ReadonlyArray<Email>
  readonly phones: ReadonlyArray<Phone>
}

/** @since 0.1.0 @category Models */
export interface InMemoryOptions {
  readonly name: string
  readonly directory: ReadonlyMap<PersonKey, Known>
  readonly identifierKinds?: ReadonlyArray<IdentifierKind>
  readonly maxBatch?: number
  /** polls a job needs before it completes */
  readonly pollsToComplete?: number
  /** credits per person for any non-empty field selection */
  readonly costPerPerson?: number
  /**
   * the billing the capabilities declare (default "upfront-per-person"); whatever it says, every person sent is
   * charged `costPerPerson`, found or not (as "per-request" bills)
   */
  readonly billing?: Capabilities["cost"]["billing"]
  readonly pageSize?: number
  /** job ids (in submission order, from 1) that fail */
  readonly failingJobs?: ReadonlyArray<number>
  /** report charges as our estimates (like a provider whose answers carry no cost): every charge is marked so */
  readonly estimatedCharges?: boolean
}

/** @since 0.1.0 @category Models */
export interface InMemoryCounters {
  readonly submissions: number
  /** how many times each person was sent to this provider */
  readonly perPerson: ReadonlyMap<PersonKey, number>
  readonly creditsCharged: number
}

const wanted = (fields: ReadonlyArray<Field>, known: Known): Known => ({
  emails: known.emails.filter((email) => {
    const field = fieldOfEmail(email)
    return field !== undefined && fields.includes(field)
  }),
  phones: fields.includes("phone") ? known.phones : []
})

/** What the in-memory provider declares: LinkedIn by default, every field, sync up to 10, no active-job cap. */
const capabilitiesOf = (options: InMemoryOptions): Capabilities => {
  const cost = options.costPerPerson ?? 1
  return {
    provider: options.name,
    identifierKinds: options.identifierKinds ?? ["linkedin"],
    fields: ["work_email", "personal_email", "phone"],
    maxBatch: options.maxBatch ?? 100,
    maxActiveJobs: undefined,
    sync: { maxBatch: 10 },
    cost: {
      billing: options.billing ?? "upfront-per-person",
      maxPerPerson: (fields) => (fields.length === 0 ? 0 : cost)
    },
    resubmitSafety: "idempotency-key"
  }
}

/** The directory's answer for each person of a request: what it knows of the fields asked, else not found. */
const outcomesOf = (options: InMemoryOptions, request: EnrichRequest, mode: "batch" | "sync") =>
  Effect.map(DateTime.now, (observedAt) =>
    request.people.map((person): ProviderOutcome => {
      const provenance = new Provenance({
        provider: options.name,
        endpoint: mode,
        mode,
        observedAt,
        cost: options.costPerPerson ?? 1,
        estimated: options.estimatedCharges ?? false
      })
      const known = options.directory.get(person.key)
      const found = known === undefined ? undefined : wanted(request.fields, known)
      return found === undefined || (found.emails.length === 0 && found.phones.length === 0)
        ? new NotFound({ key: person.key, provenance })
        : new Found({ key: person.key, emails: found.emails, phones: found.phones, provenance })
    }))

/**
 * @since 0.1.0 @category Constructors
 */
export const makeInMemory = (options: InMemoryOptions) =>
  Effect.gen(function*() {
    const counters = yield* Ref.make<InMemoryCounters>({ submissions: 0, perPerson: new Map(), creditsCharged: 0 })
    const jobs = yield* Ref.make(new Map<string, { request: EnrichRequest; polls: number; failing: boolean }>())
    // like TheHog: a submit repeating an idempotency key gets the first job back, uncharged
    const byIdempotencyKey = new Map<string, JobRef>()
    const cost = options.costPerPerson ?? 1
    const pageSize = options.pageSize ?? 10
    const estimated = options.estimatedCharges ?? false
    const capabilities = capabilitiesOf(options)

    const outcomes = (request: EnrichRequest, mode: "batch" | "sync") => outcomesOf(options, request, mode)

    const charge = (request: EnrichRequest) =>
      Ref.update(counters, (c) => {
        const perPerson = new Map(c.perPerson)
        for (const person of request.people) perPerson.set(person.key, (perPerson.get(person.key) ?? 0) + 1)
        return {
          submissions: c.submissions + 1,
          perPerson,
          creditsCharged: c.creditsCharged + cost * request.people.length
        }
      })

    const status = (ref: JobRef) =>
      Effect.flatMap(
        Ref.modify(jobs, (all) => {
          const job = all.get(ref.id)
          if (job === undefined) return [undefined, all] as const
          const next = new Map(all).set(ref.id, { ...job, polls: job.polls + 1 })
          return [{ ...job, polls: job.polls + 1 }, next] as const
        }),
        (job) => {
          if (job === undefined) {
            return Effect.fail(new InvalidRequest({ provider: options.name, message: `unknown job ${ref.id}` }))
          }
          const done = job.polls >= (options.pollsToComplete ?? 1)
          return Effect.succeed(
            new JobStatus({
              state: !done ? "running" : job.failing ? "failed" : "completed",
              total: job.request.people.length,
              finished: done ? job.request.people.length : 0,
              charged: cost * job.request.people.length,
              refunded: 0,
              estimated
            })
          )
        }
      )

    const service: ContactProviderService = {
      capabilities,
      submit: (request) =>
        Effect.gen(function*() {
          if (request.people.length > capabilities.maxBatch) {
            return yield* new InvalidRequest({ provider: options.name, message: "batch too large" })
          }
          const replay = byIdempotencyKey.get(request.idempotencyKey)
          if (replay !== undefined) return replay
          yield* charge(request)
          const { submissions } = yield* Ref.get(counters)
          const id = `${options.name}-job-${submissions}`
          const failing = options.failingJobs?.includes(submissions) ?? false
          yield* Ref.update(jobs, (all) => new Map(all).set(id, { request, polls: 0, failing }))
          const ref = new JobRef({
            provider: options.name,
            id,
            mode: "batch",
            submittedAt: yield* DateTime.now,
            people: request.people.length,
            fields: request.fields,
            charged: cost * request.people.length,
            estimated
          })
          byIdempotencyKey.set(request.idempotencyKey, ref)
          return ref
        }),
      poll: status,
      results: (ref, cursor) =>
        Stream.unwrap(Effect.gen(function*() {
          let last = yield* status(ref)
          while (!last.terminal) last = yield* status(ref)
          if (last.state === "failed") {
            return yield* new JobFailed({ provider: options.name, jobId: ref.id, message: "job failed" })
          }
          const job = (yield* Ref.get(jobs)).get(ref.id)!
          const all = yield* outcomes(job.request, "batch")
          const start = cursor === undefined ? 0 : Number(cursor)
          return Stream.paginateChunk(start, (offset) => {
            const page = all.slice(offset, offset + pageSize)
            const next = offset + page.length
            return [
              Chunk.of({ results: page, cursor: next < all.length ? String(next) : undefined }),
              next < all.length ? Option.some(next) : Option.none()
            ] as const
          })
        })),
      cancel: (ref) => status(ref),
      enrichSync: (request) =>
        request.people.length > 10
          ? Effect.fail(new InvalidRequest({ provider: options.name, message: "sync takes at most 10" }))
          : Effect.zipRight(charge(request), outcomes(request, "sync"))
    }
    return { service, counters: Ref.get(counters) }
  })

/** A `ContactProvider` layer over an in-memory directory. */
export const layerInMemory = (options: InMemoryOptions): Layer.Layer<ContactProvider> =>
  Layer.effect(ContactProvider, Effect.map(makeInMemory(options), ({ service }) => service))
