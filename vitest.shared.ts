import { defineProject } from "vitest/config"

// Workspace packages export their TypeScript source under the "@enrich/source" condition; vitest's
// SSR resolver must prefer it, otherwise `import "@enrich/core"` would need a build first.
export const project = (name: string, options: { readonly timeout?: number } = {}) =>
  defineProject({
    ssr: { resolve: { conditions: ["@enrich/source", "module", "node", "development|production"] } },
    test: {
      name,
      include: ["test/**/*.test.ts"],
      testTimeout: options.timeout ?? 30_000,
      hookTimeout: 60_000
    }
  })
