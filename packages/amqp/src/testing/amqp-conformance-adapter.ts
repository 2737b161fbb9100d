import { execFile } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { capabilitiesLacking, type ConformanceAdapter, type ConsumerProcess, type DeadLetterRecord, type ListenerSpec } from '@micro-framework/core/testing';
import type { GetMessage } from 'amqplib';
import { TcpProxy, spawnConsumerScript } from '@micro-framework/conformance';
import { AmqpBackoff } from '../amqp-backoff.ts';
import { AmqpConnection } from '../amqp-connection.ts';
import { headersFromAmqp } from '../amqp-headers.ts';
import { defaultAmqpUrl } from '../amqp-options.ts';
import { AmqpEventListener } from '../event-listener.ts';
import { eventExchangeName } from '../exchange-declaration.ts';
import { AmqpRpcClient } from '../rpc-client.ts';
import { AmqpRpcListener } from '../rpc-listener.ts';
import { conformanceQueueArguments, conformanceSourceService } from './conformance-names.ts';

const run = promisify(execFile);

/**
 * The RabbitMQ conformance factory. Services connect through a TcpProxy (to cut the network); the
 * outside publisher and the dead-letter reader connect directly. restartBroker uses rabbitmqctl
 * stop_app/start_app on the local node, so it needs to run where RabbitMQ runs, as a user allowed to.
 */
export async function amqpConformanceAdapter(options: { url?: string } = {}): Promise<ConformanceAdapter> {
  const brokerUrl = new URL(options.url ?? process.env['AMQP_URL'] ?? defaultAmqpUrl);
  const proxy = new TcpProxy({ host: brokerUrl.hostname, port: Number(brokerUrl.port || 5672) });
  const proxyUrl = new URL(brokerUrl.toString());
  proxyUrl.hostname = '127.0.0.1';
  proxyUrl.port = String(await proxy.start());
  const serviceUrl = proxyUrl.toString();

  const outside = new AmqpConnection({ url: brokerUrl.toString(), publishTimeoutMs: 60_000 });
  await outside.setup();
  const exchange = eventExchangeName(conformanceSourceService);
  await (await outside.publisher()).assertExchange(exchange, 'topic', { durable: true });
  const listeners = new Map<string, AmqpEventListener>();
  const key = (spec: ListenerSpec): string => `${spec.channel}\u0000${spec.serviceName}`;
  const clients: AmqpRpcClient[] = [];

  const readQueue = async (queue: string): Promise<DeadLetterRecord[]> => {
    const channel = await outside.channel();
    try {
      const found: DeadLetterRecord[] = [];
      for (;;) {
        const message = (await channel.get(queue, { noAck: false })) as GetMessage | false;
        if (!message) break;
        found.push({ body: new Uint8Array(message.content), headers: headersFromAmqp(message.properties.headers) });
      }
      return found;
    } finally {
      await channel.close().catch(() => undefined);
    }
  };

  const reasons = {
    orderedPerKey:
      'RabbitMQ messages have no ordering key: a queue hands messages to its consumers in order, but with prefetch and competing consumers two messages of one key run at once (per-key order needs one queue per key partition, e.g. a consistent-hash exchange, with a single active consumer)',
  };
  return {
    name: 'amqp (RabbitMQ)',
    capabilities: capabilitiesLacking(reasons),
    reasons,
    config: { amqp: { url: serviceUrl } },
    createListener(spec) {
      const listener = new AmqpEventListener({
        sourceService: conformanceSourceService,
        eventName: spec.channel,
        payloadFilter: spec.payloadFilter,
        format: spec.format,
        queueArguments: conformanceQueueArguments,
        deadLetterQueueArguments: conformanceQueueArguments,
      });
      listeners.set(key(spec), listener);
      return listener;
    },
    async publish(channel, message) {
      await outside.publish(exchange, channel, message.body, { headers: message.headers ?? {} });
    },
    createDelayedBackoff: (backoffOptions) => new AmqpBackoff(backoffOptions),
    async readDeadLetters(spec) {
      const listener = listeners.get(key(spec));
      return listener ? readQueue(listener.deadLetterQueueName) : [];
    },
    createRpcListener: (rpcOptions) => new AmqpRpcListener(rpcOptions),
    async createRpcClient() {
      const client = new AmqpRpcClient({ amqp: { url: serviceUrl } });
      clients.push(client);
      return client;
    },
    async restartBroker() {
      await run('rabbitmqctl', ['stop_app'], { timeout: 120_000 });
      await run('rabbitmqctl', ['start_app'], { timeout: 120_000 });
    },
    cutNetwork: (ms) => proxy.cutFor(ms),
    async spawnConsumerProcess(spec): Promise<ConsumerProcess> {
      const here = fileURLToPath(import.meta.url);
      const script = fileURLToPath(new URL(`./consumer-process${extname(here)}`, import.meta.url));
      return spawnConsumerScript(script, { ...spec, url: serviceUrl });
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await outside.stop();
      await proxy.close();
    },
  };
}
