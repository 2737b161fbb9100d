import { randomUUID } from 'node:crypto';
import { Route, Runner, encodeRpcRequest, rpcRequestHeaders } from '@micro-framework/core';
import amqplib from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AmqpRpcClient, AmqpRpcListener } from '../src/index.ts';
import { rpcDirectReplyHeader, rpcExchange, rpcRoutingKey, rpcTargetQueueName } from '../src/rpc-names.ts';
import { unique, url } from './helpers.ts';

function double(n: number): number {
  return n * 2;
}

async function doubling(service: string): Promise<Runner> {
  const runner = new Runner({ config: { serviceName: service, amqp: { url } }, contexts: [{ routes: [new Route({ target: double, entrypoint: new AmqpRpcListener({ name: 'double' }) })] }] });
  await runner.start();
  return runner;
}

/** Polls `queue` until a message is there or the deadline passes. */
async function firstMessage(channel: amqplib.Channel, queue: string, deadlineMs = 10_000): Promise<amqplib.GetMessage | false> {
  const until = performance.now() + deadlineMs;
  for (;;) {
    const message = await channel.get(queue, { noAck: true });
    if (message || performance.now() > until) return message;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A caller of this package asks for its reply straight into its reply queue (the default exchange,
 * one routing step less for RabbitMQ); callers that do not ask (micro_framework's and Nameko's Python
 * clients) get theirs through `ufw-rpc` as before.
 */
describe('RPC replies to callers of this package', () => {
  it('reach the reply queue by its name: the call is answered with the queue unbound from ufw-rpc', async () => {
    const service = unique('direct-shop');
    const runner = await doubling(service);
    const client = new AmqpRpcClient({ amqp: { url } });
    try {
      await expect(client.call(service, 'double', [1], { timeoutMs: 10_000 })).resolves.toBe(2);
      // The reply queue is exclusive: only the client's own connection may unbind it.
      await (await client.connection.publisher()).unbindQueue(client.replyQueue, rpcExchange, client.replyQueue);
      await expect(client.call(service, 'double', [21], { timeoutMs: 5_000 })).resolves.toBe(42);
    } finally {
      await client.close();
      await runner.stop();
    }
  });

  // Any queue, and Nameko's reply queues (`rpc.reply-<service>-<uuid>`, bound to nameko-rpc): same prefix, not ours.
  it.each([
    ['any queue', () => unique('orders-queue')],
    ['a Nameko reply queue', () => `rpc.reply-orders-${randomUUID()}`],
  ])('go through ufw-rpc when reply_to is not a reply queue of this package (%s), even if the request asks for a direct reply', async (_kind, name) => {
    const service = unique('guarded-shop');
    const runner = await doubling(service);
    const connection = await amqplib.connect(url);
    const victim = name();
    const tap = unique('reply-tap');
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue(victim, { exclusive: true });
      await channel.assertQueue(tap, { exclusive: true });
      await channel.bindQueue(tap, rpcExchange, victim);
      channel.publish(rpcExchange, rpcRoutingKey(service, 'double'), Buffer.from(encodeRpcRequest('double', [5])), {
        replyTo: victim,
        correlationId: 'c-1',
        headers: { ...rpcRequestHeaders(10_000), [rpcDirectReplyHeader]: '1' },
      });
      const reply = await firstMessage(channel, tap);
      expect(reply && JSON.parse(reply.content.toString())).toMatchObject({ data: 10, exception: null });
      expect(reply && reply.properties.correlationId).toBe('c-1');
      expect((await channel.checkQueue(victim)).messageCount).toBe(0);
    } finally {
      await runner.stop();
      const cleanup = await connection.createChannel();
      await cleanup.deleteQueue(rpcTargetQueueName(service, 'double')).catch(() => undefined);
      await connection.close().catch(() => undefined);
    }
  });

  it('go through ufw-rpc to a caller that does not ask for a direct reply, whose reply queue is bound under another name (Nameko-style)', async () => {
    const service = unique('topic-shop');
    const runner = await doubling(service);
    const connection = await amqplib.connect(url);
    const replyQueue = unique('rpc.reply-nameko-style');
    const routingKey = unique('reply-key');
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue(replyQueue, { exclusive: true });
      await channel.bindQueue(replyQueue, rpcExchange, routingKey);
      channel.publish(rpcExchange, rpcRoutingKey(service, 'double'), Buffer.from(encodeRpcRequest('double', [7])), {
        replyTo: routingKey,
        correlationId: 'c-2',
        headers: rpcRequestHeaders(10_000),
      });
      const reply = await firstMessage(channel, replyQueue);
      expect(reply && JSON.parse(reply.content.toString())).toMatchObject({ data: 14, exception: null });
      expect(reply && reply.properties.correlationId).toBe('c-2');
    } finally {
      await runner.stop();
      const cleanup = await connection.createChannel();
      await cleanup.deleteQueue(rpcTargetQueueName(service, 'double')).catch(() => undefined);
      await connection.close().catch(() => undefined);
    }
  });
});
