#!/usr/bin/env node
// The test suites declare durable queues under unique names and leave them behind; thousands of them
// made RabbitMQ's restart (the broker-restart scenario runs `rabbitmqctl stop_app/start_app`) hang on
// this machine. `npm test` therefore notes the queues that exist before the run
// (`rabbitmq-sweep.mjs before <file>`) and deletes, after it, every queue the run added
// (`rabbitmq-sweep.mjs after <file>`). Queues that were there before are never touched. Needs
// `rabbitmqctl` (the local node); without it, or with AMQP_URL naming another broker, it does nothing.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import amqp from 'amqplib';

const [mode, file] = process.argv.slice(2);
const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

function listQueues() {
  const listed = spawnSync('rabbitmqctl', ['list_queues', 'name', '-q', '--no-table-headers'], { encoding: 'utf8', timeout: 60_000 });
  if (listed.status !== 0) return undefined;
  return listed.stdout.split('\n').map((line) => line.trim()).filter(Boolean);
}

const local = /@(127\.0\.0\.1|localhost)(:5672)?(\/|$)/.test(url);
if (!file || (mode !== 'before' && mode !== 'after')) {
  console.error('usage: rabbitmq-sweep.mjs before|after <file>');
  process.exit(2);
}
const queues = local ? listQueues() : undefined;
if (!queues) {
  console.log('[rabbitmq-sweep] no local rabbitmqctl answer: nothing swept');
  process.exit(0);
}
if (mode === 'before') {
  writeFileSync(file, JSON.stringify(queues));
  process.exit(0);
}

let before;
try {
  before = new Set(JSON.parse(readFileSync(file, 'utf8')));
} catch {
  console.log('[rabbitmq-sweep] no list of the queues before the run: nothing swept');
  process.exit(0);
}
const added = queues.filter((name) => !before.has(name));
const connection = await amqp.connect(url);
let channel = await connection.createChannel();
let deleted = 0;
for (const name of added) {
  try {
    await channel.deleteQueue(name);
    deleted += 1;
  } catch {
    // The channel closed on an error (the queue went meanwhile, or is exclusive to another connection).
    channel = await connection.createChannel();
  }
}
await connection.close();
console.log(`[rabbitmq-sweep] deleted ${deleted} of the ${added.length} queue(s) the run declared`);
