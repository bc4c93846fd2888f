/**
 * The worker's building blocks, for Effect programs (and benchmarks) that want the ledger or the file I/O
 * without the CLI.
 */
export * as Export from "./Export.js"
export * as HeapTuning from "./HeapTuning.js"
export * as HitStats from "./HitStats.js"
export * as Input from "./Input.js"
export * as Ledger from "./Ledger.js"
export * as Output from "./Output.js"
export * as Providers from "./Providers.js"
export * as Runner from "./Runner.js"
export * as Sql from "./Sql.js"
export * as SqlJournal from "./SqlJournal.js"
