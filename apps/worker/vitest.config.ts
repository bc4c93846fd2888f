import { project } from "../../vitest.shared.js"

// Most worker tests start the built `enrich` several times (a Node start-up each): on a loaded 2-core machine
// one test took 30 s, the default bound, though nothing in it waits on time. A bound, not a time assertion.
export default project("worker", { timeout: 120_000 })
