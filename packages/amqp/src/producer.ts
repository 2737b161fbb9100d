import { encodePayload, withTraceContext, type Dependency, type Headers, type Worker } from '@micro-framework/core';
import { AmqpConnection, PublishError, sharedAmqpConnection } from './amqp-connection.ts';
import { type AmqpOptions } from './amqp-options.ts';
import { declareExchange, eventExchange } from './exchange-declaration.ts';

export interface AmqpPublishOptions {
  readonly headers?: Headers;
  readonly messageId?: string;
}

/**
 * Publishes events of one source service to its `<source>.events` topic exchange, declared on first
 * use as the Python services declare it (durable, auto-delete; an existing one is used as it is).
 * `publish` resolves once RabbitMQ confirmed the persistent message. RabbitMQ deletes an auto-delete
 * exchange with its last binding, and a publish to a missing exchange closes the channel: such a
 * publish declares the exchange again and is published once more.
 */
export class AmqpPublisher {
  readonly sourceService: string;
  readonly connection: AmqpConnection;
  readonly #owned: boolean;
  #exchangeDeclared: Promise<void> | undefined;
  readonly #autoDelete: boolean;

  /** With `connection`, shares it; with `amqp` options, opens its own (close it with `close()`). */
  constructor(options: { sourceService: string; connection?: AmqpConnection; amqp?: AmqpOptions }) {
    this.sourceService = options.sourceService;
    this.#owned = !options.connection;
    this.connection = options.connection ?? new AmqpConnection(options.amqp ?? { url: process.env['AMQP_URL'] });
    this.#autoDelete = this.connection.options.eventExchangeAutoDelete ?? true;
  }

  /** Publishes `payload` (JSON, or bytes as they are) as event `eventName`; rejects with PublishError if unconfirmed. */
  async publish(eventName: string, payload: unknown, options: AmqpPublishOptions = {}): Promise<void> {
    if (this.#owned) await this.connection.setup();
    const body = encodePayload(payload);
    const { exchange } = eventExchange(this.sourceService);
    const send = async (): Promise<void> => {
      await this.#declareExchange();
      // A lane of its own: a publish to an exchange RabbitMQ just auto-deleted closes only this channel.
      await this.connection.publish(exchange, eventName, body, {
        headers: withTraceContext(options.headers ?? {}),
        messageId: options.messageId,
        lane: `events:${exchange}`,
      });
    };
    try {
      await send();
    } catch (error) {
      // Published once more only when the exchange is gone (auto-deleted with its last binding):
      // any other failure may have reached a queue already.
      if (!(error instanceof PublishError) || error.reason === 'timeout') throw error;
      if (await this.#exchangeExists(exchange).catch(() => true)) throw error;
      this.#exchangeDeclared = undefined;
      await send();
    }
  }

  async #exchangeExists(exchange: string): Promise<boolean> {
    const channel = await this.connection.channel();
    channel.on('error', () => undefined);
    try {
      await channel.checkExchange(exchange);
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === 404) return false;
      throw error;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  #declareExchange(): Promise<void> {
    this.#exchangeDeclared ??= declareExchange(() => this.connection.channel(), { ...eventExchange(this.sourceService), autoDelete: this.#autoDelete }).catch((error: unknown) => {
      this.#exchangeDeclared = undefined;
      throw error;
    });
    return this.#exchangeDeclared;
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
