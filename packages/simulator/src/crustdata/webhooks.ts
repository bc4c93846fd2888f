/** A job's webhook: its full status POSTed once provider time has passed the job's end; failures are ignored. */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { CrustdataApi } from "@enrich/core/wire"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Job } from "./jobs.js"
import { provider, type Sim } from "./sim.js"
import { statusBody } from "./statuses.js"

export const sendWebhook = (sim: Sim, job: Job) =>
  Effect.gen(function*() {
    const { env, httpClient } = sim
    // timers may fire a little early: sleep until provider time has really passed the job's end
    let now = yield* env.now
    while (now < job.completesAt) {
      yield* Effect.sleep(Math.max(1, env.realMillis(job.completesAt - now)))
      now = yield* env.now
    }
    const body = statusBody(sim, job, now)
    env.counters.request(`${provider}:webhook`)
    yield* httpClient.execute(
      HttpClientRequest.post(job.webhookUrl!).pipe(
        HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(CrustdataApi.WebhookPayload)(body))
      )
    ).pipe(Effect.timeout("10 seconds"))
  }).pipe(Effect.ignore)
