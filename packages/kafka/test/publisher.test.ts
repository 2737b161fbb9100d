import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaPublisher, brokersFromEnv, createTopicsAndWait } from '../src/index.ts';
import { proxiedKafka } from './proxied-kafka.ts';
import type { TcpProxy } from '@micro-framework/conformance';

let proxy: TcpProxy;
let brokers: string[];

beforeAll(async () => {
  ({ proxy, brokers } = await proxiedKafka());
});

afterAll(async () => {
  await proxy.close();
});

describe('KafkaPublisher', () => {
  it('publishes once the broker is reachable again when its first publish found it away (the failed connect is not kept)', async () => {
    const topic = `publisher-${randomUUID().slice(0, 8)}`;
    const admin = new Kafka({ brokers: brokersFromEnv(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await createTopicsAndWait(admin, [{ topic, numPartitions: 1 }]);
    await admin.disconnect();
    const publisher = new KafkaPublisher({ kafka: { brokers, logLevel: logLevel.NOTHING, retry: { retries: 1, initialRetryTime: 50 }, connectionTimeout: 500 } });
    proxy.cut();
    await expect(publisher.publish(topic, { n: 1 })).rejects.toThrow();
    proxy.restore();
    await expect(publisher.publish(topic, { n: 2 })).resolves.toHaveLength(1);
    await publisher.close();
  });
});
