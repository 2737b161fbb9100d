/**
 * npm run bench [-- --messages 50000 --rounds 3 --brokers amqp,nats,kafka --in-flight 100 --rpc-calls 2000 --memory-messages 200000
 *   --cases consume,rpc,memory,failure-cost,sustained --failure-messages 50000 --sustained-seconds 300 --sustained-rate 20000
 *   --without-peers --out results/latest]
 * Measures, per broker and in one run, consume-and-ack throughput of the raw client, of a route and of
 * NestJS microservices and Moleculer (bench/peers), RPC latency / throughput, alternating contestants
 * between rounds, the memory of a draining service, the cost of failures retried once, and latency and
 * memory under a sustained rate. Writes bench/results/latest.{json,md}.
 * The environment sets the defaults of some options: BENCH_CASES, BENCH_FAILURE_MESSAGES,
 * BENCH_SUSTAINED_SECONDS, BENCH_SUSTAINED_RATE (see README.md).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { brokerBenches, loadPeers } from './broker-benches.ts';
import { compiledProbe } from './compiled-probes.ts';
import { pool } from './counter.ts';
import { IncompleteFailureRun, timeFailureRun, retryIntervalMs } from './failure-cost.ts';
import { failureMessage } from './endpoints.ts';
import { addRatios, figure, isOurs, type Figure } from './report.ts';
import { resultNotes, resultsPage } from './results-page.ts';
import { runSustained, type SustainedRate, type SustainedResult } from './sustained.ts';
import { percentile } from './stats.ts';

const allCases = ['consume', 'rpc', 'memory', 'failure-cost', 'sustained'] as const;
const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '3' },
    brokers: { type: 'string', default: 'amqp,nats,kafka' },
    'in-flight': { type: 'string', default: '100' },
    'rpc-calls': { type: 'string', default: '2000' },
    'memory-messages': { type: 'string', default: '200000' },
    cases: { type: 'string', default: process.env['BENCH_CASES'] ?? allCases.join(',') },
    'failure-messages': { type: 'string', default: process.env['BENCH_FAILURE_MESSAGES'] ?? '50000' },
    'failure-timeout-seconds': { type: 'string', default: process.env['BENCH_FAILURE_TIMEOUT_SECONDS'] ?? '600' },
    'sustained-seconds': { type: 'string', default: process.env['BENCH_SUSTAINED_SECONDS'] ?? '300' },
    'sustained-rate': { type: 'string', default: process.env['BENCH_SUSTAINED_RATE'] ?? '10000' },
    'sustained-sample-seconds': { type: 'string', default: process.env['BENCH_SUSTAINED_SAMPLE_SECONDS'] ?? '' },
    'without-peers': { type: 'boolean', default: false },
    out: { type: 'string', default: 'results/latest' },
  },
});
const messages = Number(values.messages);
const rounds = Number(values.rounds);
const inFlight = Number(values['in-flight']);
const rpcCalls = Number(values['rpc-calls']);
const memoryMessages = Number(values['memory-messages']);
const cases = new Set(values.cases.split(',').map((c) => c.trim()).filter(Boolean));
for (const name of cases) if (!(allCases as readonly string[]).includes(name)) throw new Error(`unknown case ${name}; choose among ${allCases.join(', ')}`);
const failureMessages = Number(values['failure-messages']);
const failureTimeoutMs = Number(values['failure-timeout-seconds']) * 1_000;
const sustainedSeconds = Number(values['sustained-seconds']);
// Every 5 s, or often enough for 20 samples in a shorter run (a smoke run still gets a second half to fit).
const sustainedSampleMs = (values['sustained-sample-seconds'] ? Number(values['sustained-sample-seconds']) : Math.min(5, sustainedSeconds / 20)) * 1_000;
/** `--sustained-rate 20000` for every broker, or per broker: `amqp:20000,nats:30000,kafka:40000`. */
const configuredRate = (broker: string): number | undefined => {
  const parts = values['sustained-rate'].split(',').map((part) => part.split(':'));
  const found = parts.find(([name]) => name === broker) ?? parts.find((part) => part.length === 1);
  const rate = found ? Number(found.at(-1)) : undefined;
  return rate !== undefined && rate > 0 ? rate : undefined;
};
/** The sustained case publishes at this fraction of our consume+ack median of the same run. */
const sustainedFraction = 0.7;
const run = promisify(execFile);
/**
 * The memory case runs with Node's defaults, then with a 16 MiB semi-space: without a memory limit V8
 * sizes the young generation from this machine's 24 GiB (32 MiB semi-spaces), and much of the peak is
 * young-generation garbage, not held messages; Node gives a process in a container of 2 GiB or less
 * 8 MiB or less.
 */
const memoryHeapSettings = [
  { flags: [], label: '', measure: '', settings: "Node's default heap sizing" },
  { flags: ['--max-semi-space-size=16'], label: ' (semi-space 16 MiB)', measure: ', --max-semi-space-size=16', settings: '--max-semi-space-size=16 (half the default here; a container of 2 GiB or less gets 8 MiB or less)' },
] as const;
/** Contestants in order on odd rounds and in reverse on even ones, so none always runs first. */
const alternate = <T>(contestants: readonly T[], round: number): readonly T[] => (round % 2 === 1 ? contestants : [...contestants].reverse());
const progress = (text: string): void => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}`);

const peers = values['without-peers'] ? undefined : await loadPeers();
const figures: Figure[] = [];
const unsupported: string[] = [];
const sustained: SustainedResult[] = [];
/** Cases that failed (a message not handled): printed loudly, kept in the results, and the exit code is 1. */
const failures: string[] = [];
const fail = (text: string): void => {
  failures.push(text);
  console.error(`[bench] FAILED: ${text}`);
};
const servers: string[] = [];
for (const name of values.brokers.split(',')) {
  const factory = brokerBenches[name];
  if (!factory) throw new Error(`unknown broker ${name}; choose among ${Object.keys(brokerBenches).join(', ')}`);
  const bench = await factory(inFlight);
  servers.push(bench.server);
  const peer = peers?.peerContestants(name as 'amqp' | 'nats' | 'kafka', { inFlight, channel: () => bench.channel() });
  const drains = cases.has('consume') ? [...bench.drains, ...(peer?.drains ?? [])] : [];
  const rpc = cases.has('rpc') ? [...bench.rpc, ...(peer?.rpc ?? [])] : [];
  const failureCost = cases.has('failure-cost') ? [...bench.failureCost, ...(peer?.failureCost ?? [])] : [];
  unsupported.push(...(peer?.unsupported ?? []).filter((text) => (/failure cost/.test(text) ? cases.has('failure-cost') : /consume/.test(text) ? cases.has('consume') : true)));

  if (drains.length > 0) progress(`${bench.broker}: warm-up`);
  for (const contestant of drains) {
    await bench.prepare(Math.min(messages, 5_000));
    await contestant.drain(Math.min(messages, 5_000));
  }
  const rates = new Map<string, number[]>(drains.map((c) => [c.name, []]));
  for (let round = 1; round <= rounds; round += 1) {
    for (const contestant of alternate(drains, round)) {
      await bench.prepare(messages);
      const ms = await contestant.drain(messages);
      const rate = messages / (ms / 1_000);
      rates.get(contestant.name)!.push(rate);
      progress(`${bench.broker}: round ${round}/${rounds} ${contestant.name}: ${Math.round(rate).toLocaleString('en-US')} msg/s`);
    }
  }
  for (const contestant of drains) {
    figures.push(figure({ broker: bench.broker, measure: `consume+ack ${messages.toLocaleString('en-US')}`, unit: 'msg/s', contestant: contestant.name, settings: contestant.settings, higherIsBetter: true }, rates.get(contestant.name)!));
  }

  // Every RPC contestant serves at once; rounds alternate between them like the drains.
  const samples = new Map(rpc.map((c) => [c.name, { p50: [] as number[], p99: [] as number[], throughput: [] as number[] }]));
  for (const contestant of rpc) {
    progress(`${bench.broker}: RPC: starting ${contestant.name}`);
    await contestant.start();
    await pool(200, 16, (i) => contestant.call(i));
  }
  for (let round = 1; round <= rounds; round += 1) {
    for (const contestant of alternate(rpc, round)) {
      const sample = samples.get(contestant.name)!;
      const latencies: number[] = [];
      for (let i = 0; i < rpcCalls; i += 1) {
        const started = performance.now();
        await contestant.call(i);
        latencies.push(performance.now() - started);
      }
      sample.p50.push(percentile(latencies, 50));
      sample.p99.push(percentile(latencies, 99));
      const started = performance.now();
      await pool(rpcCalls * 2, 64, (i) => contestant.call(i));
      sample.throughput.push((rpcCalls * 2) / ((performance.now() - started) / 1_000));
      progress(`${bench.broker}: RPC round ${round}/${rounds} ${contestant.name}: p50 ${sample.p50.at(-1)!.toFixed(2)} ms, ${Math.round(sample.throughput.at(-1)!)} calls/s at 64 in flight`);
    }
  }
  for (const contestant of rpc) {
    await contestant.stop();
    const sample = samples.get(contestant.name)!;
    const common = { broker: bench.broker, contestant: contestant.name, settings: contestant.settings };
    figures.push(figure({ ...common, measure: 'RPC sequential p50', unit: 'ms', higherIsBetter: false }, sample.p50));
    figures.push(figure({ ...common, measure: 'RPC sequential p99', unit: 'ms', higherIsBetter: false }, sample.p99));
    figures.push(figure({ ...common, measure: 'RPC 64 in flight', unit: 'calls/s', higherIsBetter: true }, sample.throughput));
  }
  if (cases.has('memory') && memoryMessages > 0) {
    // One child process per round and heap setting, each draining a fresh backlog: the peak depends on when V8 collects.
    for (const heap of memoryHeapSettings) {
      const peaks: number[] = [];
      const baselines: number[] = [];
      const heaps: string[] = [];
      for (let round = 1; round <= rounds; round += 1) {
        progress(`${bench.broker}: memory round ${round}/${rounds}${heap.label}: publishing a backlog of ${memoryMessages.toLocaleString('en-US')}`);
        await bench.prepare(memoryMessages);
        const probe = await compiledProbe('memory-probe');
        const { stdout } = await run(process.execPath, [...heap.flags, probe, bench.probe, bench.channel(), String(memoryMessages)], { maxBuffer: 1 << 20, timeout: 900_000 });
        const measured = JSON.parse(stdout.trim().split('\n').pop()!) as { baselineRss: number; peakRss: number; heapTotalAtPeak: number; heapUsedAtPeak: number; elapsedMs: number };
        const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
        peaks.push(measured.peakRss / 2 ** 20);
        baselines.push(measured.baselineRss / 2 ** 20);
        heaps.push(`${mib(measured.heapTotalAtPeak)}/${mib(measured.heapUsedAtPeak)}`);
        progress(`${bench.broker}: memory round ${round}/${rounds}${heap.label}: peak RSS ${peaks.at(-1)!.toFixed(0)} MiB (baseline ${baselines.at(-1)!.toFixed(0)} MiB; V8 heap total/used at the peak ${heaps.at(-1)} MiB) draining in ${(measured.elapsedMs / 1000).toFixed(1)} s`);
      }
      const settings = `${heap.settings}; baseline ${Math.min(...baselines).toFixed(0)}–${Math.max(...baselines).toFixed(0)} MiB before consuming; V8 heap total/used at the peak per round ${heaps.join(', ')} MiB; built packages, one process per round`;
      figures.push(figure({ broker: bench.broker, measure: `peak RSS draining ${memoryMessages.toLocaleString('en-US')} (1 ms target, maxWorkers 100${heap.measure})`, unit: 'MiB', contestant: '@micro-framework (ours)', settings, higherIsBetter: false }, peaks));
    }
  }
  if (failureCost.length > 0) {
    // Ids 0..N-1, every 100th failing once; a contestant is timed until each id was handled successfully.
    const measure = `failure cost ${failureMessages.toLocaleString('en-US')}, 1 % fail once`;
    const runs = new Map(failureCost.map((c) => [c.name, { ms: [] as number[], duplicates: [] as number[] }]));
    const broken = new Set<string>();
    const attempt = async (contestant: (typeof failureCost)[number], count: number, label: string): Promise<void> => {
      if (broken.has(contestant.name)) return;
      await bench.prepare(count, failureMessage);
      try {
        const outcome = await timeFailureRun(contestant, bench.channel(), count, failureTimeoutMs);
        if (label === 'warm-up') return;
        runs.get(contestant.name)!.ms.push(outcome.ms);
        runs.get(contestant.name)!.duplicates.push(outcome.duplicates);
        progress(`${bench.broker}: failure cost ${label} ${contestant.name}: ${(outcome.ms / 1_000).toFixed(2)} s for ${count.toLocaleString('en-US')} (${outcome.failures} failed once and retried, ${outcome.duplicates} duplicates)`);
      } catch (error) {
        if (!(error instanceof IncompleteFailureRun)) throw error;
        broken.add(contestant.name);
        fail(`${bench.broker}, ${measure}: ${error.message}`);
      }
    };
    progress(`${bench.broker}: failure cost: warm-up`);
    for (const contestant of failureCost) await attempt(contestant, Math.min(failureMessages, 2_000), 'warm-up');
    for (let round = 1; round <= rounds; round += 1) {
      for (const contestant of alternate(failureCost, round)) await attempt(contestant, failureMessages, `round ${round}/${rounds}`);
    }
    for (const contestant of failureCost) {
      const measured = runs.get(contestant.name)!;
      if (broken.has(contestant.name) || measured.ms.length === 0) continue;
      const settings = `${contestant.settings}; successes handled twice (duplicates) per round: ${measured.duplicates.join(', ')}`;
      figures.push(figure({ broker: bench.broker, measure, unit: 's', contestant: contestant.name, settings, higherIsBetter: false }, measured.ms.map((ms) => ms / 1_000)));
    }
  }
  if (cases.has('sustained') && sustainedSeconds > 0) {
    const drained = figures.find((f) => f.broker === bench.broker && f.measure.startsWith('consume+ack') && isOurs(f));
    const configured = configuredRate(name);
    let rate: SustainedRate;
    if (drained) {
      rate = { fraction: sustainedFraction, drainRate: drained.summary.median, source: `our consume+ack median of this run (${Math.round(drained.summary.median).toLocaleString('en-US')} msg/s)` };
    } else if (configured !== undefined) {
      rate = { configured, source: 'configured (--sustained-rate / BENCH_SUSTAINED_RATE): the consume case did not run' };
    } else {
      throw new Error(`no rate for the sustained case on ${name}: run the consume case too, or pass --sustained-rate`);
    }
    const result = await runSustained(bench, { rate, seconds: sustainedSeconds, sampleMs: sustainedSampleMs, maxWorkers: inFlight, progress });
    sustained.push(result);
    progress(
      `${bench.broker}: sustained: ${result.published.toLocaleString('en-US')} published at ${Math.round(result.achievedRate).toLocaleString('en-US')} msg/s${result.behind ? ` (BEHIND schedule, up to ${result.maxLagMs.toFixed(0)} ms)` : ''}, all handled ${(result.catchUpMs / 1_000).toFixed(2)} s after the last publish; ` +
        `latency p50 ${result.latency.p50.toFixed(2)} ms, p99 ${result.latency.p99.toFixed(2)} ms, p99.9 ${result.latency.p999.toFixed(2)} ms; ` +
        `RSS ${result.rss.startMiB.toFixed(0)} → ${result.rss.endMiB.toFixed(0)} MiB (min ${result.rss.minMiB.toFixed(0)}, max ${result.rss.maxMiB.toFixed(0)}), second half ${result.rss.secondHalfSlopeMiBPerMinute.toFixed(2)} MiB/min${result.rss.grows ? ' GROWS' : ''}`,
    );
    if (result.failure) fail(`${bench.broker}, sustained: ${result.failure}`);
  }
  await bench.close();
}
addRatios(figures);

const packageVersion = (name: string): string => {
  try {
    return (JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
};

const header = {
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}`,
  brokers: `${servers.join(', ')}; all on the same machine as the bench, over loopback`,
  node: process.version,
  versions: ['amqplib', 'kafkajs', '@nats-io/transport-node', '@nats-io/jetstream'].map((n) => `${n} ${packageVersion(n)}`).join(', '),
  'peer versions': peers?.peerVersions() ?? 'not measured (--without-peers)',
  settings: `${messages.toLocaleString('en-US')} messages per round, ${rounds} rounds after a warm-up, contestants alternate order each round; in flight ${inFlight}; RPC ${rpcCalls} sequential + ${rpcCalls * 2} at 64 in flight per round`,
  cases: `${[...cases].join(', ')}; failure cost: ${failureMessages.toLocaleString('en-US')} messages, ids 0, 100, 200... fail on their first attempt, retry interval ${retryIntervalMs} ms where the contestant has one; sustained: ${sustainedSeconds} s at ${sustainedFraction * 100} % of the lower of our consume+ack median of the run and what publisher, broker and service reach together (measured just before; the configured rate when the consume case did not run), RSS sampled every ${sustainedSampleMs / 1_000} s`,
  date: new Date().toISOString(),
};
const notes = resultNotes(figures, failures, unsupported);
// --out is relative to bench/ (default results/latest): writes <out>.json and <out>.md.
const out = resolve(fileURLToPath(new URL('..', import.meta.url)), values.out);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.json`, `${JSON.stringify({ header, figures, sustained, failures, notes, unsupported }, null, 2)}\n`);
writeFileSync(`${out}.md`, resultsPage(figures, header, notes, sustained));
progress(`wrote ${out}.md`);
if (failures.length > 0) {
  console.error(`[bench] ${failures.length} case(s) FAILED:\n${failures.map((text) => `  - ${text}`).join('\n')}`);
  process.exitCode = 1;
}
