/**
 * Child process of the memory measure: drains `count` messages already waiting on `channel` with a
 * slow target (1 ms) and maxWorkers 100, sampling its own RSS; prints one JSON line with the peak and
 * the V8 heap at that moment.
 * Usage (main.ts runs it compiled, see compiled-probes.ts): memory-probe.js <amqp|nats|kafka> <channel> <count>
 */
import { Route, Runner } from '@micro-framework/core';
import { Counter } from './counter.ts';
import { probeSetup } from './probe-setups.ts';

const [broker = '', channel = '', countText = '0'] = process.argv.slice(2);
const count = Number(countText);
const setup = await probeSetup(broker, channel);

const counter = new Counter(count);
async function slowTarget(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1));
  counter.hit();
}
const baseline = process.memoryUsage().rss;
let peak = baseline;
/** The V8 heap (total, used) and the memory outside it at the peak: where the bytes were. */
let atPeak = process.memoryUsage();
const sampler = setInterval(() => {
  const usage = process.memoryUsage();
  if (usage.rss > peak) [peak, atPeak] = [usage.rss, usage];
}, 50);
const started = performance.now();
const runner = new Runner({ config: { ...setup.config, serviceName: 'bench-memory', maxWorkers: 100 }, contexts: [{ routes: [new Route({ target: slowTarget, entrypoint: setup.entrypoint })] }] });
await runner.start();
await counter.done;
const elapsedMs = performance.now() - started;
clearInterval(sampler);
await runner.stop();
console.log(JSON.stringify({ baselineRss: baseline, peakRss: peak, heapTotalAtPeak: atPeak.heapTotal, heapUsedAtPeak: atPeak.heapUsed, externalAtPeak: atPeak.external, elapsedMs }));
process.exit(0);
