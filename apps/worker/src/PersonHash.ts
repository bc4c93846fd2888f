/**
 * A person key as a 53-bit integer, for the ledger's outcome index. Keys are URLs of 40-100 characters landing
 * all over the index; an integer index is a fraction of the size of a text one, so each page of results dirties
 * far fewer index pages (and WAL pages). Two keys may share a hash: every lookup by hash also compares the key.
 *
 * @since 0.1.0
 */

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
