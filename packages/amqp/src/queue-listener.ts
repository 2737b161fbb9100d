import { AmqpListener, type AmqpBinding, type AmqpListenerOptions } from './amqp-listener.ts';

export interface AmqpQueueListenerOptions extends AmqpListenerOptions {
  /** The durable queue to consume (declared if missing). */
  readonly queueName: string;
  /** Bind the queue to this exchange (declared durable) with `routingKey`; omit to consume the queue as is. */
  readonly exchange?: string;
  readonly routingKey?: string;
  /** direct, topic, fanout or headers. Default topic. */
  readonly exchangeType?: string;
}

/** Consumes an explicitly named queue, optionally bound to an exchange. */
export class AmqpQueueListener extends AmqpListener {
  readonly #queueName: string;
  readonly #binding: AmqpBinding | undefined;

  constructor(options: AmqpQueueListenerOptions) {
    super(options);
    this.#queueName = options.queueName;
    this.#binding = options.exchange
      ? { exchange: options.exchange, exchangeType: options.exchangeType ?? 'topic', routingKey: options.routingKey ?? '#' }
      : undefined;
  }

  get queueName(): string {
    return this.#queueName;
  }

  protected get binding(): AmqpBinding | undefined {
    return this.#binding;
  }
}
