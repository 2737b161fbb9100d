import { defineConfig } from 'vitest/config';

/**
 * Test settings every package shares: sources resolved without a build (the package exports'
 * `@micro-framework/source` condition), generous timeouts for real brokers, and a JSON report per
 * package that tools/test-summary.mjs adds up.
 */
export const sharedTestConfig = defineConfig({
  resolve: { conditions: ['@micro-framework/source'] },
  ssr: { resolve: { conditions: ['@micro-framework/source'] } },
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 60_000,
    // Worker threads and child processes that tests start (worker modes) resolve the workspace
    // packages from their sources too.
    execArgv: ['--conditions=@micro-framework/source'],
    // Services under test log only errors unless asked (their logs are asserted through config.logger).
    env: { MICRO_FRAMEWORK_LOG_LEVEL: process.env['MICRO_FRAMEWORK_LOG_LEVEL'] ?? 'error' },
    hookTimeout: 60_000,
    // tools/node22/run.mjs names its reports vitest-node22.json, so both runs count.
    reporters: ['default', ['json', { outputFile: `test-results/${process.env['TEST_REPORT_NAME'] ?? 'vitest'}.json` }]],
  },
});
