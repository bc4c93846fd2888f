/**
 * A realistic input list drawn from the universe: mostly LinkedIn URLs in the many forms people paste
 * them, some emails, X handles and GitHub usernames, a few duplicates, strangers and broken rows.
 */
import { unit } from "./Random.js"
import type { Universe } from "./Universe.js"

export interface SampleRow {
  readonly name: string
  readonly company: string
  readonly linkedin_url: string
  readonly email: string
  readonly x_handle: string
  readonly github: string
}

const dress = (slug: string, r: number): string => {
  const forms = [
    `https://www.linkedin.com/in/${slug}`,
    `https://www.linkedin.com/in/${slug}/`,
    `linkedin.com/in/${slug}`,
    `https://uk.linkedin.com/in/${slug}?trk=public_profile`,
    `http://www.linkedin.com/in/${slug.toUpperCase()}/`,
    `https://m.linkedin.com/in/${slug}#experience`
  ]
  return forms[Math.floor(r * forms.length)]!
}

export const sample = (universe: Universe, size: number): ReadonlyArray<SampleRow> => {
  const rows: Array<SampleRow> = []
  const empty = { linkedin_url: "", email: "", x_handle: "", github: "" }
  for (let i = 0; rows.length < size; i++) {
    const r = unit(universe.seed, "sample", i)
    const person = universe.people[(i * 7) % universe.people.length]!
    const base = { name: `${person.firstName} ${person.lastName}`, company: person.company }
    if (i > 0 && i % 37 === 0) {
      // a duplicate of an earlier row, dressed differently
      const earlier = universe.people[((i - 5) * 7) % universe.people.length]!
      rows.push({ ...base, ...empty, linkedin_url: dress(earlier.slug, unit(i, "dup")) })
    } else if (i % 53 === 0) {
      rows.push({ ...base, ...empty, linkedin_url: person.slug }) // a bare slug: rejected with a reason
    } else if (i % 61 === 0) {
      rows.push({ ...base, ...empty, linkedin_url: `https://www.linkedin.com/company/${person.company.toLowerCase()}` })
    } else if (i % 29 === 0) {
      rows.push({ ...base, ...empty, linkedin_url: universe.ghostUrl(i) }) // nobody knows this one
    } else if (r < 0.8) {
      rows.push({ ...base, ...empty, linkedin_url: dress(person.slug, unit(i, "dress")) })
    } else if (r < 0.9) {
      rows.push({ ...base, ...empty, email: person.workEmail })
    } else if (r < 0.95) {
      rows.push({ ...base, ...empty, x_handle: `@${person.xHandle}` })
    } else {
      rows.push({ ...base, ...empty, github: person.github })
    }
  }
  return rows
}
