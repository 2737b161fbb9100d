#!/usr/bin/env node
// The README's test command (`npm test`): starts RabbitMQ, NATS and the local Kafka broker where one
// does not answer (and Debian's python3-kombu for the Python peer), runs every nx check target of every
// project, runs the core, conformance and amqp suites again on Node.js 22, then prints one closing
// line with the totals. Under CI (CI=true) the nx cache is skipped so every test really
// runs against the brokers; locally an unchanged project replays from the cache. The queues the
// run declared on the local RabbitMQ are deleted at the end (tools/rabbitmq-sweep.mjs).
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const targets = ['typecheck', 'lint', 'test', 'check-package', 'smoke'];
const nxArgs = ['nx', 'run-many', '-t', ...targets, '--outputStyle=stream', ...process.argv.slice(2)];
if (process.env.CI === 'true' || process.env.CI === '1') nxArgs.push('--skip-nx-cache');

const run = (command, args) => spawnSync(command, args, { stdio: 'inherit', env: process.env }).status ?? 1;

// RabbitMQ and NATS are the machine's services (started if down); Kafka runs from Apache's jars.
const servicesStatus = run(process.execPath, [new URL('services.mjs', import.meta.url).pathname]);
if (servicesStatus !== 0) process.exit(servicesStatus);
const kafkaStatus = run(process.execPath, [new URL('kafka/kafka.mjs', import.meta.url).pathname, 'start']);
if (kafkaStatus !== 0) process.exit(kafkaStatus);
// The peer of the Python interop tests (tools/python-peer) needs Debian's python3-kombu.
const kombuStatus = run(process.execPath, [new URL('python-peer/ensure-kombu.mjs', import.meta.url).pathname]);
if (kombuStatus !== 0) process.exit(kombuStatus);
// The suites leave durable queues behind: note those there before, delete the run's at the end.
const sweep = (mode) => run(process.execPath, [new URL('rabbitmq-sweep.mjs', import.meta.url).pathname, mode, sweepFile]);
const sweepFile = join(tmpdir(), `micro-framework-queues-${process.pid}.json`);
sweep('before');
const nxStatus = run('npx', nxArgs);
// core, conformance and amqp once more on Node.js 22, the oldest version the packages promise.
const node22Status = run(process.execPath, [new URL('node22/run.mjs', import.meta.url).pathname]);
sweep('after');
rmSync(sweepFile, { force: true });
const summaryStatus = run(process.execPath, [new URL('test-summary.mjs', import.meta.url).pathname]);
process.exit(nxStatus !== 0 ? nxStatus : node22Status !== 0 ? node22Status : summaryStatus);
