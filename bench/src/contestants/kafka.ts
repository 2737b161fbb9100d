import { randomUUID } from 'node:crypto';
import { Route, Runner } from '@micro-framework/core';
import { KafkaRpcClient, KafkaRpcListener, TopicListener } from '@micro-framework/kafka';
import { Kafka, logLevel } from 'kafkajs';
import type { BrokerBench, DrainContestant, RpcContestant } from '../case.ts';
import { Counter } from '../counter.ts';

const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
const body = Buffer.from(JSON.stringify({ id: 1, name: 'bench', amount: 12.5 }));
const partitions = 8;

export async function kafkaBench(inFlight: number): Promise<BrokerBench> {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, clientId: 'bench' });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  let topic = '';
  const topics: string[] = [];

  const raw: DrainContestant = {
    name: 'kafkajs (raw)',
    settings: `eachBatch, resolveOffset per message, commit per batch, ${partitions} partitions consumed concurrently`,
    async drain(count) {
      const started = performance.now();
      const consumer = kafka.consumer({ groupId: `raw-${randomUUID()}`, maxWaitTimeInMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const counter = new Counter(count);
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: partitions,
        eachBatch: async ({ batch, resolveOffset }) => {
          for (const message of batch.messages) {
            resolveOffset(message.offset);
            counter.hit();
          }
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(batch.lastOffset()) + 1n) }]);
        },
      });
      await counter.done;
      const elapsed = performance.now() - started;
      await consumer.disconnect();
      return elapsed;
    },
  };

  const ours: DrainContestant = {
    name: '@micro-framework/kafka',
    settings: `TopicListener, maxWorkers ${inFlight}, keyed concurrency, contiguous commits`,
    async drain(count) {
      const started = performance.now();
      const counter = new Counter(count);
      function benchTarget(): void {
        counter.hit();
      }
      const runner = new Runner({
        config: { serviceName: `bench-${randomUUID().slice(0, 8)}`, maxWorkers: inFlight, kafka: { brokers, logLevel: logLevel.NOTHING } },
        contexts: [{ routes: [new Route({ target: benchTarget, entrypoint: new TopicListener({ topic, partitions }) })] }],
      });
      await runner.start();
      await counter.done;
      const elapsed = performance.now() - started;
      await runner.stop();
      return elapsed;
    },
  };

  const oursRpc = (): RpcContestant => {
    let runner: Runner | undefined;
    let client: KafkaRpcClient | undefined;
    const service = `bench-rpc-${randomUUID().slice(0, 8)}`;
    return {
      name: '@micro-framework/kafka',
      settings: 'request topic per service, reply topic per client, acks all',
      async start() {
        function double(value: number): number {
          return value * 2;
        }
        runner = new Runner({ config: { serviceName: service, maxWorkers: 100, kafka: { brokers, logLevel: logLevel.NOTHING } }, contexts: [{ routes: [new Route({ target: double, entrypoint: new KafkaRpcListener() })] }] });
        await runner.start();
        client = new KafkaRpcClient({ kafka: { brokers, logLevel: logLevel.NOTHING } });
        await client.call(service, 'double', [0], { timeoutMs: 60_000 });
      },
      call(value) {
        return client!.call(service, 'double', [value], { timeoutMs: 30_000 });
      },
      async stop() {
        await client?.close();
        await runner?.stop();
      },
    };
  };

  return {
    broker: 'Kafka',
    async prepare(count) {
      topic = `bench-${randomUUID()}`;
      topics.push(topic);
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
      for (let sent = 0; sent < count; sent += 1_000) {
        const size = Math.min(1_000, count - sent);
        await producer.send({ topic, acks: -1, messages: Array.from({ length: size }, (_, i) => ({ key: `k${(sent + i) % 64}`, value: body })) });
      }
    },
    drains: [raw, ours],
    rpc: [oursRpc()],
    async close() {
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
    },
  };
}
