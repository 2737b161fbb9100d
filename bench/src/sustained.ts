import { fork, type ChildProcess } from 'node:child_process';
import type { BrokerBench, SustainedPublisher } from './case.ts';
import { calibrationId, sustainedMessage, wallClockMs } from './endpoints.ts';
import { RateSchedule } from './rate-schedule.ts';
import { rssTrend, type RssTrend } from './rss-trend.ts';
import type { ParentMessage, ProbeMessage } from './sustained-probe.ts';
import { compiledProbe } from './compiled-probes.ts';

/** What the sustained case reports for one broker. */
export interface SustainedResult {
  readonly broker: string;
  readonly contestant: string;
  readonly settings: string;
  readonly seconds: number;
  /** Messages per second asked for, and where that figure came from. */
  readonly targetRate: number;
  readonly rateSource: string;
  /** Publish and consume at once, as fast as they go (see calibrate), msg/s; undefined when the rate was configured. */
  readonly combinedRate?: number;
  readonly published: number;
  readonly achievedRate: number;
  /** The most the publisher was behind its schedule (ms of schedule), and whether that counts as falling behind. */
  readonly maxLagMs: number;
  readonly behind: boolean;
  readonly received: number;
  readonly duplicates: number;
  /** Milliseconds from the last publish until the service had handled every message: its backlog at the end. */
  readonly catchUpMs: number;
  /** Latency from publish to the start of the handler, ms. */
  readonly latency: { count: number; p50: number; p99: number; p999: number; max: number; negatives: number };
  readonly rss: RssTrend;
  /** Every RSS sample: seconds since the timed part began, MiB. */
  readonly rssSamples: ReadonlyArray<readonly [number, number]>;
  /** Set when the service did not handle every published message: the case failed. */
  readonly failure?: string;
}


/** Resolves with the first message of `child` that `accept` takes; rejects if the child exits first or after `timeoutMs`. */
function nextMessage<T extends ProbeMessage['type']>(child: ChildProcess, type: T, timeoutMs: number, stderr: () => string): Promise<Extract<ProbeMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`the sustained probe sent no ${type} within ${timeoutMs / 1_000} s; its stderr: ${stderr()}`)), timeoutMs);
    const onMessage = (message: ProbeMessage): void => {
      if (message.type === type) done(undefined, message as Extract<ProbeMessage, { type: T }>);
    };
    const onExit = (code: number | null): void => done(new Error(`the sustained probe exited (${code}) before ${type}; its stderr: ${stderr()}`));
    function done(error?: Error, message?: Extract<ProbeMessage, { type: T }>): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message!);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

const sleepUntil = (atMs: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, atMs - performance.now())));

/** How the sustained rate is chosen: a configured figure, or `fraction` of what publisher and service reach together. */
export type SustainedRate = { configured: number; source: string } | { fraction: number; drainRate: number; source: string };

/** Calibration messages: `calibrationSeconds` at the drain rate, at most this many. */
const calibrationCap = 200_000;
const calibrationSeconds = 5;

/**
 * Publishes `count` calibration messages as fast as `publisher` takes them while the service consumes,
 * and returns the messages per second from the first publish until the service handled the last: what
 * this publisher, the broker and the service reach together on this machine. The consume case drains
 * without a publisher beside it; on two cores the publisher and the broker take their share, so a rate
 * from that figure alone can be one the publisher never reaches, and the latencies then measure a backlog.
 */
async function calibrate(child: ChildProcess, publisher: SustainedPublisher, count: number, stderr: () => string): Promise<number> {
  const body = sustainedMessage(calibrationId, 0);
  const began = performance.now();
  for (let sent = 0; sent < count; ) {
    const batch = Math.min(1_000, count - sent);
    await publisher.publish(Array.from({ length: batch }, () => body));
    sent += batch;
    // Let replies, acks and confirms in between.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await publisher.settle();
  const handled = nextMessage(child, 'calibrated', 300_000, stderr);
  void child.send({ type: 'calibrate', count } satisfies ParentMessage);
  await handled;
  return count / ((performance.now() - began) / 1_000);
}

/**
 * Publishes at `rate` messages per second for `seconds` on a fresh channel of `bench`, scheduled by
 * absolute time (RateSchedule), to our service in a child process (sustained-probe.ts), which
 * measures publish-to-handler latency and samples its RSS every `sampleMs`.
 */
export async function runSustained(bench: BrokerBench, options: { rate: SustainedRate; seconds: number; sampleMs: number; maxWorkers: number; progress: (text: string) => void }): Promise<SustainedResult> {
  const { seconds } = options;
  await bench.prepare(0);
  const channel = bench.channel();
  // The id bitmap is sized for the most the rate can be.
  const planned = Math.ceil(('configured' in options.rate ? options.rate.configured : options.rate.drainRate) * seconds) + 1;
  let stderr = '';
  const child = fork(await compiledProbe('sustained-probe'), [bench.probe, channel, String(planned), String(options.sampleMs), String(options.maxWorkers)], {
    execArgv: [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const tell = (message: ParentMessage): void => void child.send(message);
  let completed = false;
  try {
    await nextMessage(child, 'ready', 120_000, () => stderr);
    const publisher = await bench.sustainedPublisher();
    // Warm-up: a message with id -1 every 100 ms until the service got one (consumer group joined, consumer bound).
    const flowing = nextMessage(child, 'flowing', 120_000, () => stderr);
    let warm = false;
    void flowing.then(() => (warm = true), () => undefined);
    while (!warm) {
      await publisher.publish([sustainedMessage(-1, wallClockMs())]);
      await Promise.race([flowing, new Promise((resolve) => setTimeout(resolve, 100))]);
    }
    let rate: number;
    let rateSource: string;
    let combinedRate: number | undefined;
    if ('configured' in options.rate) {
      rate = options.rate.configured;
      rateSource = options.rate.source;
    } else {
      const { fraction, drainRate, source } = options.rate;
      const count = Math.min(calibrationCap, Math.round(drainRate * calibrationSeconds));
      options.progress(`${bench.broker}: sustained: calibrating, ${count.toLocaleString('en-US')} messages published as fast as the publisher goes while the service consumes`);
      combinedRate = await calibrate(child, await bench.sustainedPublisher(), count, () => stderr);
      rate = Math.round(fraction * Math.min(drainRate, combinedRate));
      const ceiling = Math.round(combinedRate).toLocaleString('en-US');
      rateSource =
        combinedRate < drainRate
          ? `${fraction * 100} % of ${ceiling} msg/s, what publisher, broker and service reached together (${count.toLocaleString('en-US')} messages published as fast as the publisher went while the service consumed), below ${source}`
          : `${fraction * 100} % of ${source} (publisher, broker and service together reached ${ceiling} msg/s)`;
    }
    tell({ type: 'start' });
    options.progress(`${bench.broker}: sustained: publishing ${rate.toLocaleString('en-US')} msg/s for ${seconds} s (${rateSource})`);

    const startMs = performance.now();
    const endMs = startMs + seconds * 1_000;
    const schedule = new RateSchedule({ ratePerSecond: rate, startMs });
    let nextReport = startMs + 30_000;
    const lastDueMs = endMs - 1e-6;
    const due = schedule.dueBy(lastDueMs);
    const publishDue = async (now: number): Promise<void> => {
      const count = schedule.take(Math.min(now, lastDueMs));
      if (count === 0) return;
      const first = schedule.sent - count;
      const sentAt = wallClockMs();
      await publisher.publish(Array.from({ length: count }, (_, i) => sustainedMessage(first + i, sentAt)));
    };
    for (let now = performance.now(); now < endMs; now = performance.now()) {
      await publishDue(now);
      if (now >= nextReport) {
        options.progress(`${bench.broker}: sustained: ${Math.round((now - startMs) / 1_000)} s, ${schedule.sent.toLocaleString('en-US')} published, ${schedule.backlog(performance.now())} behind schedule`);
        nextReport += 30_000;
      }
      await sleepUntil(Math.min(schedule.nextDueMs(), endMs));
    }
    // The messages due before the end that the last tick left (at most maxBatch at a time, like any tick).
    while (schedule.sent < due) await publishDue(performance.now());
    const published = schedule.sent;
    const lastPublishMs = performance.now();
    // Over the time publishing really took: longer than `seconds` when the last messages went late.
    const achievedRate = published / ((Math.max(performance.now(), endMs) - startMs) / 1_000);
    await publisher.settle();
    const maxLagMs = schedule.maxLagMs();
    tell({ type: 'expect', count: published, drainTimeoutMs: Math.max(60_000, seconds * 1_000) });
    const result = await nextMessage(child, 'result', Math.max(60_000, seconds * 1_000) + 60_000, () => stderr);
    completed = true;
    const catchUpMs = performance.now() - lastPublishMs;
    const trend = rssTrend(result.rss);
    const failure =
      result.distinct < published
        ? `only ${result.distinct.toLocaleString('en-US')} of ${published.toLocaleString('en-US')} published messages were handled within ${Math.max(60, seconds)} s after the last publish`
        : undefined;
    return {
      broker: bench.broker,
      contestant: '@micro-framework (ours)',
      settings: `one route, no-op target, maxWorkers ${options.maxWorkers}, in a child process; publisher: ${publisher.settings}; schedule by absolute time, at most ${schedule.maxBatch} messages (5 ms) per tick`,
      seconds,
      targetRate: rate,
      rateSource,
      ...(combinedRate === undefined ? {} : { combinedRate }),
      published,
      achievedRate,
      maxLagMs,
      // Behind: more than 100 ms of schedule owed at some point.
      behind: maxLagMs > 100,
      received: result.received,
      duplicates: result.duplicates,
      catchUpMs,
      latency: result.latency,
      rss: trend,
      rssSamples: result.rss.map((s) => [Math.round(s.atMs / 100) / 10, Math.round((s.rss / 2 ** 20) * 10) / 10] as const),
      ...(failure ? { failure } : {}),
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // After its result the probe stops its service and exits; on an error here it is stopped at once.
      if (!completed) child.kill();
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
  }
}
