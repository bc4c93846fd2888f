/**
 * Fiber AI as a `ContactProvider`, built with `ContactProvider.make` over `FiberAiClient`.
 *
 * - Batch: one task per chunk; results stream while the task runs (`internal/fiber/paging.ts`). People are keyed
 *   by re-parsing Fiber's echo of the URL we sent.
 * - Fiber documents no idempotency: `resubmitSafety: "none"` (the client resends a start only when Fiber
 *   certainly did not take it).
 * - Credits: a start says `charged-now` (the unique people, upfront) or `charging-later` (booked at the price-list
 *   estimate, marked `estimated`, until a poll reports `charged-for-async-process`); refunds come on polls and on
 *   a cancel. Every status carries what Fiber reported over the task's life (`internal/fiber/credits.ts`); each
 *   person's `Provenance.cost` is the price of the fields actually delivered (0 when nothing was).
 * - Sync: one `/single` call per person, concurrently, each paced by its endpoint's gate.
 *
 * @since 0.1.0
 */
import type * as Array from "effect/Array"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { allFields, type Field, type Mode } from "./Contact.js"
import * as ContactProvider from "./ContactProvider.js"
import type { EnrichmentError } from "./EnrichmentError.js"
import * as FiberAiApi from "./FiberAiApi.js"
import { FiberAiClient } from "./FiberAiClient.js"
import * as Credits from "./internal/fiber/credits.js"
import { outcomeOfSingle, statusOf } from "./internal/fiber/outcomes.js"
import * as Paging from "./internal/fiber/paging.js"
import { Failed, type ProviderOutcome } from "./PersonResult.js"

const provider = "fiber"

/** @since 0.1.0 @category Models */
export const capabilities: ContactProvider.Capabilities = {
  provider,
  identifierKinds: ["linkedin"],
  fields: allFields,
  maxBatch: FiberAiApi.maxBatchPeople,
  // not documented; nothing to enforce client-side
  maxActiveJobs: undefined,
  sync: { maxBatch: 10 },
  cost: {
    billing: "upfront-per-person",
    maxPerPerson: (fields: ReadonlyArray<Field>, mode: Mode) => FiberAiApi.price(fields, mode),
    // every chargeInfo is that answer's own: a refund reported to a process that died is not reported again
    reports: "per-answer"
  },
  resubmitSafety: "none",
  // Starts are limited (30 a minute) but tasks are not, and a task's people are claimed one after another
  // ("only unclaimed profiles will be cancelled"). The timings are INFERRED (Fiber documents none); if real
  // tasks are faster the plan only makes more, smaller tasks than needed.
  pacing: {
    startsPerMinute: FiberAiApi.requestsPerMinute["batch/start"],
    firstMillis: 5_000,
    perPersonMillis: 250
  }
}

/**
 * A task's `JobRef.meta`: how many of the URLs sent Fiber skipped as duplicates. Journals written before this
 * Schema hold the count as a string.
 *
 * @since 0.1.0 @category Models
 */
export const JobMeta = Schema.Struct({
  duplicatesSkipped: Schema.optionalWith(Schema.Union(Schema.NonNegativeInt, Schema.NumberFromString), {
    default: () => 0
  })
})
/** @since 0.1.0 @category Models */
export type JobMeta = typeof JobMeta.Type

/** Fiber takes a person by the URL of their LinkedIn profile. */
export const target = (person: ContactProvider.Person): string | undefined =>
  person.identifier._tag === "LinkedInProfile" ? person.identifier.url : undefined

/** Errors that concern the account rather than the person: the whole sync call fails with them. */
const accountWide = (error: EnrichmentError): boolean =>
  error._tag === "Unauthorized" || error._tag === "InsufficientCredits"

/** @since 0.1.0 @category Constructors */
export const make: Effect.Effect<ContactProvider.ContactProviderService, never, FiberAiClient> = Effect.map(
  FiberAiClient,
  (fiber) => {
    // What Fiber reported about each task's credits, by task id, for every call of this adapter (a stream, a
    // status check, a cancel): a later answer never overwrites an earlier one's charges or refunds.
    const tallies = new Map<string, Credits.Tally>()
    const tallyOf = (taskId: string) => tallies.get(taskId) ?? Credits.empty
    const note = (taskId: string, update: (tally: Credits.Tally) => Credits.Tally) => {
      const tally = update(tallyOf(taskId))
      tallies.set(taskId, tally)
      return tally
    }
    const latency: Paging.Latency = { firstRowsWithin: undefined }

    const pollTask = (ref: ContactProvider.JobRef, body: { readonly take: number; readonly cursor?: string }) =>
      Effect.map(fiber.pollBatch({ taskId: ref.id, ...body }), (response): Paging.Polled => ({
        output: response.output,
        tally: note(ref.id, (tally) => Credits.fold(tally, response.chargeInfo))
      }))

    const submit = (request: ContactProvider.EnrichRequest, urls: Array.NonEmptyReadonlyArray<string>) =>
      Effect.map(
        fiber.startBatch({
          personDetails: [...new Set(urls)].map((value) => ({ linkedinUrl: { value } })),
          enrichmentTypes: FiberAiApi.enrichmentTypesOf(request.fields)
        }),
        ({ chargeInfo, output }): ContactProvider.Submission<JobMeta> => {
          // charged now, as reported; charging later: the price list's figure until Fiber reports the charge
          const reported = chargeInfo.method === "charged-now"
          return {
            id: output.taskId,
            mode: "batch",
            people: output.numPeopleEnqueued,
            charged: reported
              ? FiberAiApi.chargedBy(chargeInfo)
              : output.numPeopleEnqueued * FiberAiApi.price(request.fields, "batch"),
            estimated: !reported,
            meta: { duplicatesSkipped: output.numDuplicatesSkipped ?? 0 }
          }
        }
      )

    const results = (job: ContactProvider.Job<JobMeta>, cursor: string | undefined) =>
      Paging.stream(
        {
          ref: job.ref,
          take: fiber.pageSize,
          poll: (at) => pollTask(job.ref, { take: fiber.pageSize, ...(at === undefined ? {} : { cursor: at }) }),
          // the cursor's tally is what the earlier polls of this task reported; a cancel seen here is kept
          // (a stream resumed in the process that wrote the cursor already holds all of it, and more)
          resume: (tally) => void note(job.ref.id, (known) => Credits.isEmpty(known) ? tally : known),
          status: (polled) => statusOf(job.ref, polled.output, polled.tally)
        },
        latency,
        cursor
      )

    const cancel = (job: ContactProvider.Job<JobMeta>) =>
      Effect.map(fiber.cancelBatch(job.ref.id), (response) => {
        // the refund is in `output` and again in `chargeInfo`: counted once
        note(job.ref.id, (tally) => Credits.foldCancel(tally, response.output.creditsRefunded))
      })

    const syncOne = (person: ContactProvider.Person, url: string, fields: ReadonlyArray<Field>) =>
      fiber.single({
        linkedinUrl: url,
        enrichmentType: FiberAiApi.enrichmentTypesOf(fields),
        validateEmails: true
      }).pipe(
        Effect.flatMap((response) =>
          Effect.map(DateTime.now, (observedAt) => outcomeOfSingle(person, response, fields, observedAt))
        ),
        Effect.either
      )

    const enrichSync = (request: ContactProvider.EnrichRequest, urls: Array.NonEmptyReadonlyArray<string>) =>
      Effect.gen(function*() {
        // one `/single` call per person, concurrently; the endpoint's rate-limit gate paces them
        const answers = yield* Effect.forEach(
          request.people,
          (person, i) => syncOne(person, urls[i]!, request.fields),
          { concurrency: "unbounded" }
        )
        const errors = answers.flatMap((answer) => (Either.isLeft(answer) ? [answer.left] : []))
        if (errors.length === answers.length && accountWide(errors[0]!)) return yield* Effect.fail(errors[0]!)
        return answers.map((answer, i): ProviderOutcome =>
          Either.isRight(answer)
            ? answer.right
            : new Failed({
              key: request.people[i]!.key,
              provider,
              reason: `${answer.left._tag}: ${answer.left.message}`
            })
        )
      })

    return ContactProvider.make<string, JobMeta, typeof JobMeta.Encoded, Paging.Polled>({
      capabilities,
      target,
      meta: JobMeta,
      submit,
      status: (job) => pollTask(job.ref, { take: 1 }),
      toJobStatus: (polled, job) => statusOf(job.ref, polled.output, polled.tally),
      results: { _tag: "streaming", stream: results },
      cancel,
      enrichSync
    })
  }
)

/** @since 0.1.0 @category Layers */
export const layer: Layer.Layer<ContactProvider.ContactProvider, never, FiberAiClient> = Layer.effect(
  ContactProvider.ContactProvider,
  make
)
