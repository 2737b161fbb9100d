/**
 * npm run bench [-- --messages 50000 --rounds 3 --brokers amqp,nats,kafka --in-flight 100 --rpc-calls 2000 --memory-messages 200000 --without-peers --out results/latest]
 * Measures, per broker and in one run, consume-and-ack throughput of the raw client, of a route and of
 * NestJS microservices and Moleculer (bench/peers), and RPC latency / throughput, alternating contestants
 * between rounds. Writes bench/results/latest.{json,md}.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import type { BrokerBench } from './case.ts';
import { amqpBench } from './contestants/amqp.ts';
import { kafkaBench } from './contestants/kafka.ts';
import { natsBench } from './contestants/nats.ts';
import { pool } from './counter.ts';
import { addRatios, behindPeers, figure, markdown, shortfalls, type Figure } from './report.ts';
import { explainPeerLead, explainShortfall } from './limits.ts';
import type { PeersModule } from './peer-context.ts';
import { percentile } from './stats.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '3' },
    brokers: { type: 'string', default: 'amqp,nats,kafka' },
    'in-flight': { type: 'string', default: '100' },
    'rpc-calls': { type: 'string', default: '2000' },
    'memory-messages': { type: 'string', default: '200000' },
    'without-peers': { type: 'boolean', default: false },
    out: { type: 'string', default: 'results/latest' },
  },
});
const messages = Number(values.messages);
const rounds = Number(values.rounds);
const inFlight = Number(values['in-flight']);
const rpcCalls = Number(values['rpc-calls']);
const memoryMessages = Number(values['memory-messages']);
const run = promisify(execFile);
const factories: Record<string, (inFlight: number) => Promise<BrokerBench>> = { amqp: amqpBench, nats: natsBench, kafka: kafkaBench };
/** Contestants in order on odd rounds and in reverse on even ones, so none always runs first. */
const alternate = <T>(contestants: readonly T[], round: number): readonly T[] => (round % 2 === 1 ? contestants : [...contestants].reverse());
const progress = (text: string): void => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}`);

const peers = values['without-peers'] ? undefined : await loadPeers();
const figures: Figure[] = [];
const unsupported: string[] = [];
const servers: string[] = [];
for (const name of values.brokers.split(',')) {
  const factory = factories[name];
  if (!factory) throw new Error(`unknown broker ${name}; choose among ${Object.keys(factories).join(', ')}`);
  const bench = await factory(inFlight);
  servers.push(bench.server);
  const peer = peers?.peerContestants(name as 'amqp' | 'nats' | 'kafka', { inFlight, channel: () => bench.channel() });
  const drains = [...bench.drains, ...(peer?.drains ?? [])];
  const rpc = [...bench.rpc, ...(peer?.rpc ?? [])];
  unsupported.push(...(peer?.unsupported ?? []));

  progress(`${bench.broker}: warm-up`);
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
  if (memoryMessages > 0) {
    // One child process per round, each draining a fresh backlog: the peak depends on when V8 collects.
    const peaks: number[] = [];
    const baselines: number[] = [];
    for (let round = 1; round <= rounds; round += 1) {
      progress(`${bench.broker}: memory round ${round}/${rounds}: publishing a backlog of ${memoryMessages.toLocaleString('en-US')}`);
      await bench.prepare(memoryMessages);
      const probe = fileURLToPath(new URL('memory-probe.ts', import.meta.url));
      const { stdout } = await run(process.execPath, ['--conditions=@micro-framework/source', probe, bench.probe, bench.channel(), String(memoryMessages)], { maxBuffer: 1 << 20, timeout: 900_000 });
      const measured = JSON.parse(stdout.trim().split('\n').pop()!) as { baselineRss: number; peakRss: number; elapsedMs: number };
      peaks.push(measured.peakRss / 2 ** 20);
      baselines.push(measured.baselineRss / 2 ** 20);
      progress(`${bench.broker}: memory round ${round}/${rounds}: peak RSS ${peaks.at(-1)!.toFixed(0)} MiB (baseline ${baselines.at(-1)!.toFixed(0)} MiB) draining in ${(measured.elapsedMs / 1000).toFixed(1)} s`);
    }
    const baseline = `baseline ${Math.min(...baselines).toFixed(0)}–${Math.max(...baselines).toFixed(0)} MiB before consuming; one process per round`;
    figures.push(figure({ broker: bench.broker, measure: `peak RSS draining ${memoryMessages.toLocaleString('en-US')} (1 ms target, maxWorkers 100)`, unit: 'MiB', contestant: '@micro-framework (ours)', settings: baseline, higherIsBetter: false }, peaks));
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
async function loadPeers(): Promise<PeersModule> {
  try {
    // A computed specifier: bench/peers is type-checked on its own (peers/tsconfig.json), with its own node_modules.
    const specifier = new URL('../peers/src/peers.ts', import.meta.url).href;
    return (await import(specifier)) as PeersModule;
  } catch (error) {
    throw new Error('bench/peers is not installed: run `node bench/peers/install.ts` (npm run bench does), or pass --without-peers', { cause: error });
  }
}

const header = {
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}`,
  brokers: `${servers.join(', ')}; all on the same machine as the bench, over loopback`,
  node: process.version,
  versions: ['amqplib', 'kafkajs', '@nats-io/transport-node', '@nats-io/jetstream'].map((n) => `${n} ${packageVersion(n)}`).join(', '),
  'peer versions': peers?.peerVersions() ?? 'not measured (--without-peers)',
  settings: `${messages.toLocaleString('en-US')} messages per round, ${rounds} rounds after a warm-up, contestants alternate order each round; in flight ${inFlight}; RPC ${rpcCalls} sequential + ${rpcCalls * 2} at 64 in flight per round`,
  date: new Date().toISOString(),
};
const notes = [...shortfalls(figures).map(explainShortfall), ...behindPeers(figures).map(explainPeerLead)];
notes.push(...unsupported);
// --out is relative to bench/ (default results/latest): writes <out>.json and <out>.md.
const out = resolve(fileURLToPath(new URL('..', import.meta.url)), values.out);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.json`, `${JSON.stringify({ header, figures, notes, unsupported }, null, 2)}\n`);
writeFileSync(`${out}.md`, markdown(figures, header, notes));
progress(`wrote ${out}.md`);
