import { defineConfig } from 'vitest/config';

/** Test settings every package shares: sources resolved without a build, generous broker timeouts. */
export const sharedTestConfig = defineConfig({
  resolve: { conditions: ['@micro-framework/source'] },
  ssr: { resolve: { conditions: ['@micro-framework/source'] } },
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
