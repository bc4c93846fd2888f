/**
 * Profile references: how the Fiber simulator reads the LinkedIn URLs (and, for `/single` and
 * `/exhaustive/start`, the bare slugs) it is sent, and Fiber's dedupe key for each.
 */
import { FiberAiApi } from "@enrich/core/wire"

/** A parsed profile reference: the path family, the decoded slug and Fiber's dedupe key. */
export interface ProfileRef {
  readonly path: "in" | "sales/lead" | "talent/profile"
  readonly slug: string
  readonly key: string
}

const familyPattern = /^(?:https?:\/\/)?(?:[a-z]+\.)?linkedin\.[a-z]{2,}\/(in|sales\/lead|talent\/profile)\//

const decode = (raw: string): string => {
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

/** A batch URL per the published pattern (the caller has validated it). */
export const profileOfUrl = (url: string): ProfileRef | undefined => {
  const match = FiberAiApi.linkedInUrlPattern.exec(url)
  const family = familyPattern.exec(url)
  const raw = match?.groups?.slug
  if (raw === undefined || family === null) return undefined
  const path = family[1] as ProfileRef["path"]
  const decoded = decode(raw)
  const slug = path === "in" ? decoded.toLowerCase() : decoded
  return { path, slug, key: `${path}/${slug}` }
}

/** `/single` and `/exhaustive/start`: a URL, or a bare slug / URN / numeric id (all read as `/in/<value>`). */
export const profileOfSingle = (value: string): ProfileRef | undefined => {
  const trimmed = value.trim()
  const url = profileOfUrl(trimmed)
  if (url !== undefined) return url
  if (!/^[^\s/\\?#,]+$/.test(trimmed)) return undefined
  const slug = decode(trimmed).toLowerCase()
  return { path: "in", slug, key: `in/${slug}` }
}
