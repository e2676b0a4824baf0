import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: [
      "packages/*/test/**/*.test.ts",
      "test/*/test/**/*.test.ts",
      "examples/*/test/**/*.test.ts",
      "bench/test/**/*.test.ts"
    ],
    // The tree of test names shows which transport each conformance run covers.
    reporters: ["verbose"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
