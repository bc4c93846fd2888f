import { project } from "../../vitest.shared.js"

// A bench run starts simulators and child processes: its smoke tests get more time than a unit test.
export default project("bench", { timeout: 180_000 })
