import { Route, RemoteError, Backoff, inject, MetaDependency, rpcRequestHeaders } from '@micro-framework/core';
import { waitFor } from '@micro-framework/conformance';
import type { ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AmqpBackoff, AmqpPublisher, AmqpRpcClient, AmqpEventListener, AmqpRpcListener } from '../src/index.ts';
import { listQueues, rabbit, unique, url } from './helpers.ts';

// Wire-format and topology tests against the real RabbitMQ: what a Python micro_framework or Nameko
// service sends and expects, byte for byte.
const { channel, serve } = rabbit();

/** A temporary queue receiving what is published to exchange/key. */
async function tap(exchange: string, key: string, type = 'topic'): Promise<ConsumeMessage[]> {
  await channel().assertExchange(exchange, type, { durable: true });
  const { queue } = await channel().assertQueue('', { exclusive: true, autoDelete: true });
  await channel().bindQueue(queue, exchange, key);
  const received: ConsumeMessage[] = [];
  await channel().consume(queue, (message) => message && received.push(message), { noAck: true });
  return received;
}

describe('events on the wire', () => {
  it('dispatches a persistent JSON body to <source>.events with the event name as routing key', async () => {
    const source = unique('shop');
    const received = await tap(`${source}.events`, 'order_placed');
    const dispatcher = new AmqpPublisher({ sourceService: source, amqp: { url } });
    await dispatcher.publish('order_placed', { id: 1, total: 9.5, note: 'é' }, { headers: { trace: 't-1' } });
    await dispatcher.close();
    await waitFor(() => received.length === 1, 'the event');
    const [message] = received;
    expect(message!.content.toString('utf8')).toBe('{"id":1,"total":9.5,"note":"é"}');
    expect(message!.properties.contentType).toBe('application/json');
    expect(message!.properties.deliveryMode).toBe(2);
    expect(message!.properties.headers).toEqual({ trace: 't-1' });
    expect(message!.fields.routingKey).toBe('order_placed');
  });

  it('consumes an event a Python service published, with typed headers as strings', async () => {
    const source = unique('pyshop');
    const seen: Array<{ payload: unknown; headers: unknown }> = [];
    const handleOrder = inject({ meta: new MetaDependency() }, function handleOrder({ meta }, payload: unknown) {
      seen.push({ payload, headers: meta.headers });
    });
    await serve(unique('billing'), [new Route({ target: handleOrder, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'order_placed' }) })]);
    channel().publish(`${source}.events`, 'order_placed', Buffer.from('{"id": 7, "items": ["a"]}'), {
      contentType: 'application/json', deliveryMode: 2, headers: { 'nameko.call_id_stack': ['svc.x.1'], attempt: 2 },
    });
    await waitFor(() => seen.length === 1, 'the event');
    expect(seen[0]).toEqual({ payload: { id: 7, items: ['a'] }, headers: { 'nameko.call_id_stack': '["svc.x.1"]', attempt: '2' } });
  });

  it('declares the queue, dead-letter queue, exchange and delay tiers with their arguments', async () => {
    const source = unique('topo');
    const service = unique('svc');
    let calls = 0;
    function handleOrder(): void {
      calls += 1;
      if (calls === 1) throw new Error('retry me');
    }
    await serve(service, [new Route({ target: handleOrder, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'created' }), backoff: new AmqpBackoff({ maxRetries: 1, interval: 200 }) })]);
    channel().publish(`${source}.events`, 'created', Buffer.from('{}'));
    await waitFor(() => calls === 2, 'the retry');
    const queue = `${source}.created__${service}.handleOrder`;
    const queues = new Map(listQueues().map((q) => [q.name, q]));
    expect(queues.get(queue)).toMatchObject({ durable: true });
    expect(queues.get(`${queue}.dlq`)).toMatchObject({ durable: true });
    expect(queues.get(`${queue}.retry.200ms`)).toMatchObject({
      durable: true,
      arguments: { 'x-message-ttl': 200, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue, 'x-expires': 200 + 86_400_000 },
    });
    await expect(channel().checkExchange(`${source}.events`)).resolves.toBeDefined();
  });
});

describe('RPC on the wire', () => {
  it('answers a micro_framework request on ufw-rpc with the reply body and correlation id', async () => {
    const service = unique('calc');
    function add(a: number, b: number): number {
      return a + b;
    }
    await serve(service, [new Route({ target: add, entrypoint: new AmqpRpcListener() })]);
    const replyQueue = unique('py-reply');
    const received = await tap('ufw-rpc', replyQueue);
    channel().publish('ufw-rpc', `${service}.add`, Buffer.from(JSON.stringify({ command: 'add', command_args: [2], command_kwargs: {} })), {
      replyTo: replyQueue, correlationId: 'corr-1', contentType: 'application/json',
    });
    channel().publish('ufw-rpc', `${service}.add`, Buffer.from(JSON.stringify({ command: 'add', command_args: [2, 3], command_kwargs: {} })), {
      replyTo: replyQueue, correlationId: 'corr-2', contentType: 'application/json',
    });
    await waitFor(() => received.length === 2, 'two replies');
    const byId = new Map(received.map((m) => [m.properties.correlationId, m]));
    // micro_framework's reply is a JSON string holding the JSON reply: its Python client parses it twice.
    const reply = (id: string): unknown => JSON.parse(JSON.parse(byId.get(id)!.content.toString()) as string);
    expect(reply('corr-2')).toEqual({ data: 5, exception: null });
    expect(byId.get('corr-2')!.properties.contentType).toBe('application/json');
    expect(reply('corr-1')).toEqual({ data: null, exception: null });
  });

  it('answers a request of this package (it carries x-rpc-deadline) with the reply encoded once, for clients of earlier versions', async () => {
    const service = unique('calc');
    function add(a: number, b: number): number {
      return a + b;
    }
    await serve(service, [new Route({ target: add, entrypoint: new AmqpRpcListener() })]);
    const replyQueue = unique('ts-reply');
    const received = await tap('ufw-rpc', replyQueue);
    channel().publish('ufw-rpc', `${service}.add`, Buffer.from(JSON.stringify({ command: 'add', command_args: [2, 3], command_kwargs: {} })), {
      replyTo: replyQueue, correlationId: 'c', headers: rpcRequestHeaders(10_000),
    });
    await waitFor(() => received.length === 1, 'the reply');
    expect(JSON.parse(received[0]!.content.toString())).toEqual({ data: 5, exception: null });
  });

  it('replies a remote error with exception, message, args, kwargs and module', async () => {
    const service = unique('stock');
    function reserve(): never {
      throw Object.assign(new Error('no stock'), { name: 'OutOfStock', data: { sku: 'A' } });
    }
    await serve(service, [new Route({ target: reserve, entrypoint: new AmqpRpcListener(), backoff: new Backoff({ maxRetries: 0 }) })]);
    const replyQueue = unique('py-reply');
    const received = await tap('ufw-rpc', replyQueue);
    channel().publish('ufw-rpc', `${service}.reserve`, Buffer.from('{"command": "reserve", "command_args": [], "command_kwargs": {}}'), {
      replyTo: replyQueue, correlationId: 'c',
    });
    await waitFor(() => received.length === 1, 'the reply');
    expect(JSON.parse(JSON.parse(received[0]!.content.toString()) as string)).toEqual({
      data: null,
      exception: { exception: 'OutOfStock', message: 'no stock', args: ['no stock'], kwargs: {}, module: null, data: { sku: 'A' } },
    });
  });

  it('lists the targets of a service of an earlier version, bound only to <service>.__list_targets__', async () => {
    const service = unique('oldsvc');
    const queue = unique('old-introspection');
    await channel().assertExchange('ufw-rpc', 'topic', { durable: true });
    await channel().assertQueue(queue, { exclusive: true });
    await channel().bindQueue(queue, 'ufw-rpc', `${service}.__list_targets__`);
    await channel().consume(queue, (message) => {
      if (!message) return;
      const reply = { data: [{ name: 'add', description: null, arity: 2 }], exception: null };
      channel().publish('ufw-rpc', String(message.properties.replyTo), Buffer.from(JSON.stringify(reply)), { correlationId: message.properties.correlationId });
    }, { noAck: true });
    const client = new AmqpRpcClient({ amqp: { url } });
    try {
      expect((await client.listTargets(service, { timeoutMs: 5_000 })).map((target) => target.name)).toEqual(['add']);
    } finally {
      await client.close();
    }
  });

  it('calls a Python-style RPC server and maps its exception to RemoteError', async () => {
    const service = unique('pysvc');
    const queue = `rpc-${service}-divide`;
    await channel().assertExchange('ufw-rpc', 'topic', { durable: true });
    await channel().assertQueue(queue, { exclusive: true });
    await channel().bindQueue(queue, 'ufw-rpc', `${service}.divide`);
    const requests: unknown[] = [];
    await channel().consume(queue, (message) => {
      if (!message) return;
      const request = JSON.parse(message.content.toString()) as { command_args: number[] };
      requests.push(request);
      const [a, b] = request.command_args;
      const reply = b === 0
        ? { data: null, exception: { exception: 'ZeroDivisionError', message: 'division by zero', args: ['division by zero'], kwargs: {}, module: 'builtins' } }
        : { data: a! / b!, exception: null };
      // Encoded once here (older services of this package did so); micro_framework encodes twice (python-interop.test.ts).
      channel().publish('ufw-rpc', String(message.properties.replyTo), Buffer.from(JSON.stringify(reply)), { correlationId: message.properties.correlationId });
    }, { noAck: true });
    const client = new AmqpRpcClient({ amqp: { url } });
    try {
      expect(await client.call(service, 'divide', [6, 3], { timeoutMs: 5_000 })).toBe(2);
      const error = await client.call(service, 'divide', [1, 0], { timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RemoteError);
      expect(error).toMatchObject({ remoteName: 'ZeroDivisionError', remoteMessage: 'division by zero' });
      expect(requests[0]).toEqual({ command: 'divide', command_args: [6, 3], command_kwargs: {} });
    } finally {
      await client.close();
    }
  });
});
