import {
  ConfigurationError,
  Entrypoint,
  RetryHeader,
  defaultStopTimeoutMs,
  messageFingerprint,
  writeRetryHeaders,
  type DeadLetterCopy,
  type IncomingMessage,
  type PayloadFormat,
  type RetryState,
  type Settlement,
  type StopOptions,
} from '@micro-framework/core';
import type { Channel, ChannelModel, ConsumeMessage, MessageProperties, Options } from 'amqplib';
import { AmqpAckWindow } from './ack-window.ts';
import { PublishError, sharedAmqpConnection, type AmqpConnection } from './amqp-connection.ts';
import { headersFromAmqp } from './amqp-headers.ts';
import { type AmqpOptions } from './amqp-options.ts';
import { delayTierMs, delayTierQueueName } from './delay-tiers.ts';
import { declareExchange, type ExchangeDeclaration } from './exchange-declaration.ts';
import { QueueConsumer } from './queue-consumer.ts';

export interface AmqpListenerOptions {
  /** Drops (acks without calling the target) payloads for which it returns false; a throw dead-letters the message (reason `filter`). */
  readonly payloadFilter?: (payload: unknown) => boolean;
  /** `json` (default) parses the body; `raw` passes the bytes. */
  readonly format?: PayloadFormat;
  /** Extra arguments of the listener's queue (x-queue-type: quorum, x-delivery-limit, x-expires...). */
  readonly queueArguments?: Record<string, unknown>;
  /** Arguments of its dead-letter queue `<queue>.dlq` (none by default: it does not inherit queueArguments). */
  readonly deadLetterQueueArguments?: Record<string, unknown>;
  /** Connection options; default the service config's `amqp` key. */
  readonly amqp?: AmqpOptions;
}

/** Where a listener's queue gets its messages from: an exchange (declared if missing) and a routing key. */
export interface AmqpBinding extends ExchangeDeclaration {
  readonly routingKey: string;
}

/** A tier queue nobody used for this long is deleted by RabbitMQ (x-expires, on top of the tier's own delay). */
const tierLeaseMs = 24 * 3_600_000;
/** A tier is declared again (renewing its lease) before a retry when its last declaration is older than this. */
const tierRenewMs = 3_600_000;

/**
 * Consumes one durable queue with manual acks and a prefetch of the context's maxWorkers, and carries
 * out core's decision for each message: ack once its route finished; a retry or a dead letter is
 * published mandatory and acked only once RabbitMQ confirmed it took it (a returned or unconfirmed
 * one hands the message back instead); a hand-back is a reject with requeue. After a connection loss,
 * and when RabbitMQ cancels the consumer (the queue was deleted) or closes its channel, the queue is
 * declared and consumed again (see QueueConsumer); the listener is not ready in between.
 */
export abstract class AmqpListener extends Entrypoint<ConsumeMessage> {
  readonly #options: AmqpListenerOptions;
  #connection: AmqpConnection | undefined;
  #consumer: QueueConsumer | undefined;
  /** Acks of the current channel, coalesced per event-loop turn. */
  #acks: AmqpAckWindow | undefined;
  /** When each delay tier was last declared on the current connection. */
  #tiersDeclared = new Map<number, number>();
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

  override get messagingSystem(): string {
    return 'rabbitmq';
  }

  /** The connection options given to this listener (empty: the service config's). */
  protected get amqpOptions(): AmqpOptions {
    return this.#options.amqp ?? {};
  }

  override readiness(): string | undefined {
    if (!this.#connection?.isConnected) return 'no connection to RabbitMQ';
    return this.#consumer ? this.#consumer.readiness() : `not consuming ${this.queueName}`;
  }

  override brokerNames(): Record<string, unknown> {
    const binding = this.binding;
    return {
      queue: this.queueName,
      deadLetterQueue: this.deadLetterQueueName,
      ...(binding ? { exchange: binding.exchange, routingKey: binding.routingKey } : {}),
    };
  }

  get connection(): AmqpConnection {
    if (!this.#connection) throw new ConfigurationError(`${this.constructor.name} is not set up`);
    return this.#connection;
  }

  override async setup(): Promise<void> {
    this.#connection = await sharedAmqpConnection(this.context, this.#options.amqp);
  }

  /** Declares the topology and consumes, now and after every reconnection or loss of the consumer. */
  override async start(): Promise<void> {
    this.#consumer = new QueueConsumer({
      connection: this.connection,
      queue: this.queueName,
      declare: (model) => this.#declare(model),
      onChannel: (channel) => this.#deliveries(channel),
      prefetch: this.#options.amqp?.prefetch ?? this.context.config.maxWorkers,
      // The delay tiers may be gone with the queue: each is declared again before its next retry.
      onLost: () => {
        this.#tiersDeclared = new Map();
      },
      telemetry: this.runner.telemetry,
    });
    await this.#consumer.start();
  }

  /** Cancels the consumer (its renewal after a reconnection, and a restart after a loss): RabbitMQ sends no more messages. */
  override async stopIntake(): Promise<void> {
    await this.#consumer?.cancel();
  }

  /** Stops intake, drains in-flight deliveries (up to the timeout), sends their acks, then closes the channel. */
  override async stop(options: StopOptions = {}): Promise<void> {
    await this.stopIntake();
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
    this.#acks?.flush();
    await this.#consumer?.close();
  }

  /**
   * Publishes the original message (its headers with their AMQP types, plus the retry state) to the
   * delay queue of its tier, which dead-letters it back to this queue when due. Resolves once
   * RabbitMQ confirmed a queue took it; the original is acked after that.
   */
  override async scheduleRetry(message: ConsumeMessage, retry: RetryState, delayMs: number): Promise<void> {
    const tier = delayTierMs(delayMs);
    const headers = { ...message.properties.headers, ...writeRetryHeaders({}, retry) };
    await this.#publishToQueue(delayTierQueueName(this.queueName, tier), message, headers, (force) => this.#declareTier(tier, force));
  }

  /** Declares the exchange, the queue, its binding and its dead-letter queue (`channel` is a short-lived one). */
  protected async declareTopology(channel: Channel): Promise<void> {
    await channel.assertQueue(this.queueName, { durable: true, arguments: this.#options.queueArguments });
    await this.#declareDeadLetterQueue();
    const binding = this.binding;
    if (binding) await this.#bind(binding);
  }

  /**
   * Declares the exchange and binds the queue to it, on short-lived channels. An auto-delete exchange
   * may vanish between the two (another queue's last binding went): the bind then fails with 404,
   * and both are done again, a few times.
   */
  async #bind(binding: AmqpBinding): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      await declareExchange(() => this.#openChannel(), binding);
      try {
        await this.#withChannel((channel) => channel.bindQueue(this.queueName, binding.exchange, binding.routingKey));
        return;
      } catch (error) {
        if ((error as { code?: unknown }).code !== 404 || attempt >= 5) throw error;
      }
    }
  }

  /**
   * Declares `<queue>.dlq` with deadLetterQueueArguments when it does not exist. An existing one is
   * kept as it is (one declared by an older version with the main queue's arguments keeps working).
   */
  async #declareDeadLetterQueue(): Promise<void> {
    const exists = await this.#withChannel((channel) => channel.checkQueue(this.deadLetterQueueName)).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await this.#withChannel((channel) =>
        channel.assertQueue(this.deadLetterQueueName, { durable: true, arguments: this.#options.deadLetterQueueArguments }),
      );
    }
  }

  /**
   * Publishes a copy of `message` with `headers` to `queue` through the default exchange, mandatory.
   * `declare(false)` runs first (it may skip a recent declaration); when RabbitMQ returns the message
   * because the queue is gone, `declare(true)` declares it again and the copy is published once more.
   */
  async #publishToQueue(
    queue: string,
    message: ConsumeMessage,
    headers: Record<string, unknown>,
    declare: (force: boolean) => Promise<void>,
  ): Promise<void> {
    const properties = republished(message.properties, headers);
    await declare(false);
    try {
      await this.connection.publish('', queue, message.content, properties);
    } catch (error) {
      if (!(error instanceof PublishError && error.reason === 'unroutable')) throw error;
      await declare(true);
      await this.connection.publish('', queue, message.content, properties);
    }
  }

  /** Declares a delay tier unless it was declared on this connection within tierRenewMs (each declaration renews its lease). */
  async #declareTier(tier: number, force: boolean): Promise<void> {
    const declaredAt = this.#tiersDeclared.get(tier);
    if (!force && declaredAt !== undefined && Date.now() - declaredAt < tierRenewMs) return;
    await this.#withChannel((channel) =>
      channel.assertQueue(delayTierQueueName(this.queueName, tier), {
        durable: true,
        arguments: {
          'x-message-ttl': tier,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': this.queueName,
          'x-expires': tier + tierLeaseMs,
        },
      }),
    );
    this.#tiersDeclared.set(tier, Date.now());
  }

  /** A new channel on the current connection. */
  async #openChannel(): Promise<Channel> {
    const model = this.#model;
    if (!model) throw new PublishError(`${this.queueName}: no connection to declare on`, 'closed');
    return model.createChannel();
  }

  /** Runs `declare` on a short-lived channel of the current connection (a failed declaration closes only it). */
  async #withChannel(declare: (channel: Channel) => Promise<unknown>): Promise<void> {
    const channel = await this.#openChannel();
    channel.on('error', () => undefined);
    try {
      await declare(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Declares the topology on `model`, the connection about to be consumed on, before each consume. */
  async #declare(model: ChannelModel): Promise<void> {
    if (this.#model !== model) this.#tiersDeclared = new Map();
    this.#model = model;
    await this.#withChannel((channel) => this.declareTopology(channel));
  }

  /** What handles the deliveries of a channel consumed on: its own ack window and settlement. */
  #deliveries(channel: Channel): (message: ConsumeMessage) => void {
    const acks = new AmqpAckWindow(channel);
    this.#acks = acks;
    const settlement: Settlement<ConsumeMessage> = {
      giveBackDelay: 'process',
      ack: (message) => acks.ack(message),
      deadLetter: (message, copy) => this.#deadLetter(message, copy),
      giveBack: (message) => {
        acks.settledElsewhere(message);
        channel.reject(message, true);
      },
    };
    return (message) => {
      acks.delivered(message);
      void this.deliver(message, this.#incoming(message), settlement);
    };
  }

  #incoming(message: ConsumeMessage): IncomingMessage {
    const headers = headersFromAmqp(message.properties.headers);
    return {
      body: message.content,
      headers,
      // Quorum queues raise x-delivery-count on every redelivery: leave it out of the identity.
      id: () => {
        const { 'x-delivery-count': _count, ...stable } = headers;
        return messageFingerprint(this.channelName, stable, message.content);
      },
      channel: this.channelName,
      format: this.#options.format,
      payloadFilter: this.#options.payloadFilter,
      meta: { redelivered: message.fields.redelivered },
    };
  }

  /**
   * Publishes the body to `<queue>.dlq` with its own headers (AMQP types kept, retry headers dropped),
   * the dead-letter description and where it came from; resolves once RabbitMQ confirmed.
   */
  async #deadLetter(message: ConsumeMessage, copy: DeadLetterCopy): Promise<void> {
    const headers: Record<string, unknown> = { ...message.properties.headers };
    for (const name of Object.values(RetryHeader)) delete headers[name];
    Object.assign(headers, copy.description, { 'x-original-queue': this.queueName });
    const binding = this.binding;
    if (binding) {
      headers['x-original-exchange'] = binding.exchange;
      headers['x-original-routing-key'] = message.fields.routingKey;
    }
    await this.#publishToQueue(this.deadLetterQueueName, message, headers, async (force) => {
      if (force) await this.#declareDeadLetterQueue();
    });
  }
}

/**
 * The properties of a republished copy: the original's, persistent, with `headers`, without a
 * per-message expiration (a copy parked in a delay or dead-letter queue must not expire there) and
 * without `userId` (RabbitMQ refuses a user id other than the publishing connection's, closing the
 * channel).
 */
function republished(properties: MessageProperties, headers: Record<string, unknown>): Options.Publish {
  const { expiration: _expiration, headers: _headers, deliveryMode: _deliveryMode, userId: _userId, ...kept } = properties;
  const defined = Object.fromEntries(Object.entries(kept).filter(([, value]) => value !== undefined));
  return { ...defined, headers, persistent: true, mandatory: true };
}
