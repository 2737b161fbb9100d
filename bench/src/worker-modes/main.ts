/**
 * npm run bench:worker-modes [-- --messages 2000 --cpu-ms 20 --noop-messages 5000 --out results/worker-modes]
 * Issue #14's measurement, on RabbitMQ (the machine's broker): a queue of messages each asking for
 * about `cpu-ms` of SHA-256 hashing, drained by one route in workerMode async, thread and process
 * (maxWorkers = the machine's cores in thread and process mode, 50 in async), the same on a no-op
 * target, and the dispatch latency of one call (sequential calls of a no-op target on an in-process
 * entrypoint, no broker). Writes results/worker-modes.{json,md}.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AmqpConnection, AmqpQueueListener } from '@micro-framework/amqp';
import { Entrypoint, Route, Runner, workerTarget, type WorkerMode } from '@micro-framework/core';
import { hash } from './targets.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000' },
    'cpu-ms': { type: 'string', default: '20' },
    'noop-messages': { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '2' },
    out: { type: 'string', default: 'results/worker-modes' },
  },
});
const url = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const targets = new URL('./targets.ts', import.meta.url);
const cores = cpus().length;
const modes: readonly WorkerMode[] = ['async', 'thread', 'process'];
const progress = (text: string): void => console.log(`[worker-modes ${new Date().toISOString().slice(11, 19)}] ${text}`);

/** SHA-256 rounds that take about `ms` on this machine (measured here, on the main thread). */
function calibrate(ms: number): number {
  let rounds = 1_000;
  for (;;) {
    const began = performance.now();
    hash({ rounds });
    const took = performance.now() - began;
    if (took > 50) return Math.max(1, Math.round((rounds * ms) / took));
    rounds *= 2;
  }
}

/** Publishes `count` copies of `payload` to a fresh queue; returns its name. */
async function fill(connection: AmqpConnection, count: number, payload: unknown): Promise<string> {
  const queue = `bench-workers-${randomUUID()}`;
  const channel = await connection.channel();
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-expires': 600_000 } });
  await channel.close();
  const body = new TextEncoder().encode(JSON.stringify(payload));
  const publisher = await connection.publisher();
  for (let i = 0; i < count; i += 1) publisher.sendToQueue(queue, Buffer.from(body), { persistent: true, contentType: 'application/json' });
  await publisher.waitForConfirms();
  return queue;
}

/** Drains `queue` with one route of `exportName` in `mode`; resolves with the elapsed ms from start to the last message. */
async function drain(mode: WorkerMode, queue: string, exportName: string, count: number): Promise<number> {
  let done = 0;
  let finished: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (finished = resolve));
  const runner = new Runner({
    config: { serviceName: `bench-workers-${mode}`, amqp: { url }, logLevel: 'error' },
    observers: [{
      taskFinished(event) {
        if (event.error) throw new Error(`a call failed: ${event.error.name}: ${event.error.message}`);
        done += 1;
        if (done === count) finished();
      },
    }],
    contexts: [{
      config: { workerMode: mode, maxWorkers: mode === 'async' ? 50 : cores },
      routes: [new Route({ target: workerTarget(targets, exportName), entrypoint: new AmqpQueueListener({ queueName: queue, queueArguments: { 'x-expires': 600_000 } }) })],
    }],
  });
  const began = performance.now();
  await runner.start();
  await all;
  const ms = performance.now() - began;
  await runner.stop({ timeoutMs: 10_000 });
  return ms;
}

/** An entrypoint the bench calls directly: one call of the route per `send`. */
class Direct extends Entrypoint {
  send(): Promise<unknown> {
    return this.callRoute(Symbol('call'), [], {});
  }
}

/** Mean microseconds of one call of the no-op target in `mode`, `calls` calls in sequence, after a warm-up. */
async function dispatchMicros(mode: WorkerMode, calls: number): Promise<number> {
  const entrypoint = new Direct();
  const runner = new Runner({ config: { serviceName: `bench-dispatch-${mode}`, logLevel: 'error' }, contexts: [{ config: { workerMode: mode, maxWorkers: 1 }, routes: [new Route({ target: workerTarget(targets, 'noop'), entrypoint })] }] });
  await runner.start();
  for (let i = 0; i < 200; i += 1) await entrypoint.send();
  const began = performance.now();
  for (let i = 0; i < calls; i += 1) await entrypoint.send();
  const micros = ((performance.now() - began) * 1_000) / calls;
  await runner.stop({ timeoutMs: 5_000 });
  return micros;
}

const median = (list: readonly number[]): number => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)] ?? Number.NaN;

const messages = Number(values.messages);
const noopMessages = Number(values['noop-messages']);
const rounds = Number(values.rounds);
const cpuMs = Number(values['cpu-ms']);
const hashRounds = calibrate(cpuMs);
progress(`${cores} cores; ${hashRounds} SHA-256 rounds ≈ ${cpuMs} ms per message`);
const connection = new AmqpConnection({ url, publishTimeoutMs: 60_000 });
await connection.setup();
const cpu = new Map<WorkerMode, number[]>(modes.map((mode) => [mode, []]));
const noop = new Map<WorkerMode, number[]>(modes.map((mode) => [mode, []]));
for (let round = 1; round <= rounds; round += 1) {
  for (const mode of round % 2 === 1 ? modes : [...modes].reverse()) {
    const cpuQueue = await fill(connection, messages, { rounds: hashRounds });
    const cpuRate = messages / ((await drain(mode, cpuQueue, 'hash', messages)) / 1_000);
    cpu.get(mode)!.push(cpuRate);
    const noopQueue = await fill(connection, noopMessages, {});
    const noopRate = noopMessages / ((await drain(mode, noopQueue, 'noop', noopMessages)) / 1_000);
    noop.get(mode)!.push(noopRate);
    progress(`round ${round}/${rounds} ${mode}: ${Math.round(cpuRate)} msg/s with ${cpuMs} ms of CPU each, ${Math.round(noopRate)} msg/s no-op`);
  }
}
await connection.stop();
const dispatch = new Map<WorkerMode, number[]>(modes.map((mode) => [mode, []]));
for (let round = 1; round <= rounds; round += 1) {
  for (const mode of round % 2 === 1 ? modes : [...modes].reverse()) dispatch.get(mode)!.push(await dispatchMicros(mode, 2_000));
}
progress(`dispatch: ${modes.map((mode) => `${mode} ${Math.round(median(dispatch.get(mode)!))} µs`).join(', ')}`);

const rows = modes.map((mode) => {
  const cpuRate = median(cpu.get(mode)!);
  const noopRate = median(noop.get(mode)!);
  const asyncNoop = median(noop.get('async')!);
  const callUs = median(dispatch.get(mode)!);
  return { mode, cpuRate, noopRate, noopVsAsync: noopRate / asyncNoop, callUs, dispatchUs: callUs - median(dispatch.get('async')!) };
});
const cpuModel = cpus()[0]?.model.trim() ?? 'unknown CPU';
const machine = `${platform()} ${release()}, ${cores} × ${cpuModel}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}`;
const lines = [
  '# Worker modes: a CPU-bound route, and the cost of dispatching to a pool',
  '',
  `Written by \`npm run bench:worker-modes\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. Machine: ${machine}. **${cores} cores.**`,
  `RabbitMQ (the machine's broker), one AmqpQueueListener route; ${messages.toLocaleString('en-US')} messages each doing about ${cpuMs} ms of SHA-256 hashing (${hashRounds} rounds), and ${noopMessages.toLocaleString('en-US')} messages on a no-op target; maxWorkers 50 in async mode, ${cores} (the cores) in thread and process mode; median of ${rounds} rounds, modes alternating.`,
  '',
  '| mode | CPU-bound, msg/s | no-op, msg/s | one no-op call, in process | dispatch cost vs async |',
  '|---|---|---|---|---|',
  ...rows.map((row) => `| ${row.mode} | ${Math.round(row.cpuRate).toLocaleString('en-US')} | ${Math.round(row.noopRate).toLocaleString('en-US')} | ${Math.round(row.callUs)} µs | ${row.mode === 'async' ? '—' : `${Math.round(row.dispatchUs)} µs`} |`),
  '',
  `In async mode every call runs on the event loop: at most one core computes, and while it does the service answers nothing else (see the worker-mode tests: RabbitMQ drops a 1 s-heartbeat connection, Kafka evicts the group member). Thread and process mode spread the calls over the ${cores} cores and keep the event loop free; the price is the dispatch cost above on every call (cloning the call into the worker and the answer back), which is why they are a per-context choice for CPU-bound routes only. The no-op throughput in thread and process mode is bound by the pool size: with maxWorkers = ${cores}, RabbitMQ hands the route ${cores} messages at a time (prefetch = maxWorkers), so each message waits for an ack round trip; async mode had 50.`,
];
const out = resolve(dirname(fileURLToPath(import.meta.url)), '../..', values.out);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.json`, `${JSON.stringify({ machine, cores, cpuMs, hashRounds, messages, noopMessages, rounds, rows, samples: { cpu: Object.fromEntries(cpu), noop: Object.fromEntries(noop), dispatchMicros: Object.fromEntries(dispatch) } }, null, 2)}\n`);
writeFileSync(`${out}.md`, `${lines.join('\n')}\n`);
progress(`written ${out}.md`);
process.exit(0);
