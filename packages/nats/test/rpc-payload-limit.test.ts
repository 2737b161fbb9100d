import { randomUUID } from 'node:crypto';
import { PayloadTooLarge, Route, Runner } from '@micro-framework/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsRpcClient, NatsRpcListener } from '../src/index.ts';

// Issue #15: the RPC client refuses a request over maxPayloadBytes before sending it. Against the
// machine's nats-server (NATS_URL), which nothing here restarts.
const servers = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const service = `limited-${randomUUID().slice(0, 8)}`;
const seen: number[] = [];
function measure(text: string): number {
  seen.push(text.length);
  return text.length;
}
const runner = new Runner({ config: { serviceName: service, nats: { servers } }, contexts: [{ routes: [new Route({ target: measure, entrypoint: new NatsRpcListener() })] }] });

beforeAll(async () => {
  await runner.start();
});
afterAll(async () => {
  await runner.stop({ timeoutMs: 5_000 });
});

describe('an RPC client with maxPayloadBytes', () => {
  it('refuses a larger request with PayloadTooLarge and sends nothing; the call option overrides the client limit', async () => {
    const client = new NatsRpcClient({ nats: { servers }, maxPayloadBytes: 1_000 });
    try {
      const refused = await client.call(service, 'measure', ['x'.repeat(2_000)], { timeoutMs: 5_000 }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(PayloadTooLarge);
      expect((refused as PayloadTooLarge).maxPayloadBytes).toBe(1_000);
      expect((refused as PayloadTooLarge).sizeBytes).toBeGreaterThan(2_000);
      expect(await client.call(service, 'measure', ['x'.repeat(500)], { timeoutMs: 5_000 })).toBe(500);
      expect(await client.call(service, 'measure', ['x'.repeat(3_000)], { timeoutMs: 5_000, maxPayloadBytes: 10_000 })).toBe(3_000);
      await expect(client.call(service, 'measure', ['x'.repeat(50)], { timeoutMs: 5_000, maxPayloadBytes: 20 })).rejects.toBeInstanceOf(PayloadTooLarge);
      // A call after the refusals reaches the service: the refused ones were never sent.
      expect(await client.call(service, 'measure', ['end'], { timeoutMs: 5_000 })).toBe(3);
      expect(seen).toEqual([500, 3_000, 3]);
    } finally {
      await client.close();
    }
  });
});
