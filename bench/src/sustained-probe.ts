/**
 * Child process of the sustained case: our service consuming `channel` with a no-op route that records,
 * at the start of each call, the latency from the message's `sentAt` (see sustainedMessage), and its
 * own RSS every `sampleMs` once the parent says the timed part began. Talks to the parent over IPC:
 * sends `ready` once the service started and `flowing` at the first warm-up message (id < 0);
 * receives `calibrate` (answers `calibrated` once it handled that many calibration messages, id
 * calibrationId), `start` (the timed part begins) and `expect` (how many were published), then answers
 * `result` once it handled that many distinct ids, or after `drainTimeoutMs`.
 * Usage (forked by sustained.ts, compiled: see compiled-probes.ts): sustained-probe.js <amqp|nats|kafka> <channel> <planned count> <sampleMs> <maxWorkers>
 */
import { Route, Runner } from '@micro-framework/core';
import { calibrationId, messageData, wallClockMs } from './endpoints.ts';
import { LatencyHistogram } from './latency-histogram.ts';
import { probeSetup } from './probe-setups.ts';
import type { RssSample } from './rss-trend.ts';

export type ParentMessage = { type: 'calibrate'; count: number } | { type: 'start' } | { type: 'expect'; count: number; drainTimeoutMs: number };
export type ProbeMessage =
  | { type: 'ready' }
  | { type: 'flowing' }
  | { type: 'calibrated' }
  | {
      type: 'result';
      received: number;
      distinct: number;
      duplicates: number;
      latency: { count: number; p50: number; p99: number; p999: number; max: number; negatives: number };
      rss: RssSample[];
    };

const [broker = '', channel = '', plannedText = '0', sampleMsText = '5000', maxWorkersText = '100'] = process.argv.slice(2);
const send = (message: ProbeMessage): void => void process.send!(message);
process.on('disconnect', () => process.exit(1));

// One bit per id, its pages touched now, so the bookkeeping does not add to the RSS while measured.
const planned = Number(plannedText);
const seen = new Uint32Array(Math.ceil((planned * 1.1 + 1_024) / 32));
seen.fill(0xffffffff).fill(0);
const histogram = new LatencyHistogram();
let received = 0;
let distinct = 0;
let duplicates = 0;
let flowing = false;
let onDistinct: (() => void) | undefined;
let calibrated = 0;
let onCalibrated: (() => void) | undefined;

function sustainedTarget(message: unknown): void {
  const now = wallClockMs();
  const { id, sentAt = now } = messageData(message);
  if (id < 0) {
    if (!flowing) send({ type: 'flowing' });
    flowing = true;
    if (id === calibrationId) {
      calibrated += 1;
      onCalibrated?.();
    }
    return;
  }
  histogram.record(now - sentAt);
  received += 1;
  const word = id >>> 5;
  const bit = 1 << (id & 31);
  if (word >= seen.length || (seen[word]! & bit) !== 0) duplicates += word < seen.length ? 1 : 0;
  else {
    seen[word]! |= bit;
    distinct += 1;
    onDistinct?.();
  }
}

const setup = await probeSetup(broker, channel);
const runner = new Runner({
  config: { logLevel: 'warn', ...setup.config, serviceName: 'bench-sustained', maxWorkers: Number(maxWorkersText) },
  contexts: [{ routes: [new Route({ target: sustainedTarget, entrypoint: setup.entrypoint })] }],
});
await runner.start();

const rss: RssSample[] = [];
let sampler: NodeJS.Timeout | undefined;
let startedAt = 0;
const sample = (): void => void rss.push({ atMs: performance.now() - startedAt, rss: process.memoryUsage.rss() });

process.on('message', (message: ParentMessage) => {
  if (message.type === 'calibrate') {
    onCalibrated = () => {
      if (calibrated < message.count) return;
      onCalibrated = undefined;
      send({ type: 'calibrated' });
    };
    onCalibrated();
    return;
  }
  if (message.type === 'start') {
    startedAt = performance.now();
    sample();
    sampler = setInterval(sample, Number(sampleMsText));
    return;
  }
  const finish = (): void => {
    onDistinct = undefined;
    clearTimeout(deadline);
    clearInterval(sampler);
    sample();
    const latency = histogram.count === 0
      ? { count: 0, p50: 0, p99: 0, p999: 0, max: 0, negatives: 0 }
      : { count: histogram.count, p50: histogram.percentile(50), p99: histogram.percentile(99), p999: histogram.percentile(99.9), max: histogram.maxMs, negatives: histogram.negatives };
    process.send!({ type: 'result', received, distinct, duplicates, latency, rss } satisfies ProbeMessage, () => void runner.stop().finally(() => process.exit(0)));
  };
  const deadline = setTimeout(finish, message.drainTimeoutMs);
  onDistinct = () => {
    if (distinct >= message.count) finish();
  };
  onDistinct();
});
send({ type: 'ready' });
