/** class-validator style checks of an enrichment request body: the issues of a 400 `Validation failed`. */
import { TheHogApi } from "@enrich/core/wire"
import * as Predicate from "effect/Predicate"

/** Validates a raw identifier object: exactly one known key, a non-empty string. */
const identifierIssue = (raw: unknown): string | undefined => {
  if (!Predicate.isRecord(raw)) return "must be an object"
  const present = TheHogApi.identifierKeys.filter((key) => raw[key] !== undefined)
  if (present.length !== 1) {
    return `must have exactly one of ${TheHogApi.identifierKeys.join(", ")}`
  }
  const value = raw[present[0]!]
  return Predicate.isString(value) && value.trim() !== "" ? undefined : `${present[0]} must be a non-empty string`
}

/** class-validator style checks of the request body; the issues of a 400 `Validation failed`. */
export const validate = (body: unknown): ReadonlyArray<TheHogApi.ValidationIssue> => {
  if (!Predicate.isRecord(body)) return [{ property: "body", message: "body must be a JSON object" }]
  const issues: Array<TheHogApi.ValidationIssue> = []
  const hasOne = body.identifier !== undefined
  const hasMany = body.identifiers !== undefined
  if (hasOne && hasMany) {
    issues.push({ property: "identifier", message: "identifier and identifiers are mutually exclusive; use one" })
  } else if (!hasOne && !hasMany) {
    issues.push({ property: "identifier", message: "either identifier or identifiers must be provided" })
  } else if (hasOne) {
    const issue = identifierIssue(body.identifier)
    if (issue !== undefined) issues.push({ property: "identifier", message: `identifier ${issue}` })
  } else if (!Array.isArray(body.identifiers) || body.identifiers.length === 0) {
    issues.push({ property: "identifiers", message: "identifiers must be a non-empty array" })
  } else if (body.identifiers.length > TheHogApi.maxIdentifiers) {
    issues.push({
      property: "identifiers",
      message: `identifiers must contain no more than ${TheHogApi.maxIdentifiers} elements`
    })
  } else {
    body.identifiers.forEach((raw: unknown, i) => {
      const issue = identifierIssue(raw)
      if (issue !== undefined) issues.push({ property: `identifiers.${i}`, message: `each identifier ${issue}` })
    })
  }
  const fields = body.fields
  if (!Array.isArray(fields) || fields.length === 0) {
    issues.push({ property: "fields", message: "fields must be a non-empty array" })
  } else if (!fields.every((f) => TheHogApi.requestFields.includes(f))) {
    issues.push({
      property: "fields",
      message: `each value in fields must be one of the following values: ${TheHogApi.requestFields.join(", ")}`
    })
  }
  return issues
}
