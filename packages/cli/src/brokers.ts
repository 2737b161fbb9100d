import type { Headers, RpcClient } from '@micro-framework/core';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadAdapter } from './adapters.ts';
import { UsageError } from './usage-error.ts';

/** The brokers the command line speaks to, each through its adapter package. */
export const brokerNames = ['amqp', 'nats', 'kafka'] as const;
export type BrokerName = (typeof brokerNames)[number];

/** Where and how `emit` publishes, beyond the event itself. */
export interface EmitTarget {
  readonly headers: Headers;
  /** NATS subject or Kafka topic instead of `<source>.<event>`. */
  readonly destination?: string;
  /** Kafka record key. */
  readonly key?: string;
}

/** What a command needs of a broker: an RPC client and a way to publish one event. */
export interface BrokerClient {
  readonly name: BrokerName;
  rpcClient(): Promise<RpcClient>;
  /** Publishes `payload` as event `event` of service `source`; resolves once the broker confirmed. Returns where it went. */
  emit(source: string, event: string, payload: unknown, target: EmitTarget): Promise<string>;
  close(): Promise<void>;
}

/**
 * What a command connects with: the adapter's own options (as in a service config's `amqp`, `nats`
 * or `kafka` key: tls, credentials, allowInsecure...), its address set from the --url flag, else the
 * options file's own address (`url`, `servers`, `brokers`), else the environment, else loopback.
 */
export interface BrokerSettings {
  readonly broker: BrokerName;
  /** The adapter options, address included. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** The key of each adapter's options that holds its address. */
const addressKey = { amqp: 'url', nats: 'servers', kafka: 'brokers' } as const;

/**
 * Reads `--broker-options <path>`: a JSON file, or an ES module whose default export is the options
 * (so a password can come from `Secret.fromEnv`, never from the file). A UsageError when it cannot be
 * read or holds no object.
 */
export async function loadBrokerOptions(path: string | undefined): Promise<Record<string, unknown>> {
  if (path === undefined) return {};
  const file = resolve(path);
  if (!existsSync(file)) throw new UsageError(`--broker-options: no file at ${path} (resolved to ${file})`);
  let loaded: unknown;
  if (file.endsWith('.json')) {
    try {
      loaded = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new UsageError(`--broker-options: ${path} is not valid JSON (${(error as Error).message})`);
    }
  } else {
    loaded = ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
  }
  if (typeof loaded !== 'object' || loaded === null || Array.isArray(loaded)) {
    throw new UsageError(`--broker-options: ${path} must hold an object of adapter options (a JSON object, or a module's default export)`);
  }
  return loaded as Record<string, unknown>;
}

/** The settings of one command (see BrokerSettings). */
export async function brokerSettings(broker: BrokerName, url: string | undefined, optionsPath: string | undefined): Promise<BrokerSettings> {
  const options = await loadBrokerOptions(optionsPath);
  const key = addressKey[broker];
  const address = url ?? (options[key] === undefined ? brokerUrl(broker) : undefined);
  if (address === undefined) return { broker, options: broker === 'nats' ? { ...options, reconnect: false } : broker === 'kafka' ? { clientId: 'micro-framework-cli', logLevel: 0, ...options } : options };
  switch (broker) {
    case 'amqp':
      return { broker, options: { ...options, url: address } };
    case 'nats':
      return { broker, options: { ...options, servers: serverList(address), reconnect: false } };
    case 'kafka':
      return { broker, options: { ...cliKafkaOptions(address), ...options, brokers: serverList(address) } };
  }
}

/**
 * The broker address: the --url flag, else the variable the adapter itself reads (AMQP_URL,
 * NATS_URL, KAFKA_BROKERS), else the adapter's loopback default.
 */
export function brokerUrl(broker: BrokerName, url?: string): string {
  if (url) return url;
  switch (broker) {
    case 'amqp':
      return process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
    case 'nats':
      return process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
    case 'kafka':
      return process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092';
  }
}

/** A comma-separated server list (NATS servers, Kafka brokers) as a list, blanks dropped. */
export function serverList(url: string): string[] {
  return url.split(',').map((server) => server.trim()).filter(Boolean);
}

/** kafkajs settings of the command line: quiet (its errors reach the user through the command's own message). */
export function cliKafkaOptions(url: string): { brokers: string[]; clientId: string; logLevel: 0 } {
  return { brokers: serverList(url), clientId: 'micro-framework-cli', logLevel: 0 };
}

/**
 * Connects lazily to `broker` at `url` through its adapter package (imported only now); close()
 * releases whatever was opened. Events go where the adapter's listeners take them from: RabbitMQ
 * exchange `<source>.events` with the event as routing key, NATS subject and Kafka topic
 * `<source>.<event>` unless a destination is given.
 */
export async function brokerClient({ broker, options: settings }: BrokerSettings): Promise<BrokerClient> {
  const opened: Array<{ close(): Promise<void> }> = [];
  const keep = <C extends { close(): Promise<void> }>(client: C): C => (opened.push(client), client);
  const close = async (): Promise<void> => {
    await Promise.allSettled(opened.splice(0).reverse().map((client) => client.close()));
  };
  switch (broker) {
    case 'amqp': {
      const amqp = await loadAdapter('amqp');
      return {
        name: broker,
        close,
        rpcClient: async () => keep(new amqp.AmqpRpcClient({ amqp: settings })),
        async emit(source, event, payload, { headers }) {
          const publisher = keep(new amqp.AmqpPublisher({ sourceService: source, amqp: settings }));
          await publisher.publish(event, payload, { headers });
          return `exchange ${amqp.eventExchangeName(source)}, routing key ${event}`;
        },
      };
    }
    case 'nats': {
      const nats = await loadAdapter('nats');
      const options = settings;
      let extension: InstanceType<typeof nats.NatsConnectionExtension> | undefined;
      const connected = async (): Promise<InstanceType<typeof nats.NatsConnectionExtension>> => {
        if (!extension) {
          const opening = new nats.NatsConnectionExtension(options);
          await opening.setup();
          opened.push({ close: () => opening.stop() });
          extension = opening;
        }
        return extension;
      };
      return {
        name: broker,
        close,
        rpcClient: async () => keep(new nats.NatsRpcClient({ nats: options })),
        async emit(source, event, payload, { headers, destination }) {
          const subject = destination ?? `${source}.${event}`;
          const extension = await connected();
          const publisher = new nats.NatsPublisher({ connection: extension.connection });
          // A JetStream publish to a subject no stream captures would reach core subscribers as a
          // request and time out: ask first which kind of subject it is.
          const stream = await (await extension.manager()).streams.find(subject).catch(() => undefined);
          if (stream) {
            const ack = await publisher.publish(subject, payload, { headers });
            return `subject ${subject} (JetStream stream ${ack.stream}, sequence ${ack.seq})`;
          }
          await publisher.publishCore(subject, payload, { headers });
          return `subject ${subject} (core NATS: no JetStream stream captures it, so only subscribers connected now get it)`;
        },
      };
    }
    case 'kafka': {
      const kafka = await loadAdapter('kafka');
      const options = settings;
      return {
        name: broker,
        close,
        rpcClient: async () => keep(new kafka.KafkaRpcClient({ kafka: options })),
        async emit(source, event, payload, { headers, destination, key }) {
          const topic = destination ?? `${source}.${event}`;
          const publisher = keep(new kafka.KafkaPublisher({ kafka: options }));
          const [metadata] = await publisher.publish(topic, payload, { headers, key });
          return `topic ${topic} (partition ${metadata?.partition ?? '?'}, offset ${metadata?.baseOffset ?? '?'})`;
        },
      };
    }
  }
}
