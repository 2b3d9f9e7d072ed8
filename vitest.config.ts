import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "core/**/*.test.ts",
      "cli/**/*.test.ts",
      "electron/**/*.test.ts",
      "renderer/**/*.test.ts",
      "tests/**/*.test.ts",
    ],
    testTimeout: 180_000,
  },
});
