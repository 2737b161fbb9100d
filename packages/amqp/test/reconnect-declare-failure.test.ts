import { Route, Runner } from '@micro-framework/core';
import { TcpProxy, recordingObserver, waitFor, type RecordedEvent } from '@micro-framework/conformance';
import amqplib, { type Channel, type ChannelModel, type Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AmqpConnection, AmqpQueueListener, AmqpRpcClient, AmqpRpcListener, rpcServiceQueueName, rpcTargetQueueName } from '../src/index.ts';
import { rabbit, unique } from './helpers.ts';

// A consumer whose queue cannot be declared or consumed after a reconnection (an operator re-declared
// it with other arguments; an exclusive reply queue still held by the broker's view of the dropped
// connection) must not keep the shared connection from coming back: it is reported and retried on
// its own, while every other route on the connection consumes and publishes go out.
const { channel, serve } = rabbit();

const named = (events: readonly RecordedEvent[], name: RecordedEvent['name']): Array<Record<string, unknown>> =>
  events.filter((recorded) => recorded.name === name).map((recorded) => recorded.event);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Stops the service of `runner`, then deletes the RPC queues its listener declared. */
async function removeRpcService(runner: Runner, service: string, target: string): Promise<void> {
  await runner.stop({ timeoutMs: 2_000 }).catch(() => undefined);
  for (const queue of [rpcTargetQueueName(service, target), rpcServiceQueueName(service)]) await channel().deleteQueue(queue).catch(() => undefined);
}

describe('a consumer that cannot be set up again after a reconnection', () => {
  it('a queue re-declared with other arguments: the connection comes back, the healthy route consumes, the broken one reports its error', async () => {
    const proxy = new TcpProxy({ host: '127.0.0.1', port: 5672 });
    const port = await proxy.start(0);
    const broken = unique('redeclared');
    const healthy = unique('healthy');
    const calls: string[] = [];
    const { observer, events } = recordingObserver();
    const brokenListener = new AmqpQueueListener({ queueName: broken });
    const healthyListener = new AmqpQueueListener({ queueName: healthy });
    const runner = new Runner({
      config: { serviceName: unique('svc'), amqp: { url: `amqp://guest:guest@127.0.0.1:${port}` } },
      contexts: [
        {
          routes: [
            new Route({ target: function one(payload: unknown) { calls.push(`broken ${JSON.stringify(payload)}`); }, entrypoint: brokenListener }),
            new Route({ target: function two(payload: unknown) { calls.push(`healthy ${JSON.stringify(payload)}`); }, entrypoint: healthyListener }),
          ],
        },
      ],
      observers: [observer],
    });
    await runner.start();
    try {
      // An operator re-declares the consumed queue with other arguments: every re-declare gets 406.
      await channel().deleteQueue(broken);
      await channel().assertQueue(broken, { durable: true, arguments: { 'x-max-length': 5 } });
      await waitFor(() => named(events, 'consumerCrashed').length >= 2, 'the restart loop to report the failed re-declare');
      expect(brokenListener.readiness()).toMatch(/PRECONDITION_FAILED/);

      // A network blip: the connection must come back although this queue still cannot be declared.
      await proxy.cutFor(300);
      await waitFor(() => named(events, 'connectionRestored').length === 1, 'connectionRestored', 15_000);
      channel().sendToQueue(healthy, Buffer.from('{"id":2}'), { persistent: true });
      await waitFor(() => calls.includes('healthy {"id":2}'), 'the healthy route to consume after the blip', 10_000);
      expect(healthyListener.readiness()).toBeUndefined();
      expect(brokenListener.readiness()).toMatch(/PRECONDITION_FAILED/);
      const crashes = named(events, 'consumerCrashed').length;
      await waitFor(() => named(events, 'consumerCrashed').length > crashes, 'the broken consumer to keep retrying', 15_000);
    } finally {
      await runner.stop({ timeoutMs: 2_000 }).catch(() => undefined);
      for (const queue of [broken, healthy, `${broken}.dlq`, `${healthy}.dlq`]) await channel().deleteQueue(queue).catch(() => undefined);
      await proxy.close();
    }
  }, 90_000);

  it('an exclusive reply queue still locked after a partition: the connection comes back, publishes go out, calls resume once it is free', async () => {
    const service = unique('adder');
    const server = await serve(service, [new Route({ target: function add(a: number, b: number) { return a + b; }, entrypoint: new AmqpRpcListener() })]);
    const proxy = new TcpProxy({ host: '127.0.0.1', port: 5672 });
    const port = await proxy.start(0);
    const connection = new AmqpConnection({ url: `amqp://guest:guest@127.0.0.1:${port}`, publishTimeoutMs: 5_000 });
    await connection.setup();
    const client = new AmqpRpcClient({ connection });
    const holder = await amqplib.connect('amqp://guest:guest@127.0.0.1:5672');
    const probe = unique('probe');
    try {
      expect(await client.call(service, 'add', [1, 2], { timeoutMs: 5_000 })).toBe(3);
      await channel().assertQueue(probe, { durable: false });
      // The partition: while the client is away, its reply queue's name is held exclusively elsewhere
      // (as the broker's view of the dropped connection would): the re-declare gets RESOURCE_LOCKED.
      proxy.cut();
      await waitFor(() => !connection.isConnected, 'the client to see the drop');
      await sleep(500);
      const held = await holder.createChannel();
      await held.assertQueue(client.replyQueue, { exclusive: true, autoDelete: true, durable: false });
      proxy.restore();
      await waitFor(() => connection.isConnected, 'the connection to come back while the reply queue is locked', 15_000);
      await connection.publish('', probe, Buffer.from('{"ok":true}'));
      expect((await channel().checkQueue(probe)).messageCount).toBe(1);

      // The lock goes (the holder closes): the reply consumer is set up again and calls get replies.
      await holder.close();
      expect(await client.call(service, 'add', [2, 3], { timeoutMs: 20_000 })).toBe(5);
    } finally {
      await holder.close().catch(() => undefined);
      await client.close();
      await connection.stop();
      await channel().deleteQueue(probe).catch(() => undefined);
      await proxy.close();
      await removeRpcService(server, service, 'add');
    }
  }, 90_000);
});

describe("an RPC client's reply channel closed by RabbitMQ with an error", () => {
  it('fails no waiting call: the reply queue is still there, it is consumed again and the reply arrives', async () => {
    const service = unique('slow');
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    async function wait(): Promise<string> {
      started += 1;
      if (started === 1) await held;
      return 'done';
    }
    const server = await serve(service, [new Route({ target: wait, entrypoint: new AmqpRpcListener() })]);
    const connection = new AmqpConnection({ url: 'amqp://guest:guest@127.0.0.1:5672' });
    await connection.setup();
    // Records the channels opened on the connection, to find the one the replies are consumed on.
    const opened: Channel[] = [];
    await connection.attach(async (model: ChannelModel) => {
      const createChannel = model.createChannel.bind(model);
      model.createChannel = async (...args: Parameters<ChannelModel['createChannel']>) => {
        const created = await createChannel(...args);
        opened.push(created);
        return created;
      };
    });
    const client = new AmqpRpcClient({ connection });
    try {
      const waiting = client.call(service, 'wait', [], { timeoutMs: 30_000 }).then(
        (value) => value,
        (error: unknown) => error,
      );
      await waitFor(() => started === 1, 'the call to run');
      let closed = false;
      const replyChannel = opened.at(-1)!;
      replyChannel.once('close', () => (closed = true));
      // An ack of a delivery tag the broker never sent: RabbitMQ closes the channel with 406.
      replyChannel.ack({ fields: { deliveryTag: 999_999 } } as unknown as Message);
      await waitFor(() => closed, 'RabbitMQ to close the reply channel');
      await sleep(1_500);
      release();
      expect(await waiting).toBe('done');
      expect(await client.call(service, 'wait', [], { timeoutMs: 10_000 })).toBe('done');
    } finally {
      release();
      await client.close();
      await connection.stop();
      await removeRpcService(server, service, 'wait');
    }
  }, 60_000);
});
