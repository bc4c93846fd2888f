import { describe } from "@effect/vitest"
import { databaseUrl, postgres, sqlite } from "./utils/db.js"
import { journalSuite, ledgerSuite } from "./utils/suites.js"

describe("Ledger on SQLite", () => {
  describe("Journal contract", () => journalSuite(sqlite))
  describe("runs and rows", () => ledgerSuite(sqlite))
})

// CI sets DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres; each test gets its own schema.
describe.skipIf(databaseUrl === undefined)(
  databaseUrl === undefined ? "Ledger on Postgres (skipped: DATABASE_URL is not set)" : "Ledger on Postgres",
  () => {
    const db = postgres(databaseUrl ?? "postgres://unset")
    describe("Journal contract", () => journalSuite(db))
    describe("runs and rows", () => ledgerSuite(db))
  }
)
