import {
  Entrypoint,
  ConfigurationError,
  defaultStopTimeoutMs,
  writeRetryHeaders,
  type Headers,
  type PayloadFormat,
  type RetryState,
  type StopOptions,
} from '@micro-framework/core';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { AmqpAckWindow } from './ack-window.ts';
import { sharedAmqpConnection, type AmqpConnection } from './amqp-connection.ts';
import { headersFromAmqp } from './amqp-headers.ts';
import { type AmqpOptions } from './amqp-options.ts';
import { delayTierMs, delayTierQueueName } from './delay-tiers.ts';

export interface AmqpListenerOptions {
  /** Drops (acks without calling the target) payloads for which it returns false. */
  readonly payloadFilter?: (payload: unknown) => boolean;
  /** `json` (default) parses the body; `raw` passes the bytes. */
  readonly format?: PayloadFormat;
  /** Extra queue arguments (x-queue-type: quorum, x-delivery-limit...), also given to the dead-letter queue. */
  readonly queueArguments?: Record<string, unknown>;
  /** Connection options; default the service config's `amqp` key. */
  readonly amqp?: AmqpOptions;
}

/** Where a listener's queue gets its messages from. */
export interface AmqpBinding {
  readonly exchange: string;
  readonly exchangeType: string;
  readonly routingKey: string;
}

/**
 * Consumes one durable queue with manual acks and a prefetch of the context's maxWorkers. A message
 * is acked only once its route finished (success, callback done, retry confirmed on a delay queue, or
 * dead letter confirmed on `<queue>.dlq`); a stopped route's message is rejected with requeue. After a
 * connection loss the queue is declared and consumed again.
 */
export abstract class AmqpListener extends Entrypoint {
  readonly #options: AmqpListenerOptions;
  #connection: AmqpConnection | undefined;
  #detach: (() => void) | undefined;
  #channel: Channel | undefined;
  #consumerTag: string | undefined;
  /** Acks of the current channel, coalesced per event-loop turn. */
  #acks: AmqpAckWindow | undefined;
  #stopping = false;
  readonly #declaredTiers = new WeakMap<ChannelModel, Set<number>>();
  #model: ChannelModel | undefined;

  protected constructor(options: AmqpListenerOptions) {
    super();
    this.#options = options;
  }

  /** The queue this listener consumes. */
  abstract get queueName(): string;

  /** The exchange binding that feeds the queue, if any. */
  protected abstract get binding(): AmqpBinding | undefined;

  /** The channel name recorded in dead letters: exchange/routing key, or the queue. */
  get channelName(): string {
    const binding = this.binding;
    return binding ? `${binding.exchange}/${binding.routingKey}` : this.queueName;
  }

  get deadLetterQueueName(): string {
    return `${this.queueName}.dlq`;
  }

  get connection(): AmqpConnection {
    if (!this.#connection) throw new ConfigurationError(`${this.constructor.name} is not set up`);
    return this.#connection;
  }

  override async setup(): Promise<void> {
    this.#connection = await sharedAmqpConnection(this.context, this.#options.amqp);
  }

  override async start(): Promise<void> {
    this.#detach = await this.connection.attach((model) => this.#consume(model));
  }

  /** Cancels the consumer, drains in-flight calls (up to the timeout), then closes the channel. */
  override async stop(options: StopOptions = {}): Promise<void> {
    this.#stopping = true;
    this.#detach?.();
    const channel = this.#channel;
    if (channel && this.#consumerTag) await channel.cancel(this.#consumerTag).catch(() => undefined);
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
    this.#acks?.flush();
    this.#channel = undefined;
    await channel?.close().catch(() => undefined);
  }

  /**
   * Publishes the original message to the delay queue of its tier, which dead-letters it back to this
   * queue when due; resolves once RabbitMQ confirmed. The original is acked after that.
   */
  override async scheduleRetry(entryId: unknown, retry: RetryState, delayMs: number): Promise<void> {
    const message = entryId as ConsumeMessage;
    const tier = delayTierMs(delayMs);
    const queue = delayTierQueueName(this.queueName, tier);
    const model = this.#model;
    if (!model) throw new ConfigurationError(`${this.queueName}: no connection to declare the delay queue`);
    await this.#declareTier(model, tier);
    await this.connection.publish('', queue, message.content, {
      ...message.properties,
      headers: writeRetryHeaders(headersFromAmqp(message.properties.headers), retry),
      persistent: true,
    });
  }

  /** Declares the exchange, the queue, its binding and its dead-letter queue on a channel. */
  protected async declareTopology(channel: Channel): Promise<void> {
    const args = this.#options.queueArguments;
    await channel.assertQueue(this.queueName, { durable: true, arguments: args });
    await channel.assertQueue(this.deadLetterQueueName, { durable: true, arguments: args });
    const binding = this.binding;
    if (binding) {
      await channel.assertExchange(binding.exchange, binding.exchangeType, { durable: true });
      await channel.bindQueue(this.queueName, binding.exchange, binding.routingKey);
    }
  }

  async #declareTier(model: ChannelModel, tier: number): Promise<void> {
    let declared = this.#declaredTiers.get(model);
    if (!declared) this.#declaredTiers.set(model, (declared = new Set()));
    if (declared.has(tier)) return;
    const channel = await model.createChannel();
    try {
      await channel.assertQueue(delayTierQueueName(this.queueName, tier), {
        durable: true,
        arguments: {
          'x-message-ttl': tier,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': this.queueName,
          // A tier nobody used for a day disappears (only once empty of consumers and unused).
          'x-expires': tier + 24 * 3_600_000,
        },
      });
      declared.add(tier);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  async #consume(model: ChannelModel): Promise<void> {
    if (this.#stopping) return;
    this.#model = model;
    const channel = await model.createChannel();
    channel.on('error', () => undefined);
    channel.on('close', () => {
      if (this.#channel === channel) this.#channel = undefined;
    });
    await this.declareTopology(channel);
    await channel.prefetch(this.#options.amqp?.prefetch ?? this.context.config.maxWorkers);
    const acks = new AmqpAckWindow(channel);
    this.#acks = acks;
    const { consumerTag } = await channel.consume(this.queueName, (message) => {
      if (!message) return;
      acks.delivered(message);
      void this.#handle(channel, acks, message);
    });
    this.#channel = channel;
    this.#consumerTag = consumerTag;
  }

  async #handle(channel: Channel, acks: AmqpAckWindow, message: ConsumeMessage): Promise<void> {
    const settle = (action: 'ack' | 'requeue'): void => {
      try {
        if (action === 'ack') acks.ack(message);
        else {
          acks.settledElsewhere(message);
          channel.reject(message, true);
        }
      } catch {
        // The channel closed: RabbitMQ requeues the message by itself.
      }
    };
    try {
      const outcome = await this.deliver(message, {
        body: message.content,
        headers: headersFromAmqp(message.properties.headers),
        channel: this.channelName,
        format: this.#options.format,
        payloadFilter: this.#options.payloadFilter,
        meta: { redelivered: message.fields.redelivered },
      });
      if (outcome.action === 'give-back') {
        settle('requeue');
        return;
      }
      if (outcome.action === 'dead-letter') await this.#deadLetter(message, outcome.headers);
      settle('ack');
    } catch {
      // The dead letter could not be confirmed: give the message back rather than lose it.
      settle('requeue');
    }
  }

  /** Publishes the body to `<queue>.dlq` with the described headers plus where it came from; resolves once confirmed. */
  async #deadLetter(message: ConsumeMessage, described: Headers): Promise<void> {
    const binding = this.binding;
    const headers: Headers = { ...described, 'x-original-queue': this.queueName };
    if (binding) {
      headers['x-original-exchange'] = binding.exchange;
      headers['x-original-routing-key'] = message.fields.routingKey;
    }
    await this.connection.publish('', this.deadLetterQueueName, message.content, { ...message.properties, headers, persistent: true });
  }
}
