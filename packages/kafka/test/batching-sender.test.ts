import { randomUUID } from 'node:crypto';
import { waitFor } from '@micro-framework/conformance';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchingSender } from '../src/batching-sender.ts';
import { brokersFromEnv, createTopicsAndWait } from '../src/index.ts';

// Against the local Kafka broker (tools/kafka/kafka.mjs).
const kafka = new Kafka({ brokers: brokersFromEnv(), logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
let produceRequests = 0;
producer.on(producer.events.REQUEST, (event) => {
  if (event.payload.apiName === 'Produce') produceRequests += 1;
});

beforeAll(async () => {
  await Promise.all([admin.connect(), producer.connect()]);
});
afterAll(async () => {
  await Promise.all([admin.disconnect(), producer.disconnect()]);
});

describe('BatchingSender', () => {
  it('sends concurrent records to several topics in a few produce requests, every record delivered once', async () => {
    const topics = [`batching-${randomUUID()}`, `batching-${randomUUID()}`];
    await createTopicsAndWait(admin, topics.map((topic) => ({ topic })));
    const sender = new BatchingSender(producer);
    produceRequests = 0;
    await Promise.all(Array.from({ length: 100 }, (_, i) => sender.send(topics[i % 2]!, { value: String(i) })));
    expect(produceRequests).toBeLessThanOrEqual(3);

    const received: string[] = [];
    const consumer = kafka.consumer({ groupId: `batching-${randomUUID()}`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void received.push(String(message.value)) });
    await waitFor(() => received.length >= 100, '100 records consumed');
    await consumer.disconnect();
    expect(received.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await admin.deleteTopics({ topics });
  });

  it('rejects every record of a request that failed, and goes on with the next ones', async () => {
    const topic = `batching-${randomUUID()}`;
    await createTopicsAndWait(admin, [{ topic }]);
    const unconnected = kafka.producer({ allowAutoTopicCreation: false });
    const sender = new BatchingSender(unconnected);
    const first = [sender.send(topic, { value: 'a' }), sender.send(topic, { value: 'b' })];
    for (const send of first) await expect(send).rejects.toThrow(/disconnected/);
    await unconnected.connect();
    await expect(sender.send(topic, { value: 'c' })).resolves.toBeUndefined();
    await unconnected.disconnect();
    await admin.deleteTopics({ topics: [topic] });
  });
});
