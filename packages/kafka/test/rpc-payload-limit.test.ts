import { randomUUID } from 'node:crypto';
import { PayloadTooLarge, Route, Runner } from '@micro-framework/core';
import { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaRpcClient, KafkaRpcListener, brokersFromEnv, rpcRequestTopic } from '../src/index.ts';

// Issue #15: the RPC client refuses a request over maxPayloadBytes before producing it. Against the
// shared local broker (KAFKA_BROKERS), which nothing here restarts.
const kafka = { brokers: brokersFromEnv(), logLevel: 0 };
const service = `limited-${randomUUID().slice(0, 8)}`;
const seen: number[] = [];
function measure(text: string): number {
  seen.push(text.length);
  return text.length;
}
const runner = new Runner({ config: { serviceName: service, kafka }, contexts: [{ routes: [new Route({ target: measure, entrypoint: new KafkaRpcListener() })] }] });

beforeAll(async () => {
  await runner.start();
});
afterAll(async () => {
  await runner.stop({ timeoutMs: 5_000 });
});

/** How many records the service's request topic holds: every request ever produced to it. */
async function requestsProduced(): Promise<number> {
  const admin = new Kafka(kafka).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(rpcRequestTopic(service));
    return offsets.reduce((sum, { high, low }) => sum + Number(BigInt(high) - BigInt(low)), 0);
  } finally {
    await admin.disconnect();
  }
}

describe('a Kafka RPC client with maxPayloadBytes', () => {
  it('refuses a larger request with PayloadTooLarge and produces nothing; the call option overrides the client limit', async () => {
    const client = new KafkaRpcClient({ kafka, maxPayloadBytes: 1_000 });
    try {
      const refused = await client.call(service, 'measure', ['x'.repeat(2_000)], { timeoutMs: 30_000 }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(PayloadTooLarge);
      expect((refused as PayloadTooLarge).maxPayloadBytes).toBe(1_000);
      expect((refused as PayloadTooLarge).sizeBytes).toBeGreaterThan(2_000);
      expect(await client.call(service, 'measure', ['x'.repeat(500)], { timeoutMs: 30_000 })).toBe(500);
      expect(await client.call(service, 'measure', ['x'.repeat(3_000)], { timeoutMs: 10_000, maxPayloadBytes: 10_000 })).toBe(3_000);
      await expect(client.call(service, 'measure', ['x'.repeat(50)], { timeoutMs: 10_000, maxPayloadBytes: 20 })).rejects.toBeInstanceOf(PayloadTooLarge);
      expect(await client.call(service, 'measure', ['end'], { timeoutMs: 10_000 })).toBe(3);
      // The refused requests never reached the broker, let alone the service.
      expect(seen).toEqual([500, 3_000, 3]);
      expect(await requestsProduced()).toBe(3);
    } finally {
      await client.close();
    }
  });
});
