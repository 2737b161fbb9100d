/**
 * Child process of the memory measure: drains `count` messages already waiting on `channel` with a
 * slow target (1 ms) and maxWorkers 100, sampling its own RSS; prints one JSON line with the peak.
 * Usage: node --conditions=@micro-framework/source memory-probe.ts <amqp|nats|kafka> <channel> <count>
 */
import { Route, Runner, type Config, type Entrypoint } from '@micro-framework/core';
import { AmqpQueueListener } from '@micro-framework/amqp';
import { TopicListener } from '@micro-framework/kafka';
import { JetStreamListener } from '@micro-framework/nats';
import { logLevel } from 'kafkajs';
import { Counter } from './counter.ts';
import { kafkaBrokers, kafkaPartitions } from './endpoints.ts';

const [broker = '', channel = '', countText = '0'] = process.argv.slice(2);
const count = Number(countText);
const setups: Record<string, () => { entrypoint: Entrypoint; config: Partial<Config> }> = {
  amqp: () => ({ entrypoint: new AmqpQueueListener({ queueName: channel, queueArguments: { 'x-expires': 600_000 } }), config: {} }),
  nats: () => ({ entrypoint: new JetStreamListener({ stream: channel, subjects: [channel] }), config: {} }),
  kafka: () => ({ entrypoint: new TopicListener({ topic: channel, partitions: kafkaPartitions }), config: { kafka: { brokers: kafkaBrokers, logLevel: logLevel.NOTHING } } }),
};
const setup = setups[broker]?.();
if (!setup) throw new Error(`unknown broker ${broker}`);

const counter = new Counter(count);
async function slowTarget(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1));
  counter.hit();
}
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
const started = performance.now();
const runner = new Runner({ config: { ...setup.config, serviceName: 'bench-memory', maxWorkers: 100 }, contexts: [{ routes: [new Route({ target: slowTarget, entrypoint: setup.entrypoint })] }] });
await runner.start();
await counter.done;
const elapsedMs = performance.now() - started;
clearInterval(sampler);
await runner.stop();
console.log(JSON.stringify({ baselineRss: baseline, peakRss: peak, elapsedMs }));
process.exit(0);
