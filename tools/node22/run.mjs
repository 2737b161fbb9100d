#!/usr/bin/env node
// Runs the core, conformance and amqp test suites on Node.js 22 (the oldest version the packages
// promise), with the workspace's own vitest. Node 22 comes from the npm package `node@22`, installed
// here from this folder's lockfile on first use. Each suite writes test-results/vitest-node22.json,
// which tools/test-summary.mjs adds to the totals.
import { existsSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { node22Projects } from './projects.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const node22 = `${here}node_modules/.bin/node`;

const run = (command, args, cwd, env = process.env) => spawnSync(command, args, { cwd, stdio: 'inherit', env }).status ?? 1;

if (!existsSync(node22)) {
  const installed = run('npm', ['ci', '--no-audit', '--no-fund'], here);
  if (installed !== 0) process.exit(installed);
}
const version = spawnSync(node22, ['--version'], { encoding: 'utf8' }).stdout.trim();
if (!version.startsWith('v22.')) {
  console.error(`[node22] expected Node.js 22 at ${node22}, found ${version || 'nothing'}`);
  process.exit(1);
}
// The suites run side by side (none restarts a broker another of them uses: only amqp's touches
// RabbitMQ), as nx runs the projects: one after the other they took about 290 s of CI's 20 minutes.
const codes = await Promise.all(
  node22Projects.map((project) => {
    console.log(`[node22] ${project} on Node.js ${version}`);
    rmSync(`${root}${project}/test-results/vitest-node22.json`, { force: true });
    const child = spawn(node22, [`${root}node_modules/vitest/vitest.mjs`, 'run'], {
      cwd: `${root}${project}`,
      stdio: 'inherit',
      env: { ...process.env, TEST_REPORT_NAME: 'vitest-node22' },
    });
    return new Promise((resolve) => {
      child.once('error', () => resolve(1));
      child.once('exit', (code) => resolve(code ?? 1));
    });
  }),
);
process.exit(codes.find((code) => code !== 0) ?? 0);
