import * as Reactivity from "@effect/experimental/Reactivity"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Journal } from "@enrich/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as NodePath from "node:path"
import * as Ledger from "../../src/Ledger.js"
import * as Sql from "../../src/Sql.js"
import * as SqlJournal from "../../src/SqlJournal.js"

export type Db = Layer.Layer<SqlClient.SqlClient, Ledger.LedgerError>

/** A fresh SQLite file in a temp directory, removed with the layer. */
export const sqlite: Db = Layer.unwrapScoped(Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const dir = yield* fs.makeTempDirectoryScoped({ prefix: "enrich-ledger-" })
  return Sql.layerSqlite(NodePath.join(dir, "ledger.db"))
})).pipe(Layer.provide(NodeFileSystem.layer), Layer.orDie)

/** CI sets DATABASE_URL; without it the Postgres suites are skipped (and say so in their names). */
export const databaseUrl: string | undefined = process.env.DATABASE_URL === "" ? undefined : process.env.DATABASE_URL

/** `url` with a search_path, so every table (and the migrations table) lands in `schema`. */
export const withSearchPath = (url: string, schema: string): string => {
  const parsed = new URL(url)
  parsed.searchParams.set("options", `-c search_path=${schema}`)
  return parsed.toString()
}

let schemas = 0

/**
 * A fresh Postgres schema (parallel runs never collide), dropped with everything in it when the scope closes; the
 * URL whose connections land in it (for a layer here, or for the CLI's `--database-url`).
 */
export const freshSchema = (url: string, name = "test") =>
  Effect.gen(function*() {
    const schema = `enrich_${name}_${process.pid}_${Date.now().toString(36)}_${schemas++}`
    const admin = yield* PgClient.make({ url: Redacted.make(url) })
    yield* Effect.acquireRelease(
      admin`CREATE SCHEMA ${admin(schema)}`,
      () => Effect.orDie(admin`DROP SCHEMA ${admin(schema)} CASCADE`)
    )
    return withSearchPath(url, schema)
  }).pipe(Effect.provide(Reactivity.layer))

/** A fresh Postgres schema per layer, dropped afterwards (see `freshSchema`). */
export const postgres = (url: string): Db =>
  Layer.unwrapScoped(Effect.map(freshSchema(url), (inSchema) => Sql.layerPg(Redacted.make(inSchema)))).pipe(
    Layer.orDie
  )

/** Ledger, Journal and the SqlClient (for tests that look at the tables) on one database. */
export const services = (db: Db) => Layer.mergeAll(Ledger.layer, SqlJournal.layer).pipe(Layer.provideMerge(db))

export type Services = Ledger.Ledger | Journal.Journal | SqlClient.SqlClient
