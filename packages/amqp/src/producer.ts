import { encodePayload, type Dependency, type Headers, type Worker } from '@micro-framework/core';
import { AmqpConnection, sharedAmqpConnection } from './amqp-connection.ts';
import { type AmqpOptions } from './amqp-options.ts';
import { eventExchangeName } from './event-listener.ts';

export interface AmqpDispatchOptions {
  readonly headers?: Headers;
  readonly messageId?: string;
}

/**
 * Publishes events of one source service to its `<source>.events` topic exchange (declared durable on
 * first use). `dispatch` resolves once RabbitMQ confirmed the persistent message.
 */
export class AmqpEventDispatcher {
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

  /** Publishes `payload` (JSON, or bytes as they are) as `eventName`; rejects with PublishError if unconfirmed. */
  async dispatch(eventName: string, payload: unknown, options: AmqpDispatchOptions = {}): Promise<void> {
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

  /** Closes the connection if this dispatcher opened it. */
  async close(): Promise<void> {
    if (this.#owned) await this.connection.stop();
  }
}

/** Injects an AmqpEventDispatcher for the running service's events, on the context's shared connection. */
export class AmqpProducer implements Dependency<AmqpEventDispatcher> {
  readonly #dispatchers = new WeakMap<AmqpConnection, AmqpEventDispatcher>();

  async get(worker: Worker): Promise<AmqpEventDispatcher> {
    const context = worker.context;
    if (!context) throw new Error('AmqpProducer needs a worker run by a runner');
    const connection = await sharedAmqpConnection(context);
    let dispatcher = this.#dispatchers.get(connection);
    if (!dispatcher) {
      dispatcher = new AmqpEventDispatcher({ sourceService: worker.config.serviceName, connection });
      this.#dispatchers.set(connection, dispatcher);
    }
    return dispatcher;
  }
}
