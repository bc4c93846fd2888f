/**
 * What the ledger's history says of each provider: per provider, field and identifier kind, how many people were
 * asked and what was found (`CostModel.Counts`), for `--order auto` and `enrich estimate`. One query over
 * `enrich_outcomes`, read newest first a page at a time: only answers bought by a chunk count (a reused answer
 * repeats one already counted), and only `Found` / `NotFound` (failures say nothing of what a provider knows).
 * The identifier kind is the person key's prefix.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Contact, CostModel, Identifier } from "@enrich/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { describeError, LedgerError, Num } from "./Ledger.js"
import { ProviderOutcomeSchema } from "./SqlJournal.js"

/** Rows read at once. */
const page = 2000

/** The newest answers learnt from by default: recent enough to describe the providers as they are now. */
export const defaultMaxRows = 200_000

const Row = Schema.Struct({
  id: Num,
  provider: Schema.String,
  person_key: Schema.NullOr(Schema.String),
  fields_json: Schema.parseJson(Schema.Array(Contact.Field)),
  outcome_json: Schema.parseJson(ProviderOutcomeSchema)
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

/**
 * Asked / found counts per provider × field × identifier kind, from the newest `maxRows` answers in the ledger.
 *
 * @since 0.1.0
 */
export const hitStats = (
  options: { readonly maxRows?: number } = {}
): Effect.Effect<CostModel.Statistics, LedgerError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const maxRows = options.maxRows ?? defaultMaxRows
    let statistics: CostModel.Statistics = []
    let before: number | undefined
    let read = 0
    while (read < maxRows) {
      const take = Math.min(page, maxRows - read)
      const rows = yield* sql`SELECT id, provider, person_key, fields_json, outcome_json FROM enrich_outcomes
        WHERE chunk_key <> '' AND outcome_tag IN ('Found', 'NotFound')
        ${before === undefined ? sql`` : sql`AND id < ${before}`}
        ORDER BY id DESC LIMIT ${take}`.pipe(Effect.flatMap(decodeRows))
      read += rows.length
      statistics = CostModel.combine(
        statistics,
        CostModel.tally(rows.flatMap((row) => {
          const kind = row.person_key === null ? undefined : Identifier.kindOfKey(row.person_key)
          return kind === undefined
            ? []
            : [{ provider: row.provider, kind, fields: row.fields_json, outcome: row.outcome_json }]
        }))
      )
      if (rows.length < take) break
      before = rows[rows.length - 1]!.id
    }
    return statistics
  }).pipe(
    Effect.catchTags({
      SqlError: (error) => Effect.fail(new LedgerError({ message: `HitStats: ${describeError(error)}` })),
      ParseError: (error) => Effect.fail(new LedgerError({ message: `HitStats: ${describeError(error)}` }))
    })
  )
