import { PayloadTooLarge, Route } from '@micro-framework/core';
import { afterAll, describe, expect, it } from 'vitest';
import { AmqpRpcClient, AmqpRpcListener } from '../src/index.ts';
import { services, unique, url } from './helpers.ts';

// The RPC client refuses a request larger than its limit before sending it: the service never sees it.
const started = services();
afterAll(started.stopAll);

describe('AmqpRpcClient maxPayloadBytes', () => {
  it('rejects an oversized request with PayloadTooLarge and sends nothing; a call\'s own limit wins over the client\'s', async () => {
    const seen: number[] = [];
    function measure(text: string): number {
      seen.push(text.length);
      return text.length;
    }
    const service = unique('limited');
    await started.serve(service, [new Route({ target: measure, entrypoint: new AmqpRpcListener() })]);
    const client = new AmqpRpcClient({ amqp: { url }, maxPayloadBytes: 1_000 });
    try {
      const error = await client.call(service, 'measure', ['x'.repeat(2_000)], { timeoutMs: 10_000 }).then(() => undefined, (failure: unknown) => failure);
      expect(error).toBeInstanceOf(PayloadTooLarge);
      expect((error as PayloadTooLarge).maxPayloadBytes).toBe(1_000);
      // Calls are answered in order on one queue: had the large one been sent, it would show here first.
      expect(await client.call(service, 'measure', ['x'.repeat(10)], { timeoutMs: 10_000 })).toBe(10);
      expect(await client.call(service, 'measure', ['x'.repeat(2_000)], { timeoutMs: 10_000, maxPayloadBytes: 10_000 })).toBe(2_000);
      await expect(client.call(service, 'measure', ['x'.repeat(500)], { timeoutMs: 10_000, maxPayloadBytes: 100 })).rejects.toBeInstanceOf(PayloadTooLarge);
      expect(await client.call(service, 'measure', ['x'.repeat(20)], { timeoutMs: 10_000 })).toBe(20);
      expect(seen).toEqual([10, 2_000, 20]);
    } finally {
      await client.close();
    }
  });
});
