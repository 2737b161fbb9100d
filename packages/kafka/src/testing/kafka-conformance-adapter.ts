import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TcpProxy, spawnConsumerScript } from '@micro-framework/conformance';
import { fullCapabilities, type ConformanceAdapter, type ConsumerProcess, type DeadLetterRecord, type ListenerSpec } from '@micro-framework/core/testing';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { createTopicsAndWait } from '../topic-creation.ts';
import { KafkaBackoff } from '../kafka-backoff.ts';
import { headersFromKafka } from '../kafka-headers.ts';
import { brokersFromEnv } from '../kafka-options.ts';
import { KafkaRpcClient, KafkaRpcListener } from '../kafka-rpc.ts';
import { TopicListener } from '../topic-listener.ts';
import { conformancePartitions, conformanceSessionTimeoutMs, conformanceTopic } from './conformance-names.ts';

const run = promisify(execFile);

/**
 * The Kafka conformance factory, for the broker started by the repository's tools/kafka/kafka.mjs.
 * Services bootstrap through a TcpProxy on the broker's PROXIED listener, which is advertised at the
 * proxy's port, so every connection of theirs crosses the proxy and the network can be cut.
 */
export async function kafkaConformanceAdapter(options: { kafkaTool?: string } = {}): Promise<ConformanceAdapter> {
  const brokers = brokersFromEnv();
  const [host, portText] = brokers[0]!.split(':');
  const port = Number(portText ?? 9092);
  const proxy = new TcpProxy({ host: host!, port: port + 2 });
  await proxy.start(port + 3);
  const serviceBrokers = [`127.0.0.1:${port + 3}`];
  const tool = options.kafkaTool ?? fileURLToPath(new URL('../../../../tools/kafka/kafka.mjs', import.meta.url));

  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, clientId: 'conformance-outside' });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  const deadLetters = new Map<string, { records: DeadLetterRecord[]; consumer: Promise<Consumer> }>();
  const clients: KafkaRpcClient[] = [];
  const listeners = new Map<string, TopicListener>();
  const ensureTopic = async (topic: string): Promise<void> => {
    await createTopicsAndWait(admin, [{ topic, numPartitions: conformancePartitions }]);
  };

  return {
    name: 'kafka',
    capabilities: fullCapabilities,
    reasons: {},
    config: { kafka: { brokers: serviceBrokers, logLevel: process.env['MF_KAFKA_LOG'] === 'warn' ? logLevel.WARN : logLevel.NOTHING } },
    createListener(spec: ListenerSpec) {
      const listener = new TopicListener({
        topic: conformanceTopic(spec.channel),
        payloadFilter: spec.payloadFilter,
        format: spec.format,
        partitions: conformancePartitions,
        sessionTimeoutMs: conformanceSessionTimeoutMs,
      });
      listeners.set(`${spec.channel}\u0000${spec.serviceName}`, listener);
      return listener;
    },
    async publish(channel, message) {
      const topic = conformanceTopic(channel);
      await ensureTopic(topic);
      await producer.send({ topic, acks: -1, messages: [{ key: message.key, value: Buffer.from(message.body), headers: message.headers }] });
    },
    createDelayedBackoff: (backoffOptions) => new KafkaBackoff(backoffOptions),
    async readDeadLetters(spec) {
      const listener = listeners.get(`${spec.channel}\u0000${spec.serviceName}`);
      if (!listener) return [];
      const topic = listener.deadLetterTopic;
      let reader = deadLetters.get(topic);
      if (!reader) {
        const records: DeadLetterRecord[] = [];
        const consumerReady = (async () => {
          await ensureTopic(topic);
          const consumer = kafka.consumer({ groupId: `conformance-dlt-${randomUUID()}`, maxWaitTimeInMs: 100 });
          await consumer.connect();
          await consumer.subscribe({ topics: [topic], fromBeginning: true });
          await consumer.run({
            eachMessage: async ({ message }) => {
              records.push({ body: new Uint8Array(message.value ?? Buffer.alloc(0)), headers: headersFromKafka(message.headers) });
            },
          });
          return consumer;
        })();
        reader = { records, consumer: consumerReady };
        deadLetters.set(topic, reader);
      }
      await reader.consumer;
      return [...reader.records];
    },
    createRpcListener: (rpcOptions) => new KafkaRpcListener(rpcOptions),
    async createRpcClient() {
      const client = new KafkaRpcClient({ kafka: { brokers: serviceBrokers, logLevel: logLevel.NOTHING } });
      clients.push(client);
      return client;
    },
    async restartBroker() {
      await run(process.execPath, [tool, 'restart'], { timeout: 180_000 });
    },
    cutNetwork: (ms) => proxy.cutFor(ms),
    async spawnConsumerProcess(spec): Promise<ConsumerProcess> {
      const here = fileURLToPath(import.meta.url);
      const script = fileURLToPath(new URL(`./consumer-process${extname(here)}`, import.meta.url));
      return spawnConsumerScript(script, { ...spec, brokers: serviceBrokers });
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      for (const reader of deadLetters.values()) await (await reader.consumer.catch(() => undefined))?.disconnect().catch(() => undefined);
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
      await proxy.close();
    },
  };
}
