import {
  CoalescedSettler,
  ConfigurationError,
  ConsumerSupervisor,
  DeliveryLimitReached,
  Entrypoint,
  defaultStopTimeoutMs,
  listenerTargetName,
  type DeadLetterCopy,
  type IncomingMessage,
  type PayloadFormat,
  type RetryState,
  type Settlement,
  type StopOptions,
} from '@micro-framework/core';
import { AckPolicy, DeliverPolicy, type ConsumerConfig, type ConsumerMessages, type JsMsg, type StreamConfig } from '@nats-io/jetstream';
import { sharedNatsConnection, type NatsConnectionExtension } from './nats-connection.ts';
import { headersToNats, readNatsHeaders } from './nats-headers.ts';
import { natsName, type NatsOptions } from './nats-options.ts';
import { RetryStateStore } from './retry-state-store.ts';

export interface JetStreamListenerOptions {
  /** The stream to consume; created with `subjects` if it does not exist (an existing one is left as is). */
  readonly stream: string;
  readonly subjects: readonly string[];
  /** Durable consumer name; default `<service>-<target>`. Instances of one service share it. */
  readonly consumerName?: string;
  /** Subject filter of the consumer; default the only subject when there is one. */
  readonly filterSubject?: string;
  /** Drops (acks without calling the target) payloads for which it returns false; a throw dead-letters the message (reason `filter`). */
  readonly payloadFilter?: (payload: unknown) => boolean;
  readonly format?: PayloadFormat;
  /** How long a delivery may stay unacked before redelivery; slow calls extend it. Default 30 s. */
  readonly ackWaitMs?: number;
  /**
   * The consumer's max_ack_pending, shared by every instance (set when the consumer is created).
   * Each instance pulls at most its context's maxWorkers at a time. Default max(1000, maxWorkers).
   */
  readonly maxAckPending?: number;
  /** Deliveries per message (the consumer's max_deliver); default unlimited: the backoff decides. */
  readonly maxDeliver?: number;
  /** Further consumer settings (say inactive_threshold). */
  readonly consumerConfig?: Partial<ConsumerConfig>;
  /** Settings of the stream if this listener creates it. */
  readonly streamConfig?: Partial<StreamConfig>;
  readonly nats?: NatsOptions;
}

const nanos = (ms: number): number => Math.round(ms * 1_000_000);

/**
 * Consumes a JetStream durable pull consumer with explicit acks, pulling at most the context's
 * maxWorkers messages at a time, and carries out core's decision for each message: ack once its
 * route finished (a slow call keeps its delivery alive with `working()`); a hand-back is a nak, with
 * core's delay when the service failed to settle it, at once when the route is stopping; NatsBackoff
 * retries are naks with the interval as delay. Dead letters go to stream `<stream>-dead-letters` on
 * subject `dead-letter.<stream>.<consumer>`, then the original is acked. A consume loop that ends
 * (the consumer was deleted, the connection closed) is started again, re-creating the consumer.
 */
export class JetStreamListener extends Entrypoint<JsMsg> {
  readonly stream: string;
  readonly #options: JetStreamListenerOptions;
  #connection: NatsConnectionExtension | undefined;
  #messages: ConsumerMessages | undefined;
  #store: RetryStateStore | undefined;
  #unwatch: (() => void) | undefined;
  /** Messages whose route is running; one timer sends working() for all of them. */
  readonly #inFlight = new Set<JsMsg>();
  #keepAlive: NodeJS.Timeout | undefined;
  readonly #abandoned = new WeakSet<JsMsg>();
  #slotFreed: Array<() => void> = [];
  /** Acks of the messages finished in one event-loop turn go out together. */
  readonly #acks = new CoalescedSettler();
  #supervisor: ConsumerSupervisor | undefined;
  /** True once a consume loop ran: a restart re-creates the consumer first (it may have been deleted). */
  #consumed = false;
  readonly #settlement: Settlement<JsMsg> = {
    giveBackDelay: 'broker',
    ack: (message) => {
      if (!this.#abandoned.has(message)) this.#acks.defer(() => message.ack());
    },
    deadLetter: (message, copy) => this.#deadLetter(message, copy),
    giveBack: (message, delayMs) => {
      if (!this.#abandoned.has(message)) message.nak(delayMs > 0 ? delayMs : undefined);
    },
  };

  constructor(options: JetStreamListenerOptions) {
    super();
    if (options.subjects.length === 0) throw new ConfigurationError('JetStreamListener needs at least one subject');
    this.stream = options.stream;
    this.#options = options;
  }

  /** Default `<service>-<target>-<filter subject>`: routes of one service on different subjects never share a consumer. */
  get consumerName(): string {
    if (this.#options.consumerName) return natsName(this.#options.consumerName);
    const filter = this.#filterSubject;
    const base = `${this.context.config.serviceName}-${listenerTargetName(this.route)}`;
    return natsName(filter ? `${base}-${filter}` : base);
  }

  get #filterSubject(): string | undefined {
    return this.#options.filterSubject ?? (this.#options.subjects.length === 1 ? this.#options.subjects[0] : undefined);
  }

  override get messagingSystem(): string {
    return 'nats';
  }

  /** The consumer's filter subject, or the stream when it has several: subjects may carry ids. */
  override get destinationTemplate(): string {
    return this.#filterSubject ?? this.#options.stream;
  }

  override readiness(): string | undefined {
    if (!this.#connection?.isConnected) return 'no connection to NATS';
    if (!this.#messages) return `consumer ${this.consumerName} is not pulling`;
    return undefined;
  }

  override brokerNames(): Record<string, unknown> {
    return { stream: this.stream, subjects: this.#options.subjects, consumer: this.consumerName, deadLetterStream: this.deadLetterStream, deadLetterSubject: this.deadLetterSubject };
  }

  get deadLetterStream(): string {
    return `${this.stream}-dead-letters`;
  }

  get deadLetterSubject(): string {
    return `dead-letter.${this.stream}.${this.consumerName}`;
  }

  get #ackWaitMs(): number {
    return this.#options.ackWaitMs ?? 30_000;
  }

  get #conn(): NatsConnectionExtension {
    if (!this.#connection) throw new ConfigurationError('JetStreamListener is not set up');
    return this.#connection;
  }

  override async setup(): Promise<void> {
    this.#connection = await sharedNatsConnection(this.context, this.#options.nats);
    await this.#ensureStream(this.stream, [...this.#options.subjects], this.#options.streamConfig);
    await this.#ensureStream(this.deadLetterStream, [`dead-letter.${this.stream}.>`], {});
    await this.#ensureConsumer();
    this.#store = new RetryStateStore(this.#conn.jetstream);
    // A connection nats.js closed for good is replaced (see NatsConnectionExtension.onReopen): the
    // consume loop restarts on the new one by itself; the retry store follows it.
    this.#unwatch ??= this.#conn.onReopen(() => {
      this.#store = new RetryStateStore(this.#conn.jetstream);
    });
  }

  override async start(): Promise<void> {
    // Every third of the ack wait, tell JetStream that each running message is still being worked on.
    this.#keepAlive = setInterval(() => {
      for (const message of this.#inFlight) message.working();
    }, Math.max(100, this.#ackWaitMs / 3));
    this.#supervisor = new ConsumerSupervisor({ start: (signal) => this.#consume(signal), name: `${this.stream}/${this.consumerName}`, telemetry: this.runner.telemetry });
    await this.#supervisor.start();
  }

  /** Stops pulling and any restart of the consume loop; in-flight messages go on. */
  override async stopIntake(): Promise<void> {
    await this.#supervisor?.stop();
    const messages = this.#messages;
    this.#messages = undefined;
    messages?.stop();
    for (const wake of this.#slotFreed.splice(0)) wake();
  }

  /**
   * Stops intake, lets in-flight calls finish (up to the timeout) and acks them; calls still running
   * then are abandoned: their deliveries expire after ackWait and are redelivered, and their late
   * outcome is ignored.
   */
  override async stop(options: StopOptions = {}): Promise<void> {
    await this.stopIntake();
    this.#unwatch?.();
    this.#unwatch = undefined;
    const finished = await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
    this.#acks.flush();
    clearInterval(this.#keepAlive);
    if (!finished) {
      // Not nak'ed: NATS 2.9 forgets the delivery count of a message nak'ed after its pull stopped.
      // Without working() the delivery expires after ackWait and comes back marked as redelivered.
      for (const message of this.#inFlight) this.#abandoned.add(message);
      this.#inFlight.clear();
    }
  }

  /**
   * Pulls from the durable consumer (re-created first if it was deleted) and hands each message to a
   * worker slot; when the loop ends while the listener runs, the supervisor starts it again.
   */
  async #consume(signal: AbortSignal): Promise<void> {
    if (this.#consumed) await this.#ensureConsumer();
    const consumer = await this.#conn.jetstream.consumers.get(this.stream, this.consumerName);
    const limit = this.context.config.maxWorkers;
    // Ask again once a quarter of the limit is left, for the other three quarters: nats.js's default
    // asks once three quarters are left, four pull requests (and writes) per `limit` messages instead of 1⅓.
    const messages = await consumer.consume({ max_messages: limit, threshold_messages: Math.max(1, Math.floor(limit / 4)), abort_on_missing_resource: true });
    if (signal.aborted) {
      messages.stop();
      return;
    }
    this.#messages = messages;
    this.#consumed = true;
    void (async () => {
      let ended: unknown;
      try {
        for await (const message of messages) {
          void this.#handle(message);
          // Take the next message only when a worker slot is free: in-flight work stays bounded.
          while (this.#inFlight.size >= limit && this.#messages === messages) {
            await new Promise<void>((resolve) => this.#slotFreed.push(resolve));
          }
        }
      } catch (error) {
        // The consumer or the connection is gone: start again below.
        ended = error;
      }
      if (this.#messages === messages) {
        this.#messages = undefined;
        this.#supervisor?.lost(ended);
      }
    })();
  }

  /** Stores the retry state, then naks the message with the delay; JetStream redelivers it when due. */
  override async scheduleRetry(message: JsMsg, retry: RetryState, delayMs: number): Promise<void> {
    const maxDeliver = this.#options.maxDeliver ?? -1;
    if (maxDeliver > 0 && message.info.deliveryCount >= maxDeliver) {
      throw new DeliveryLimitReached(`max_deliver ${maxDeliver} reached for ${this.stream} #${message.seq}`);
    }
    await this.#store?.put(this.#retryKey(message), retry);
    message.nak(Math.max(0, Math.round(delayMs)));
  }

  /**
   * Creates the durable consumer, or checks the existing one. An existing consumer is updated only
   * when its ack wait or max deliver differ: NATS 2.9 forgets the delivery counts of pending messages
   * on an update, so instances with different maxWorkers do not rewrite it.
   */
  async #ensureConsumer(): Promise<void> {
    const jsm = await this.#conn.manager();
    const filter = this.#filterSubject;
    const wanted: Partial<ConsumerConfig> = {
      durable_name: this.consumerName,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: this.#options.maxAckPending ?? Math.max(1_000, this.context.config.maxWorkers),
      ack_wait: nanos(this.#ackWaitMs),
      max_deliver: this.#options.maxDeliver ?? -1,
      ...(filter ? { filter_subject: filter } : {}),
      ...this.#options.consumerConfig,
    };
    const existing = await jsm.consumers.info(this.stream, this.consumerName).catch(() => undefined);
    if (!existing) {
      await jsm.consumers.add(this.stream, wanted).catch(async (error: unknown) => {
        if (!(await jsm.consumers.info(this.stream, this.consumerName).catch(() => undefined))) throw error;
      });
      return;
    }
    if ((existing.config.filter_subject ?? undefined) !== filter) {
      throw new ConfigurationError(
        `consumer ${this.consumerName} of ${this.stream} filters "${existing.config.filter_subject ?? ''}", not "${filter ?? ''}": give the listener another consumerName`,
      );
    }
    if (existing.config.ack_wait !== wanted.ack_wait || (existing.config.max_deliver ?? -1) !== wanted.max_deliver) {
      await jsm.consumers.update(this.stream, this.consumerName, { ack_wait: wanted.ack_wait, max_deliver: wanted.max_deliver });
    }
  }

  #retryKey(message: JsMsg): string {
    return RetryStateStore.key(natsName(this.stream), this.consumerName, message.seq);
  }

  async #ensureStream(name: string, subjects: string[], config: Partial<StreamConfig> | undefined): Promise<void> {
    const jsm = await this.#conn.manager();
    try {
      await jsm.streams.info(name);
    } catch {
      await jsm.streams.add({ name, subjects, ...config }).catch(async (error: unknown) => {
        // Another instance may have created it meanwhile.
        await jsm.streams.info(name).catch(() => {
          throw error;
        });
      });
    }
  }

  /** Hands one message to core and forgets its retry state once settled. Never rejects. */
  async #handle(message: JsMsg): Promise<void> {
    this.#inFlight.add(message);
    try {
      const { headers, unreadable } = readNatsHeaders(message);
      const { deliveryCount } = message.info;
      const incoming: IncomingMessage = {
        body: message.data,
        headers,
        unreadable,
        channel: message.subject,
        format: this.#options.format,
        payloadFilter: this.#options.payloadFilter,
        id: `${this.stream}:${message.seq}`,
        meta: { redelivered: deliveryCount > 1, deliveryCount, streamSequence: message.seq },
      };
      let stored: RetryState | undefined;
      if (deliveryCount > 1) {
        try {
          stored = await this.#store?.get(this.#retryKey(message));
        } catch (error) {
          // The retry state cannot be read now: a failure to settle like any other (counted, delayed).
          await this.handBackUnsettled(message, incoming, this.#settlement, error);
          return;
        }
      }
      const action = await this.deliver(message, stored ? { ...incoming, retry: stored } : incoming, this.#settlement);
      if (stored && (action === 'acked' || action === 'dead-lettered')) await this.#store?.delete(this.#retryKey(message));
    } catch {
      // Nothing above rejects; were it to, the message is redelivered after ackWait.
    } finally {
      this.#inFlight.delete(message);
      if (this.#slotFreed.length > 0) for (const wake of this.#slotFreed.splice(0)) wake();
    }
  }

  /** Publishes the body to the dead-letter subject with where it came from; resolves with the stream's ack. */
  async #deadLetter(message: JsMsg, copy: DeadLetterCopy): Promise<void> {
    const headers = {
      ...copy.headers,
      'x-original-subject': message.subject,
      'x-original-stream': this.stream,
      'x-stream-sequence': String(message.seq),
    };
    await this.#conn.jetstream.publish(this.deadLetterSubject, message.data, { headers: headersToNats(headers) });
  }
}
