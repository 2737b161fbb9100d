import { randomUUID } from 'node:crypto';
import { Route, encodeRpcRequest } from '@micro-framework/core';
import { waitFor } from '@micro-framework/conformance';
import type { ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AmqpRpcClient, AmqpRpcListener, rpcBroadcastRoutingKey, rpcExchange } from '../src/index.ts';
import { rabbit, unique, url } from './helpers.ts';

// The introspection queue (`rpc-<service>`, bound with the broadcast keys) answers introspection
// only: a request on it that names an RPC target must never run that target.
const broker = rabbit();

describe('the introspection queue', () => {
  it('runs nothing for a request on a broadcast routing key that names another target; the target runs when called by its own key', async () => {
    let calls = 0;
    function transfer(): string {
      calls += 1;
      return 'moved';
    }
    const service = unique('introspected');
    await broker.serve(service, [new Route({ target: transfer, entrypoint: new AmqpRpcListener() })]);

    const channel = broker.channel();
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, rpcExchange, queue);
    const replies: ConsumeMessage[] = [];
    await channel.consume(queue, (message) => {
      if (message) replies.push(message);
    }, { noAck: true });

    const correlationId = randomUUID();
    channel.publish(rpcExchange, rpcBroadcastRoutingKey(service, '__list_targets__'), Buffer.from(encodeRpcRequest('transfer', [])), {
      replyTo: queue,
      correlationId,
      contentType: 'application/json',
    });
    await waitFor(() => replies.some((reply) => reply.properties.correlationId === correlationId), 'the introspection queue to answer');
    const text = replies.find((reply) => reply.properties.correlationId === correlationId)!.content.toString();
    // Answered as if the target did not exist there: introspection only.
    expect(text).toContain('RPCTargetDoesNotExist');
    expect(calls).toBe(0);

    // The control: the same target called by its own routing key runs.
    const client = new AmqpRpcClient({ amqp: { url } });
    try {
      expect(await client.call(service, 'transfer', [], { timeoutMs: 10_000 })).toBe('moved');
      expect(calls).toBe(1);
    } finally {
      await client.close();
    }
  });
});
