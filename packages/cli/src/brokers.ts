import type { Headers, RpcClient } from '@micro-framework/core';

/** The brokers the command line speaks to, each through its adapter package. */
export const brokerNames = ['amqp', 'nats', 'kafka'] as const;
export type BrokerName = (typeof brokerNames)[number];

/** What a command needs of a broker: an RPC client and a way to publish one event. */
export interface BrokerClient {
  readonly name: BrokerName;
  rpcClient(): Promise<RpcClient>;
  /** Publishes `payload` as event `event` of service `source`; resolves once the broker confirmed. Returns where it went. */
  emit(source: string, event: string, payload: unknown, headers: Headers, destination?: string): Promise<string>;
  close(): Promise<void>;
}

/** A command line mistake: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The broker address: the --url flag, else the usual environment variable (AMQP_URL, NATS_URL,
 * KAFKA_BROKERS, a comma-separated list), else the local default.
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

/** Imports an adapter package on demand; a clear error when it is not installed. */
async function adapter<T>(name: BrokerName): Promise<T> {
  const specifier = `@micro-framework/${name}`;
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND') throw new UsageError(`--broker ${name} needs ${specifier}: npm install ${specifier}`);
    throw error;
  }
}

/** Connects lazily to `broker` at `url`; close() releases whatever was opened. */
export async function brokerClient(broker: BrokerName, url: string): Promise<BrokerClient> {
  const opened: Array<{ close(): Promise<void> }> = [];
  const keep = <C extends { close(): Promise<void> }>(client: C): C => (opened.push(client), client);
  const close = async (): Promise<void> => {
    await Promise.allSettled(opened.splice(0).map((client) => client.close()));
  };
  switch (broker) {
    case 'amqp': {
      const amqp = await adapter<typeof import('@micro-framework/amqp')>('amqp');
      return {
        name: broker,
        close,
        rpcClient: async () => keep(new amqp.AmqpRpcClient({ amqp: { url } })),
        async emit(source, event, payload, headers) {
          const publisher = keep(new amqp.AmqpPublisher({ sourceService: source, amqp: { url } }));
          await publisher.publish(event, payload, { headers });
          return `exchange ${amqp.eventExchangeName(source)}, routing key ${event}`;
        },
      };
    }
    case 'nats': {
      const nats = await adapter<typeof import('@micro-framework/nats')>('nats');
      const options = { servers: url.split(',') };
      return {
        name: broker,
        close,
        rpcClient: async () => keep(new nats.NatsRpcClient({ nats: options })),
        async emit(source, event, payload, headers, destination) {
          const subject = destination ?? `${source}.${event}`;
          const { connect } = await import('@nats-io/transport-node');
          const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
          const connection = await connect(options);
          opened.push({ close: () => connection.close() });
          const body = new TextEncoder().encode(JSON.stringify(payload));
          const natsHeaders = nats.headersToNats(headers);
          // A JetStream publish to a subject no stream captures would reach core subscribers as a
          // request and time out: ask first which kind of subject it is.
          const stream = await (await jetstreamManager(connection)).streams.find(subject).catch(() => undefined);
          if (stream) {
            const ack = await jetstream(connection).publish(subject, body, { headers: natsHeaders });
            return `subject ${subject} (JetStream stream ${ack.stream}, sequence ${ack.seq})`;
          }
          connection.publish(subject, body, { headers: natsHeaders });
          await connection.flush();
          return `subject ${subject} (core NATS: no JetStream stream captures it, so only subscribers connected now get it)`;
        },
      };
    }
    case 'kafka': {
      const kafka = await adapter<typeof import('@micro-framework/kafka')>('kafka');
      const options = { brokers: url.split(','), clientId: 'micro-framework-cli', logLevel: 0 };
      return {
        name: broker,
        close,
        rpcClient: async () => keep(new kafka.KafkaRpcClient({ kafka: options })),
        async emit(source, event, payload, headers, destination) {
          const topic = destination ?? `${source}.${event}`;
          const publisher = keep(new kafka.KafkaPublisher({ kafka: options }));
          const [metadata] = await publisher.publish(topic, payload, { headers });
          return `topic ${topic} (partition ${metadata?.partition ?? '?'}, offset ${metadata?.baseOffset ?? '?'})`;
        },
      };
    }
  }
}
