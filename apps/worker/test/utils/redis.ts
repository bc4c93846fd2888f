/** CI sets REDIS_URL; without it the Redis suites are skipped (and say so in their names). */
export const redisUrl: string | undefined = process.env.REDIS_URL === "" ? undefined : process.env.REDIS_URL

let prefixes = 0

/** A key prefix of its own per store group, so that tests running at the same time never share a window. */
export const uniquePrefix = (): string => `enrich-test:${process.pid}:${Date.now().toString(36)}:${prefixes++}:`
