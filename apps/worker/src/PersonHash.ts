/**
 * A person key as a 53-bit integer, for the ledger's outcome index. Keys are URLs of 40-100 characters landing
 * all over the index; an integer index is a fraction of the size of a text one, so each page of results dirties
 * far fewer index pages (and WAL pages). Two keys may share a hash: every lookup by hash also compares the key.
 *
 * @since 0.1.0
 */

import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"

/**
 * cyrb53 (a public-domain string hash by bryc): two 32-bit multiplicative lanes mixed into 53 bits, so the
 * value is an exact JavaScript number and fits SQLite's INTEGER and Postgres' BIGINT alike.
 *
 * @since 0.1.0
 */
export const of = (key: string): number => {
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 2654435761)
    h2 = Math.imul(h2 ^ c, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}

/**
 * `person_hash IN (…)` for these keys. On Postgres, one array parameter instead of one parameter per key: the
 * driver serializes and writes each bound parameter on its own, and for lookups of hundreds of keys (every batch
 * of people routed, every chunk's cache lookup) that cost more than the query.
 *
 * @since 0.1.0
 */
export const matching = (sql: SqlClient.SqlClient, keys: ReadonlyArray<string>): Statement.Fragment => {
  const hashes = keys.map(of)
  return sql.onDialectOrElse({
    pg: () => sql`person_hash = ANY(${`{${hashes.join(",")}}`}::bigint[])`,
    orElse: () => sql.in("person_hash", hashes)
  })
}
