#!/usr/bin/env node
// Adds up the vitest JSON reports of every workspace project and prints one closing line:
// "tests: N passed, N failed, N skipped" (the Node.js 22 runs of tools/node22 included). Exits 1 when a
// report is missing or anything failed.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { node22Projects } from './node22/projects.mjs';

const root = new URL('..', import.meta.url).pathname;
const { workspaces } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const { globSync } = await import('node:fs');
const projects = workspaces.flatMap((pattern) => globSync(pattern, { cwd: root }));
let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
function add(report) {
  const results = JSON.parse(readFileSync(report, 'utf8'));
  passed += results.numPassedTests;
  failed += results.numFailedTests;
  skipped += results.numPendingTests + results.numTodoTests;
}
for (const project of projects) {
  if (!existsSync(join(root, project, 'package.json'))) continue;
  const report = join(root, project, 'test-results', 'vitest.json');
  if (!existsSync(report)) {
    missing.push(project);
    continue;
  }
  add(report);
}
// The suites tools/node22/run.mjs ran again on Node.js 22.
for (const project of node22Projects) {
  const report = join(root, project, 'test-results', 'vitest-node22.json');
  if (existsSync(report)) add(report);
  else missing.push(`${project} (Node.js 22)`);
}
if (missing.length > 0) console.error(`no test report for: ${missing.join(', ')}`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || missing.length > 0 || passed === 0 ? 1 : 0);
