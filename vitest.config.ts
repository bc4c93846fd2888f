import { defineConfig } from "vitest/config"

// This file stands for the design card's `vitest.workspace.ts`: vitest 3.2 deprecates workspace
// files in favour of `test.projects`, so the projects are listed here instead.
export default defineConfig({
  test: { projects: ["packages/*", "apps/*"] }
})
