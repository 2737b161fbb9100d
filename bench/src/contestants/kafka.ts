import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KafkaBackoff, KafkaRpcClient, KafkaRpcListener, TopicListener, createTopicsAndWait } from '@micro-framework/kafka';
import { Kafka, logLevel } from 'kafkajs';
import type { BrokerBench, DrainContestant, FailureContestant, RpcContestant, SustainedPublisher } from '../case.ts';
import { Counter } from '../counter.ts';
import { routeDrain, routeFailure, routeRpc } from '../route-contestants.ts';
import { kafkaBrokers as brokers, benchMessage, kafkaPartitions as partitions, messageData } from '../endpoints.ts';
import { retryIntervalMs } from '../failure-cost.ts';
import { pendingSet } from '../pending.ts';

const body = Buffer.from(benchMessage);

/** The Kafka version tools/kafka runs, from its pom.xml (the broker API does not report it). */
function kafkaVersion(): string {
  const pom = readFileSync(new URL('../../../tools/kafka/pom.xml', import.meta.url), 'utf8');
  return /<artifactId>kafka_2\.13<\/artifactId>\s*<version>([^<]+)<\/version>/.exec(pom)?.[1] ?? 'unknown';
}

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

  const ours = routeDrain({
    name: '@micro-framework/kafka',
    settings: `TopicListener, maxWorkers ${inFlight}, keyed concurrency, contiguous commits`,
    maxWorkers: inFlight,
    config: { kafka: { brokers, logLevel: logLevel.NOTHING } },
    entrypoint: () => new TopicListener({ topic, partitions }),
  });

  const rawFailure: FailureContestant = {
    name: 'kafkajs (raw)',
    settings: `eachBatch, ${partitions} partitions consumed concurrently, commit per batch; a failed record is produced again to the same topic (acks all, awaited before its offset is resolved), redelivered without delay: Kafka has no delayed delivery`,
    async start(channel, ledger) {
      const consumer = kafka.consumer({ groupId: `raw-${randomUUID()}`, maxWaitTimeInMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topics: [channel], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: partitions,
        eachBatch: async ({ batch, resolveOffset }) => {
          for (const message of batch.messages) {
            try {
              ledger.attempt(messageData(message.value).id);
            } catch {
              await producer.send({ topic: batch.topic, acks: -1, messages: [{ key: message.key, value: message.value, headers: { 'x-retried': '1' } }] });
            }
            resolveOffset(message.offset);
          }
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(batch.lastOffset()) + 1n) }]);
        },
      });
      return { stop: () => consumer.disconnect() };
    },
  };

  const oursFailure = routeFailure({
    name: '@micro-framework/kafka',
    settings: `TopicListener, maxWorkers ${inFlight}, KafkaBackoff maxRetries 1, interval ${retryIntervalMs} ms (the record goes to the group's retry topic, held there until due; the offset is committed once the broker acknowledged it)`,
    maxWorkers: inFlight,
    config: { kafka: { brokers, logLevel: logLevel.NOTHING } },
    entrypoint: (channel) => new TopicListener({ topic: channel, partitions }),
    backoff: () => new KafkaBackoff({ maxRetries: 1, interval: retryIntervalMs }),
  });

  const sustainedPublisher = async (): Promise<SustainedPublisher> => {
    const target = topic;
    const sender = kafka.producer();
    await sender.connect();
    const pending = pendingSet();
    let sent = 0;
    return {
      settings: 'a producer of its own (acks all), one send per schedule tick with the messages due, sends not awaited one by one',
      publish(bodies) {
        const messages = bodies.map((value) => ({ key: `k${sent++ % 64}`, value }));
        pending.add(sender.send({ topic: target, acks: -1, messages }));
      },
      async settle() {
        try {
          await pending.settle();
        } finally {
          await sender.disconnect();
        }
      },
    };
  };

  const oursRpc = (): RpcContestant =>
    routeRpc({
      name: '@micro-framework/kafka',
      settings: 'request topic per service, reply topic per client, acks all',
      config: { kafka: { brokers, logLevel: logLevel.NOTHING } },
      listener: () => new KafkaRpcListener(),
      client: async () => new KafkaRpcClient({ kafka: { brokers, logLevel: logLevel.NOTHING } }),
    });

  return {
    broker: 'Kafka',
    server: `Apache Kafka ${kafkaVersion()} (KRaft, one node, started by tools/kafka)`,
    async prepare(count, make) {
      topic = `bench-${randomUUID()}`;
      topics.push(topic);
      await createTopicsAndWait(admin, [{ topic, numPartitions: partitions }]);
      for (let sent = 0; sent < count; sent += 1_000) {
        const size = Math.min(1_000, count - sent);
        const messages = Array.from({ length: size }, (_, i) => ({ key: `k${(sent + i) % 64}`, value: make ? make(sent + i) : body }));
        // A topic created a moment ago may not be served yet by a broker that just started: retry briefly.
        for (let attempt = 1; ; attempt += 1) {
          try {
            await producer.send({ topic, acks: -1, messages });
            break;
          } catch (error) {
            if (attempt >= 10) throw error;
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
      }
    },
    probe: 'kafka',
    channel: () => topic,
    drains: [raw, ours],
    rpc: [oursRpc()],
    failureCost: [rawFailure, oursFailure],
    sustainedPublisher,
    async close() {
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
    },
  };
}
