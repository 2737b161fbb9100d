import { encodePayload, type Dependency, type Headers, type Worker } from '@micro-framework/core';
import { AmqpConnection, sharedAmqpConnection } from './amqp-connection.ts';
import { type AmqpOptions } from './amqp-options.ts';
import { eventExchangeName } from './event-listener.ts';

export interface AmqpPublishOptions {
  readonly headers?: Headers;
  readonly messageId?: string;
}

/**
 * Publishes events of one source service to its `<source>.events` topic exchange (declared durable on
 * first use). `publish` resolves once RabbitMQ confirmed the persistent message.
 */
export class AmqpPublisher {
  readonly sourceService: string;
  readonly connection: AmqpConnection;
  readonly #owned: boolean;
  #exchangeDeclared: Promise<void> | undefined;

  /** With `connection`, shares it; with `amqp` options, opens its own (close it with `close()`). */
  constructor(options: { sourceService: string; connection?: AmqpConnection; amqp?: AmqpOptions }) {
    this.sourceService = options.sourceService;
    this.#owned = !options.connection;
    this.connection = options.connection ?? new AmqpConnection(options.amqp ?? { url: process.env['AMQP_URL'] });
  }

  /** Publishes `payload` (JSON, or bytes as they are) as event `eventName`; rejects with PublishError if unconfirmed. */
  async publish(eventName: string, payload: unknown, options: AmqpPublishOptions = {}): Promise<void> {
    if (this.#owned) await this.connection.setup();
    const exchange = eventExchangeName(this.sourceService);
    this.#exchangeDeclared ??= this.connection.publisher().then((channel) => channel.assertExchange(exchange, 'topic', { durable: true })).then(() => undefined);
    await this.#exchangeDeclared.catch((error: unknown) => {
      this.#exchangeDeclared = undefined;
      throw error;
    });
    await this.connection.publish(exchange, eventName, encodePayload(payload), {
      headers: options.headers ?? {},
      messageId: options.messageId,
    });
  }

  /** Closes the connection if this publisher opened it. */
  async close(): Promise<void> {
    if (this.#owned) await this.connection.stop();
  }
}

/** Injects an AmqpPublisher of the running service's events, on the context's shared connection. */
export class AmqpProducer implements Dependency<AmqpPublisher> {
  readonly #publishers = new WeakMap<AmqpConnection, AmqpPublisher>();

  async get(worker: Worker): Promise<AmqpPublisher> {
    const context = worker.context;
    if (!context) throw new Error('AmqpProducer needs a worker run by a runner');
    const connection = await sharedAmqpConnection(context);
    let publisher = this.#publishers.get(connection);
    if (!publisher) {
      publisher = new AmqpPublisher({ sourceService: worker.config.serviceName, connection });
      this.#publishers.set(connection, publisher);
    }
    return publisher;
  }
}
