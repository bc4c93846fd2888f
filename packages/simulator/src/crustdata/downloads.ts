/**
 * Results behind S3-style pre-signed links: links valid `ttlSeconds` from issue (the first `expiredLinks` already
 * expired), signatures fixed by the seed, and the download host that checks them and answers S3's XML errors.
 * The gzip bytes are served as an opaque object, with no `Content-Encoding`.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type { Env } from "../Env.js"
import { hash32 } from "../Random.js"
import type { Jobs } from "./jobs.js"
import { type Base, provider, type Sim } from "./sim.js"

/** S3-style XML error, as the pre-signed download host answers. */
const s3Error = (status: number, code: string, message: string) =>
  HttpServerResponse.text(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
    { status, contentType: "application/xml" }
  )

const isoBasic = (millis: number) => new Date(millis).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "")
const fromIsoBasic = (text: string): number | undefined => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  return m === null ? undefined : Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)
}

const signature = (env: Env, id: string, file: string, date: string, expires: number) =>
  [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
    hash32(`${env.universe.seed}|${id}|${file}|${date}|${expires}|${i}`).toString(16).padStart(8, "0")
  ).join("")

/** Issues the pre-signed links, counting them (the first `expiredLinks` are issued already expired). */
export class Links {
  private issued = 0

  constructor(private readonly base: Base) {}

  /** A fresh pre-signed link, valid `ttlSeconds` from now (or already expired for the first `expiredLinks`). */
  link(origin: string, id: string, file: string, now: number): string {
    const { basePath, expiredLinks, ttlSeconds } = this.base.settings
    this.issued++
    const issued = this.issued <= expiredLinks ? now - (ttlSeconds + 1) * 1000 : now
    const date = isoBasic(issued)
    const query = new URLSearchParams({
      "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
      "X-Amz-Date": date,
      "X-Amz-Expires": String(ttlSeconds),
      "X-Amz-SignedHeaders": "host",
      "X-Amz-Signature": signature(this.base.env, id, file, date, ttlSeconds)
    })
    return `${origin}${basePath}/downloads/${id}/${file}?${query.toString()}`
  }
}

/** The bytes a file name stands for: the whole results file or one part, if the job has them. */
const bytesOf = (jobs: Jobs, id: string, file: string): Uint8Array | undefined => {
  const settled = jobs.get(id)?.settled
  const part = /^part-(\d+)\.jsonl\.gz$/.exec(file)
  return file === "results.jsonl.gz"
    ? settled?.file
    : part === null
    ? undefined
    : settled?.parts?.[+part[1]!]
}

/** `GET /downloads/:id/:file`: no API key, only the link's signature and expiry. */
export const download = (sim: Sim) =>
  Effect.gen(function*() {
    const { env, faults, jobs } = sim
    const request = yield* HttpServerRequest.HttpServerRequest
    const { file, id } = yield* HttpRouter.params
    env.counters.request(`${provider}:download`)
    if (request.headers.authorization !== undefined) {
      // S3 refuses a second auth mechanism on a pre-signed URL
      return s3Error(
        403,
        "InvalidArgument",
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string " +
          "parameter or the Authorization header should be specified"
      )
    }
    const query = new URL(request.url, "http://s3.local").searchParams
    const date = query.get("X-Amz-Date") ?? ""
    const expires = Number(query.get("X-Amz-Expires"))
    const issued = fromIsoBasic(date)
    if (
      id === undefined || file === undefined || issued === undefined || !Number.isFinite(expires) ||
      query.get("X-Amz-Signature") !== signature(env, id, file, date, expires)
    ) {
      return s3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match")
    }
    const now = yield* env.now
    if (now >= issued + expires * 1000) return s3Error(403, "AccessDenied", "Request has expired")
    const bytes = bytesOf(jobs, id, file)
    if (bytes === undefined) return s3Error(404, "NoSuchKey", "The specified key does not exist.")
    const served = env.chance(faults.truncatedRate) ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes
    // gzip bytes served as an opaque object: no Content-Encoding, so clients must gunzip themselves
    return HttpServerResponse.uint8Array(served, { contentType: "application/octet-stream" })
  })
