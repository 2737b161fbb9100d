import { randomUUID } from 'node:crypto';
import { AmqpBackoff, AmqpRpcClient, AmqpQueueListener, AmqpRpcListener } from '@micro-framework/amqp';
import amqplib from 'amqplib';
import type { BrokerBench, DrainContestant, FailureContestant, RpcContestant, SustainedPublisher } from '../case.ts';
import { Counter } from '../counter.ts';
import { routeDrain, routeFailure, routeRpc } from '../route-contestants.ts';
import { amqpUrl as url, benchMessage, messageData } from '../endpoints.ts';
import { retryIntervalMs } from '../failure-cost.ts';

const body = Buffer.from(benchMessage);

export async function amqpBench(prefetch: number): Promise<BrokerBench> {
  const publisherConnection = await amqplib.connect(url, { noDelay: true });
  const publisher = await publisherConnection.createConfirmChannel();
  let queue = '';

  const raw: DrainContestant = {
    name: 'amqplib (raw)',
    settings: `prefetch ${prefetch}, manual ack per message, noDelay`,
    async drain(count) {
      const started = performance.now();
      const connection = await amqplib.connect(url, { noDelay: true });
      const channel = await connection.createChannel();
      await channel.prefetch(prefetch);
      const counter = new Counter(count);
      await channel.consume(queue, (message) => {
        if (!message) return;
        channel.ack(message);
        counter.hit();
      });
      await counter.done;
      const elapsed = performance.now() - started;
      await connection.close();
      return elapsed;
    },
  };

  const ours = routeDrain({
    name: '@micro-framework/amqp',
    settings: `AmqpQueueListener, maxWorkers ${prefetch} (= prefetch), ack after the route finished`,
    maxWorkers: prefetch,
    config: { amqp: { url } },
    entrypoint: () => new AmqpQueueListener({ queueName: queue, queueArguments: { 'x-expires': 600_000 } }),
  });

  const rawFailure: FailureContestant = {
    name: 'amqplib (raw)',
    settings: `prefetch ${prefetch}, ack per message; a failed message is republished (confirmed, then the original acked) to a delay queue with x-message-ttl ${retryIntervalMs} ms that dead-letters it back to the queue`,
    async start(channelName, ledger) {
      const connection = await amqplib.connect(url, { noDelay: true });
      const channel = await connection.createConfirmChannel();
      const delayQueue = `${channelName}.raw-delay`;
      await channel.assertQueue(delayQueue, { durable: true, arguments: { 'x-message-ttl': retryIntervalMs, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': channelName, 'x-expires': 600_000 } });
      await channel.prefetch(prefetch);
      await channel.consume(channelName, (message) => {
        if (!message) return;
        try {
          ledger.attempt(messageData(message.content).id);
          channel.ack(message);
        } catch {
          channel.sendToQueue(delayQueue, message.content, { persistent: true }, (error) => (error ? channel.nack(message) : channel.ack(message)));
        }
      });
      return { stop: () => connection.close() };
    },
  };

  const oursFailure = routeFailure({
    name: '@micro-framework/amqp',
    settings: `AmqpQueueListener, maxWorkers ${prefetch}, AmqpBackoff maxRetries 1, interval ${retryIntervalMs} ms (a confirmed publish to the ${retryIntervalMs} ms delay-tier queue, then the ack)`,
    maxWorkers: prefetch,
    config: { amqp: { url } },
    entrypoint: (channel) => new AmqpQueueListener({ queueName: channel, queueArguments: { 'x-expires': 600_000 } }),
    backoff: () => new AmqpBackoff({ maxRetries: 1, interval: retryIntervalMs }),
  });

  const sustainedPublisher = async (): Promise<SustainedPublisher> => {
    const target = queue;
    return {
      settings: 'one confirm channel, persistent messages, confirms awaited at the end (not per message)',
      publish(bodies) {
        let full = false;
        for (const text of bodies) full = !publisher.sendToQueue(target, Buffer.from(text), { persistent: true }) || full;
        if (full) return new Promise<void>((resolve) => publisher.once('drain', () => resolve()));
      },
      settle: () => publisher.waitForConfirms(),
    };
  };

  const rawRpc = (): RpcContestant => {
    let server: amqplib.ChannelModel | undefined;
    let client: amqplib.ChannelModel | undefined;
    let clientChannel: amqplib.Channel | undefined;
    let replyQueue = '';
    const pending = new Map<string, () => void>();
    const requestQueue = `bench-raw-rpc-${randomUUID()}`;
    return {
      name: 'amqplib (raw)',
      settings: 'reply queue per client, correlation id, noDelay, server prefetch 100',
      async start() {
        server = await amqplib.connect(url, { noDelay: true });
        const channel = await server.createChannel();
        await channel.assertQueue(requestQueue, { exclusive: true });
        await channel.prefetch(100);
        await channel.consume(requestQueue, (message) => {
          if (!message) return;
          const value = JSON.parse(message.content.toString()) as number;
          channel.sendToQueue(String(message.properties.replyTo), Buffer.from(JSON.stringify(value * 2)), { correlationId: message.properties.correlationId });
          channel.ack(message);
        });
        client = await amqplib.connect(url, { noDelay: true });
        clientChannel = await client.createChannel();
        replyQueue = (await clientChannel.assertQueue('', { exclusive: true })).queue;
        await clientChannel.consume(replyQueue, (message) => {
          const id = message?.properties.correlationId as string | undefined;
          if (id) pending.get(id)?.();
          if (id) pending.delete(id);
        }, { noAck: true });
      },
      call(value) {
        const id = randomUUID();
        const reply = new Promise<void>((resolve) => pending.set(id, resolve));
        clientChannel!.sendToQueue(requestQueue, Buffer.from(JSON.stringify(value)), { replyTo: replyQueue, correlationId: id });
        return reply;
      },
      async stop() {
        await client?.close();
        await server?.close();
      },
    };
  };

  const oursRpc = (): RpcContestant =>
    routeRpc({
      name: '@micro-framework/amqp',
      settings: 'AmqpRpcListener (requests through the ufw-rpc topic exchange, confirmed replies straight to the reply queue, request acked once its reply is confirmed), AmqpRpcClient (mandatory confirmed requests; a call ends with its reply), maxWorkers 100',
      config: { amqp: { url } },
      listener: () => new AmqpRpcListener(),
      client: async () => new AmqpRpcClient({ amqp: { url } }),
    });

  return {
    broker: 'RabbitMQ',
    server: `RabbitMQ ${String((publisherConnection.connection as unknown as { serverProperties?: { version?: unknown } }).serverProperties?.version ?? 'unknown')}`,
    async prepare(count, make) {
      // `<group>.<name>`: the queue Moleculer's channel `name` in group `bench` consumes.
      queue = `bench.${randomUUID()}`;
      await publisher.assertQueue(queue, { durable: true, arguments: { 'x-expires': 600_000 } });
      for (let sent = 0; sent < count; sent += 1) {
        if (!publisher.sendToQueue(queue, make ? Buffer.from(make(sent)) : body, { persistent: true })) await new Promise((resolve) => publisher.once('drain', resolve));
        if (sent % 5_000 === 4_999) await publisher.waitForConfirms();
      }
      await publisher.waitForConfirms();
    },
    probe: 'amqp',
    channel: () => queue,
    drains: [raw, ours],
    rpc: [rawRpc(), oursRpc()],
    failureCost: [rawFailure, oursFailure],
    sustainedPublisher,
    async close() {
      await publisherConnection.close();
    },
  };
}
