import { ConsumerSupervisor, MicroFrameworkError, describeError, type Telemetry } from '@micro-framework/core';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { AmqpConnection } from './amqp-connection.ts';

/**
 * RabbitMQ ended a consumer on its own, or it could not be set up again: `how` says whether RabbitMQ
 * cancelled it (`cancelled`: its queue was deleted), closed its channel with an error
 * (`channelClosed`: the queue is still there), or a reconnection could not declare and consume it
 * (`setupFailed`: a queue re-declared with other arguments, an exclusive queue still locked).
 */
export class ConsumerLost extends MicroFrameworkError {
  readonly how: 'cancelled' | 'channelClosed' | 'setupFailed';

  constructor(message: string, how: ConsumerLost['how'], options: { cause?: unknown } = {}) {
    super(message, options);
    this.how = how;
  }
}

export interface QueueConsumerOptions {
  readonly connection: AmqpConnection;
  readonly queue: string;
  /** Declares the queue and what feeds it, before every consume (`model` is the connection's). */
  readonly declare: (model: ChannelModel) => Promise<void>;
  /** Called once per channel consumed on; returns what handles that channel's deliveries. */
  readonly onChannel: (channel: Channel) => (message: ConsumeMessage) => void;
  /** Prefetch of the channel; none (unlimited) when undefined. */
  readonly prefetch?: number;
  /** Consume without acks (reply queues). */
  readonly noAck?: boolean;
  /** Told when the consumer was lost (see ConsumerLost.how), before it is set up again. */
  readonly onLost?: (error: ConsumerLost) => void;
  /** Where consumerCrashed and consumerReplaced are reported. */
  readonly telemetry: Telemetry;
  /** First wait before consuming again after a loss; doubles per failed attempt. Default 500 ms. */
  readonly restartDelayMs?: number;
}

/** The channel consumed on, on which connection, and what handles its deliveries. */
interface Lane {
  readonly model: ChannelModel;
  readonly channel: Channel;
  readonly handle: (message: ConsumeMessage) => void;
  /** A consumer was started on it once: a later close with an error is a loss. */
  consumed: boolean;
}

/**
 * Consumes one queue, declared before each consume: on every (re)connection, and again when
 * RabbitMQ ends the consumer while the connection stays up, either by cancelling it (basic.cancel:
 * the queue was deleted, a quorum queue's leader moved) or by closing its channel with an error (a
 * delivery not acked within consumer_timeout). Such a loss makes the consumer not ready with the
 * reason, is reported as consumerCrashed, and a ConsumerSupervisor sets the consumer up again after
 * a growing delay (consumerReplaced). A cancel of our own (`cancel()`) is no loss. After a cancel by
 * the broker the channel is kept, so deliveries in flight are still acked on it.
 */
export class QueueConsumer {
  readonly #options: QueueConsumerOptions;
  readonly #supervisor: ConsumerSupervisor;
  #detach: (() => void) | undefined;
  /** The connection consumed on last. */
  #model: ChannelModel | undefined;
  #lane: Lane | undefined;
  #tag: string | undefined;
  /** Why the consumer is not running while it should, from a loss until it consumes again. */
  #lost: string | undefined;
  #stopping = false;
  #closed = false;
  /** Consumes one at a time: a reconnection and a restart never set up two consumers. */
  #serial: Promise<void> = Promise.resolve();
  readonly #recoveryWaiters = new Set<() => void>();

  constructor(options: QueueConsumerOptions) {
    this.#options = options;
    this.#supervisor = new ConsumerSupervisor({
      start: (signal) => this.#serialized(() => this.#restart(signal)),
      minDelayMs: options.restartDelayMs,
      // Not ready with the last failure, not the loss that began the restarts.
      onRestartFailed: (error) => {
        if (!this.#stopping && this.#lost !== undefined) this.#lost = `could not consume ${this.queue} again: ${describeError(error).message}`;
      },
      name: options.queue,
      telemetry: options.telemetry,
    });
  }

  get queue(): string {
    return this.#options.queue;
  }

  /** True while a consumer runs on an open channel. */
  get isConsuming(): boolean {
    return this.#tag !== undefined && this.#lane !== undefined;
  }

  /** Why the consumer is not running (the broker ended it and it is being set up again), or undefined when it runs. */
  readiness(): string | undefined {
    if (this.isConsuming) return undefined;
    return this.#lost ?? `not consuming ${this.queue}`;
  }

  /** Why RabbitMQ ended the consumer, while it is being set up again; undefined otherwise. */
  get lost(): string | undefined {
    return this.#lost;
  }

  /**
   * Consumes now (rejects when that fails) and on every later connection. A failure on a later
   * connection never fails the connection's setup (other consumers and publishes share it): it is
   * reported as a loss and the supervisor tries again with its backoff.
   */
  async start(): Promise<void> {
    let starting = true;
    try {
      this.#detach = await this.#options.connection.attach(async (model) => {
        try {
          await this.#serialized(() => this.#consume(model));
        } catch (error) {
          // At start, or when the connection itself went meanwhile (its recovery runs this again).
          if (starting || !(await isOpen(model))) throw error;
          this.#lose(`could not consume ${this.queue} after a reconnection: ${describeError(error).message}`, 'setupFailed', error);
        }
      });
    } finally {
      starting = false;
    }
  }

  /**
   * Resolves true at once when the consumer was not lost, else once it consumes again; false when
   * `timeoutMs` passes first or the consumer is cancelled.
   */
  recovered(timeoutMs: number): Promise<boolean> {
    if (this.#lost === undefined) return Promise.resolve(true);
    if (this.#stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#recoveryWaiters.delete(wake);
        resolve(this.#lost === undefined && !this.#stopping);
      };
      const timer = setTimeout(wake, Math.max(0, timeoutMs));
      this.#recoveryWaiters.add(wake);
    });
  }

  /**
   * Stops taking messages: cancels the consumer, its renewal after a reconnection and a restart
   * pending after a loss (waiting for one under way). Deliveries in flight can still be acked until close().
   */
  async cancel(): Promise<void> {
    this.#stopping = true;
    this.#detach?.();
    this.#wakeRecoveryWaiters();
    const restart = this.#supervisor.stop();
    await this.#cancelConsumer();
    await restart;
  }

  /** Cancels, then closes the channel (unacked deliveries go back to the queue). */
  async close(): Promise<void> {
    await this.cancel();
    this.#closed = true;
    const lane = this.#lane;
    this.#lane = undefined;
    await lane?.channel.close().catch(() => undefined);
  }

  #serialized(work: () => Promise<void>): Promise<void> {
    const run = this.#serial.then(work);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  async #cancelConsumer(): Promise<void> {
    const lane = this.#lane;
    const tag = this.#tag;
    this.#tag = undefined;
    if (lane && tag) await lane.channel.cancel(tag).catch(() => undefined);
  }

  /** The supervisor's restart after a loss: consume again on the current connection. */
  async #restart(signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.#stopping) return;
    const model = this.#model;
    if (!model) throw new ConsumerLost(`no connection to consume ${this.queue} on`, 'setupFailed');
    await this.#consume(model);
  }

  /**
   * Declares, then consumes on `model`, on the channel of the last consumer when it is still open on
   * that connection (its deliveries in flight are acked there), else on a new one. Nothing to do when
   * a consumer already runs on `model` (a reconnection set it up before a pending restart).
   */
  async #consume(model: ChannelModel): Promise<void> {
    if (this.#stopping) return;
    if (this.isConsuming && this.#lane?.model === model) return;
    this.#model = model;
    await this.#options.declare(model);
    const lane = this.#lane?.model === model ? this.#lane : await this.#openLane(model);
    if (this.#options.prefetch !== undefined) await lane.channel.prefetch(this.#options.prefetch);
    // The tag is known once consume resolves; a cancel that comes first is handled then.
    const consumer: { tag?: string; cancelledEarly: boolean } = { cancelledEarly: false };
    const { consumerTag } = await lane.channel.consume(
      this.queue,
      (message) => {
        if (message) lane.handle(message);
        // amqplib calls with null only for the broker's basic.cancel, never for a cancel we sent.
        else if (consumer.tag === undefined) consumer.cancelledEarly = true;
        else this.#cancelledByBroker(consumer.tag);
      },
      { noAck: this.#options.noAck ?? false },
    );
    consumer.tag = consumerTag;
    lane.consumed = true;
    this.#tag = consumerTag;
    this.#lost = undefined;
    this.#wakeRecoveryWaiters();
    if (consumer.cancelledEarly) this.#cancelledByBroker(consumerTag);
    // A stop that began while this consumer was being set up (a reconnection) cancels it now, and
    // closes its channel when the stop is already over.
    if (this.#stopping) await this.#cancelConsumer();
    if (this.#closed && this.#lane === lane) {
      this.#lane = undefined;
      await lane.channel.close().catch(() => undefined);
    }
  }

  async #openLane(model: ChannelModel): Promise<Lane> {
    const channel = await model.createChannel();
    const lane: Lane = { model, channel, handle: this.#options.onChannel(channel), consumed: false };
    // The broker closing the channel with an error (not a lost connection: that closes it without one).
    channel.on('error', (error: Error) => {
      if (this.#lane === lane && lane.consumed) this.#lose(`channel of ${this.queue} closed by the broker (${describeError(error).message})`, 'channelClosed', error);
    });
    channel.on('close', () => {
      if (this.#lane !== lane) return;
      this.#lane = undefined;
      this.#tag = undefined;
    });
    this.#lane = lane;
    return lane;
  }

  #cancelledByBroker(tag: string): void {
    if (this.#tag !== tag) return;
    this.#tag = undefined;
    this.#lose(`consumer of ${this.queue} cancelled by the broker (queue deleted?)`, 'cancelled');
  }

  /** The consumer ended or could not be set up while it should run: not ready with `reason`, set up again by the supervisor. */
  #lose(reason: string, how: ConsumerLost['how'], cause?: unknown): void {
    if (this.#stopping) return;
    this.#lost = reason;
    const error = new ConsumerLost(reason, how, cause === undefined ? {} : { cause });
    this.#options.onLost?.(error);
    this.#supervisor.lost(error);
  }

  #wakeRecoveryWaiters(): void {
    for (const wake of [...this.#recoveryWaiters]) wake();
  }
}

/** Whether `model` still opens channels: a failure on it was the queue's, not the connection's. */
async function isOpen(model: ChannelModel): Promise<boolean> {
  try {
    const channel = await model.createChannel();
    await channel.close().catch(() => undefined);
    return true;
  } catch {
    return false;
  }
}
