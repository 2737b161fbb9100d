import { ExtensionIsStopped, Route, Runner, RpcTimeout } from '@micro-framework/core';
import amqplib from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AmqpConnection, AmqpRpcClient, AmqpRpcListener, PublishError } from '../src/index.ts';
import { rpcTargetQueueName } from '../src/rpc-names.ts';
import { unique, url } from './helpers.ts';

/** The paths the RPC fast path changed: one timer for all waiting calls, acks sent in windows, coalesced socket writes. */
describe('RPC under many calls in flight', () => {
  it('a call with a short timeout made while calls with longer ones wait still ends at its own deadline, and each call ends once', async () => {
    const service = unique('slow-shop');
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    async function slow(n: number): Promise<number> {
      await released;
      return n;
    }
    const runner = new Runner({ config: { serviceName: service, amqp: { url } }, contexts: [{ routes: [new Route({ target: slow, entrypoint: new AmqpRpcListener({ name: 'slow' }) })] }] });
    await runner.start();
    const client = new AmqpRpcClient({ amqp: { url } });
    try {
      const long = client.call(service, 'slow', [1], { timeoutMs: 20_000 });
      const longer = client.call(service, 'slow', [2], { timeoutMs: 30_000 });
      const began = performance.now();
      await expect(client.call(service, 'slow', [3], { timeoutMs: 300 })).rejects.toBeInstanceOf(RpcTimeout);
      const waited = performance.now() - began;
      expect(waited).toBeGreaterThanOrEqual(290);
      expect(waited).toBeLessThan(3_000);
      // Its late reply is dropped; the others get theirs.
      release();
      await expect(long).resolves.toBe(1);
      await expect(longer).resolves.toBe(2);
      // A waiting call ends when the client closes, not later with RpcTimeout.
      const pending = client.call(service, 'slow', [4], { timeoutMs: 250 }).then(() => undefined, (error: unknown) => error);
      await client.close();
      expect(await pending).toBeInstanceOf(ExtensionIsStopped);
    } finally {
      await client.close();
      await runner.stop();
    }
  });

  it('acks every answered request, also those answered just before the service stops: none is delivered again', async () => {
    const service = unique('busy-shop');
    function double(n: number): number {
      return n * 2;
    }
    const runner = new Runner({ config: { serviceName: service, amqp: { url }, maxWorkers: 50 }, contexts: [{ routes: [new Route({ target: double, entrypoint: new AmqpRpcListener({ name: 'double' }) })] }] });
    await runner.start();
    const client = new AmqpRpcClient({ amqp: { url } });
    const queue = rpcTargetQueueName(service, 'double');
    const connection = await amqplib.connect(url);
    try {
      const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => client.call(service, 'double', [i], { timeoutMs: 20_000 })));
      expect(replies).toEqual(Array.from({ length: 500 }, (_, i) => i * 2));
      await runner.stop();
      // Unacked requests would be back in the queue once the service's channel closed.
      const channel = await connection.createChannel();
      const { messageCount } = await channel.checkQueue(queue);
      expect(messageCount).toBe(0);
      await channel.deleteQueue(queue);
    } finally {
      await client.close();
      await runner.stop();
      await connection.close();
    }
  });

  it('an unroutable mandatory publish among many routed ones fails at once as unroutable, the others are confirmed', async () => {
    const connection = new AmqpConnection({ url });
    await connection.setup();
    const admin = await amqplib.connect(url);
    const queue = unique('routed');
    try {
      const channel = await admin.createChannel();
      await channel.assertQueue(queue, { exclusive: true });
      const body = new TextEncoder().encode('{}');
      const routed = Array.from({ length: 200 }, () => connection.publish('', queue, body, { mandatory: true, persistent: false }));
      const unroutable = connection.publish('', unique('nobody'), body, { mandatory: true, persistent: false }).then(() => undefined, (failure: unknown) => failure);
      await expect(Promise.all(routed)).resolves.toHaveLength(200);
      const error = await unroutable;
      expect(error).toBeInstanceOf(PublishError);
      expect((error as PublishError).reason).toBe('unroutable');
      expect((await channel.checkQueue(queue)).messageCount).toBe(200);
    } finally {
      await admin.close();
      await connection.stop();
    }
  });
});
