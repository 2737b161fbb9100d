import { AmqpBackoff, AmqpConnection, AmqpEventListener, AmqpRpcClient, AmqpRpcListener, declareExchange, eventExchange, headersFromAmqp } from '@micro-framework/amqp';
import { RabbitTestNode } from '@micro-framework/amqp/testing';
import type { BrokerDriver, DeadLetter, DriverModule, Json, ServiceBindings } from '../broker-driver.ts';
import { idHeader, type Channel } from '../messages.ts';
import { packageVersion } from '../versions.ts';

/** The service whose events the run publishes; each channel is one of its events (routing key = channel). */
const sourceService = 'chaos-source';
const channels: readonly Channel[] = ['events', 'keyed'];

interface AmqpServiceSpec {
  readonly url: string;
}

const keyedOrderReason =
  'RabbitMQ messages have no ordering key: a queue hands its messages out in order, but with a prefetch of 50 (maxWorkers) they run at once, and a requeue after a kill or a cut puts a message behind later ones; per-key order would need a queue per key partition (consistent-hash exchange) with a single active consumer. The keyed route runs, its order is recorded but not judged.';

/** `<source>.<event>__<service>.<target>.dlq` → the channel (event) it belongs to. */
function channelOfQueue(queue: string): Channel | 'unknown' {
  return channels.find((channel) => queue.startsWith(`${sourceService}.${channel}__`)) ?? 'unknown';
}

/**
 * RabbitMQ: the run's own node (RabbitTestNode: own node name, ports, data directory and Erlang
 * cookie under the OS temp dir), so broker restarts (a real stop and start of the node) disturb
 * nobody else. Publishers and the RPC caller connect to it directly; the consumer service connects
 * through the orchestrator's TCP proxy. Publishes are persistent, mandatory and confirmed.
 */
export const amqpDriver: DriverModule = {
  async start({ serviceName }) {
    const node = await RabbitTestNode.start();
    const outside = new AmqpConnection({ url: node.url, publishTimeoutMs: 15_000 });
    const clients: AmqpRpcClient[] = [];
    const exchange = eventExchange(sourceService);
    /**
     * The run's queues (names holding the service name) with their messages, ready and unacked, from
     * rabbitmqctl's JSON. A queue whose count the node cannot give (down, say) fails the listing:
     * counted as 0 it would end the drain early, and skipped its dead letters would look lost.
     */
    const queues = async (): Promise<Array<{ name: string; messages: number }>> => {
      const listing = JSON.parse(await node.ctl(['list_queues', '--quiet', '--formatter', 'json', 'name', 'messages'])) as Array<{ name?: unknown; messages?: unknown }>;
      const mine = listing.filter((queue) => typeof queue.name === 'string' && queue.name.includes(serviceName));
      return mine.map(({ name, messages }) => {
        if (typeof messages !== 'number') throw new Error(`RabbitMQ gives no message count for queue ${String(name)} (${JSON.stringify(messages)})`);
        return { name: String(name), messages };
      });
    };
    try {
      await outside.setup();
      await declareExchange(() => outside.channel(), exchange);
    } catch (error) {
      await outside.stop().catch(() => undefined);
      await node.stop();
      throw error;
    }

    const driver: BrokerDriver = {
      broker: 'amqp',
      label: 'amqp (RabbitMQ)',
      keyedOrder: { on: false, reason: keyedOrderReason },
      notes: [
        "The run's own RabbitMQ node (RabbitTestNode from @micro-framework/amqp/testing: own node name, ports and data directory), so the two broker restarts stop and start a whole node without touching the machine's broker. Classic durable queues, persistent messages, publishes confirmed and mandatory.",
        'RabbitMQ has no ack wait: the unacked messages of a killed or cut consumer come back when the broker sees its connection close (at once for a kill; for a cut, after the missed heartbeats of the default 10 s heartbeat).',
        'Broker-delayed retries go through per-delay TTL queues that dead-letter back to the route\'s queue; dead letters go to `<queue>.dlq`, read back with basic.get and requeued.',
      ],
      proxyTarget: { host: '127.0.0.1', port: node.port },
      serviceSpec: (proxyPort) => ({ url: `amqp://guest:guest@127.0.0.1:${proxyPort}` }) satisfies AmqpServiceSpec,
      async publish(message) {
        await outside.publish(exchange.exchange, message.channel, message.body, { headers: message.headers, messageId: message.id, mandatory: true });
      },
      async readDeadLetters() {
        const found: DeadLetter[] = [];
        for (const { name } of (await queues()).filter((queue) => queue.name.endsWith('.dlq'))) {
          // Non-destructive: get every message unacked, then close the channel (RabbitMQ requeues them).
          const channel = await outside.channel();
          try {
            for (;;) {
              const message = await channel.get(name, { noAck: false });
              if (!message) break;
              const headers = headersFromAmqp(message.properties.headers);
              found.push({ id: headers[idHeader], channel: channelOfQueue(name), headers });
            }
          } finally {
            await channel.close().catch(() => undefined);
          }
        }
        return found;
      },
      async backlog() {
        return (await queues()).filter((queue) => !queue.name.endsWith('.dlq')).reduce((sum, queue) => sum + queue.messages, 0);
      },
      restartBroker: () => node.restart(),
      async createRpcClient() {
        const client = new AmqpRpcClient({ amqp: { url: node.url } });
        clients.push(client);
        return client;
      },
      async versions() {
        const status = await node.ctl(['status', '--formatter', 'json']).then((text) => JSON.parse(text) as { rabbitmq_version?: unknown }, () => ({ rabbitmq_version: undefined }));
        return { rabbitmq: typeof status.rabbitmq_version === 'string' ? status.rabbitmq_version : 'unknown', amqplib: packageVersion('amqplib') };
      },
      async close() {
        await Promise.allSettled(clients.map((client) => client.close()));
        await outside.stop().catch(() => undefined);
        await node.stop();
      },
    };
    return driver;
  },

  bindings(spec: Json): ServiceBindings {
    const { url } = spec as unknown as AmqpServiceSpec;
    return {
      config: { amqp: { url } },
      eventEntrypoint: () => new AmqpEventListener({ sourceService, eventName: 'events' }),
      keyedEntrypoint: () => new AmqpEventListener({ sourceService, eventName: 'keyed' }),
      rpcEntrypoint: (name) => new AmqpRpcListener({ name }),
      delayedBackoff: (options) => new AmqpBackoff(options),
    };
  },
};
