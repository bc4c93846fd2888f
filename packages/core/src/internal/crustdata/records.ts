/**
 * Reading a results file: gzip check and gunzip (web-standard `DecompressionStream`, so core stays
 * platform-neutral) → text → lines → `CrustdataApi.BatchRecord` per line. The file is never held in memory.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import * as CrustdataApi from "../../CrustdataApi.js"
import { type EnrichmentError, isEnrichmentError, MalformedResponse } from "../../EnrichmentError.js"
import * as ProviderHttp from "../providerHttp.js"

const provider = "crustdata"
const endpoint = "GET results file"

const concatBytes = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

const hex = (bytes: Uint8Array): string => [...bytes.slice(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ")

/** Fails early, with a readable message, when the body does not start with the gzip magic bytes `1f 8b`. */
const checkGzipMagic = (jobId: string) => <R>(self: Stream.Stream<Uint8Array, EnrichmentError, R>) =>
  self.pipe(
    Stream.mapAccumEffect(
      new Uint8Array(0) as Uint8Array | undefined,
      (held, chunk): Effect.Effect<readonly [Uint8Array | undefined, Uint8Array], EnrichmentError> => {
        if (held === undefined) return Effect.succeed([undefined, chunk] as const)
        const head = concatBytes(held, chunk)
        if (head.length < 2) return Effect.succeed([head, new Uint8Array(0)] as const)
        if (head[0] !== 0x1f || head[1] !== 0x8b) {
          return Effect.fail(
            new MalformedResponse({
              provider,
              endpoint,
              path: "(body)",
              detail: `of batch ${jobId} is not gzip (starts with ${hex(head)})`
            })
          )
        }
        return Effect.succeed([undefined, head] as const)
      }
    ),
    Stream.filter((chunk) => chunk.length > 0)
  )

/**
 * Gunzips with the web-standard `DecompressionStream` (a global in Node ≥ 18, browsers, Deno, Bun), bridging
 * Effect streams and web streams. An upstream `EnrichmentError` passes through; a decompression failure
 * (corrupt or truncated file) becomes `MalformedResponse`.
 */
export const gunzip = (jobId: string) =>
<R>(
  self: Stream.Stream<Uint8Array, EnrichmentError, R>
): Stream.Stream<Uint8Array, EnrichmentError, R> =>
  Stream.unwrap(
    Effect.map(Stream.toReadableStreamEffect(checkGzipMagic(jobId)(self)), (readable) =>
      Stream.fromReadableStream({
        evaluate: () =>
          readable.pipeThrough(
            new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>
          ),
        onError: (error): EnrichmentError =>
          isEnrichmentError(error)
            ? error
            : new MalformedResponse({
              provider,
              endpoint,
              path: "(body)",
              detail: `of batch ${jobId} could not be gunzipped (${
                error instanceof Error ? error.message : String(error)
              })`
            })
      }))
  )

/**
 * The records of a gzipped JSONL body. The records before a malformed line are still emitted, then the stream
 * fails at that line (`MalformedResponse` whose path starts with `line n`, counting non-empty lines from 1).
 */
export const decodeFile = (jobId: string) =>
<R>(
  body: Stream.Stream<Uint8Array, EnrichmentError, R>
): Stream.Stream<CrustdataApi.BatchRecord, EnrichmentError, R> =>
  Stream.suspend(() => {
    // 1-based number of the last non-empty line read (this stream's own counter: `suspend` runs per stream)
    let index = 0
    return body.pipe(
      gunzip(jobId),
      Stream.decodeText(),
      Stream.splitLines,
      Stream.chunks,
      Stream.flatMap((lines) => {
        const decoded: Array<CrustdataApi.BatchRecord> = []
        for (const line of lines) {
          if (line.trim().length === 0) continue
          const result = CrustdataApi.decodeBatchLine(line)
          index++
          if (Either.isRight(result)) {
            decoded.push(result.right)
            continue
          }
          const drift = ProviderHttp.malformed({ provider, endpoint }, result.left)
          const error = new MalformedResponse({
            provider,
            endpoint: drift.endpoint,
            path: `line ${index} ${drift.path}`,
            detail: drift.detail
          })
          return Stream.concat(Stream.fromIterable(decoded), Stream.fail(error))
        }
        return Stream.fromIterable(decoded)
      })
    )
  })
