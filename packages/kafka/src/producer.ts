import { encodePayload, withTraceContext, type Dependency, type Headers, type Worker } from '@micro-framework/core';
import { Kafka, logLevel, type Producer, type RecordMetadata } from 'kafkajs';
import { sharedKafkaClient, type KafkaClientExtension } from './kafka-client.ts';
import { brokersFromEnv, type KafkaOptions } from './kafka-options.ts';

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
  readonly #owned: boolean;
  #connected: Promise<void> | undefined;

  /** With `producer`, shares it; otherwise opens its own from `kafka` options (closed by close()). */
  constructor(options: { producer?: Producer; kafka?: KafkaOptions } = {}) {
    this.#owned = !options.producer;
    this.#producer =
      options.producer ??
      new Kafka({ brokers: brokersFromEnv(), logLevel: logLevel.ERROR, ...options.kafka }).producer({ idempotent: true, maxInFlightRequests: 1 });
  }

  /** Publishes `payload` (JSON, or bytes as they are) to `topic`; resolves once all in-sync replicas acknowledged. */
  async publish(topic: string, payload: unknown, options: KafkaPublishOptions = {}): Promise<RecordMetadata[]> {
    if (this.#owned) {
      const connecting = (this.#connected ??= this.#producer.connect());
      try {
        await connecting;
      } catch (error) {
        // A connect that failed (the broker was away) is not kept: the next publish connects again.
        if (this.#connected === connecting) this.#connected = undefined;
        throw error;
      }
    }
    return this.#producer.send({
      topic,
      acks: -1,
      messages: [{ key: options.key, value: Buffer.from(encodePayload(payload)), headers: withTraceContext(options.headers ?? {}), partition: options.partition }],
    });
  }

  async close(): Promise<void> {
    if (this.#owned && this.#connected) await this.#producer.disconnect();
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
