// The projects whose suites also run on Node.js 22 (tools/node22/run.mjs); tools/test-summary.mjs
// requires their vitest-node22.json reports.
export const node22Projects = ['packages/core', 'packages/conformance', 'packages/amqp'];
