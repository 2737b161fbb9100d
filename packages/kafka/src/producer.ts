import { encodePayload, withTraceContext, type Dependency, type Headers, type Worker } from '@micro-framework/core';
import { Kafka, logLevel, type Producer, type RecordMetadata } from 'kafkajs';
import { sharedKafkaClient, type KafkaClientExtension } from './kafka-client.ts';
import { brokersFromEnv, type KafkaOptions } from './kafka-options.ts';
import { KafkaSecurity } from './kafka-security.ts';

export interface KafkaPublishOptions {
  readonly key?: string;
  readonly headers?: Headers;
  readonly partition?: number;
}

/**
 * Produces records with an idempotent producer; `send` resolves once all in-sync replicas
 * acknowledged (acks = all). Payloads are JSON, or bytes as they are.
 */
export class KafkaPublisher {
  readonly #producer: Producer;
  readonly #security: KafkaSecurity | undefined;
  #connected: Promise<void> | undefined;

  /**
   * With `producer`, shares it; otherwise opens its own from `kafka` options (closed by close()),
   * connected at the first publish.
   */
  constructor(options: { producer?: Producer; kafka?: KafkaOptions } = {}) {
    if (options.producer) {
      this.#producer = options.producer;
    } else {
      this.#security = new KafkaSecurity(options.kafka ?? {}, { brokers: brokersFromEnv(), logLevel: logLevel.ERROR });
      this.#producer = new Kafka(this.#security.config).producer({ idempotent: true, maxInFlightRequests: 1 });
    }
  }

  /**
   * Publishes `payload` (JSON, or bytes as they are) to `topic`; resolves once all in-sync replicas
   * acknowledged. The first publish of a publisher with its own producer connects it: a wrong CA or
   * refused credentials reject it with TlsHandshakeFailed or AuthenticationFailed (not retried), an
   * insecure configuration with InsecureCredentials before any connection.
   */
  async publish(topic: string, payload: unknown, options: KafkaPublishOptions = {}): Promise<RecordMetadata[]> {
    const security = this.#security;
    if (security) {
      const connecting = (this.#connected ??= security.connect(() => this.#producer.connect()));
      try {
        await connecting;
      } catch (error) {
        // A connect that failed (the broker was away) is not kept: the next publish connects again.
        if (this.#connected === connecting) this.#connected = undefined;
        throw error;
      }
    }
    try {
      return await this.#producer.send({
        topic,
        acks: -1,
        messages: [{ key: options.key, value: Buffer.from(encodePayload(payload)), headers: withTraceContext(options.headers ?? {}), partition: options.partition }],
      });
    } catch (error) {
      // kafkajs reconnected meanwhile and the broker refused the TLS session or the credentials: say so.
      throw security ? security.typed(error) : error;
    }
  }

  /** Disconnects its own producer (a shared one is left to its owner). */
  async close(): Promise<void> {
    if (this.#security && this.#connected) await this.#producer.disconnect();
    this.#connected = undefined;
  }
}

/** Injects a KafkaPublisher on the context's shared client. */
export class KafkaProducer implements Dependency<KafkaPublisher> {
  readonly #publishers = new WeakMap<KafkaClientExtension, KafkaPublisher>();

  async get(worker: Worker): Promise<KafkaPublisher> {
    const context = worker.context;
    if (!context) throw new Error('KafkaProducer needs a worker run by a runner');
    const client = await sharedKafkaClient(context);
    let publisher = this.#publishers.get(client);
    if (!publisher) {
      publisher = new KafkaPublisher({ producer: client.producer });
      this.#publishers.set(client, publisher);
    }
    return publisher;
  }
}
