import { Extension, type RunnerContext } from '@micro-framework/core';
import { Kafka, logLevel, type Admin, type ITopicConfig, type Producer } from 'kafkajs';
import { BatchingSender } from './batching-sender.ts';
import { createTopicsAndWait } from './topic-creation.ts';
import { kafkaClientKey, kafkaOptionsFromConfig, type KafkaOptions } from './kafka-options.ts';
import { KafkaSecurity } from './kafka-security.ts';

/**
 * One kafkajs client per context: an idempotent producer (acks from all in-sync replicas) and an
 * admin client, opened at setup and closed after the routes stopped. Setup checks the security
 * settings first (see KafkaSecurity): a wrong CA or refused credentials fail it at once with
 * TlsHandshakeFailed or AuthenticationFailed, not after kafkajs's retries.
 */
export class KafkaClientExtension extends Extension {
  /** The client's options with every secret wrapped or hidden (safe to print); the client uses the ones given. */
  readonly options: KafkaOptions;
  /** TLS and SASL of this client, and the typing of their failures (consumers started later use it too). */
  readonly security: KafkaSecurity;
  readonly kafka: Kafka;
  readonly producer: Producer;
  readonly admin: Admin;
  /** The producer's records grouped into as few requests as possible (see BatchingSender). */
  readonly sender: BatchingSender;
  #connected: Promise<void> | undefined;
  readonly #knownTopics = new Set<string>();

  constructor(options: KafkaOptions) {
    super();
    this.security = new KafkaSecurity(options, { brokers: ['127.0.0.1:9092'], logLevel: logLevel.ERROR });
    this.options = this.security.options;
    this.kafka = new Kafka(this.security.config);
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.admin = this.kafka.admin();
    this.sender = new BatchingSender(this.producer);
  }

  /** Connects the producer and the admin client; TLS and SASL failures reject typed and are not retried (see KafkaSecurity.connect). */
  override setup(): Promise<void> {
    this.#connected ??= this.security.connect(async () => {
      await Promise.all([this.producer.connect(), this.admin.connect()]);
    });
    return this.#connected.catch((error: unknown) => {
      this.#connected = undefined;
      throw error;
    });
  }

  override async stop(): Promise<void> {
    this.#connected = undefined;
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
  }

  /** Creates the topics that do not exist yet and waits until the broker serves them (see createTopicsAndWait); existing ones are kept as they are. */
  async ensureTopics(topics: ITopicConfig[]): Promise<void> {
    const missing = topics.filter((topic) => !this.#knownTopics.has(topic.topic));
    if (missing.length === 0) return;
    const existing = new Set(await this.admin.listTopics());
    const toCreate = missing.filter((topic) => !existing.has(topic.topic));
    await createTopicsAndWait(this.admin, toCreate);
    for (const topic of missing) this.#knownTopics.add(topic.topic);
  }
}

/** The context's one Kafka client for `options` (default: the service config's `kafka` key), connected on first use. */
export function sharedKafkaClient(context: RunnerContext, options: KafkaOptions = kafkaOptionsFromConfig(context.config)): Promise<KafkaClientExtension> {
  return context.shared(kafkaClientKey(options), () => new KafkaClientExtension(options));
}
