import { AuthenticationFailed, DeadlineTimer, Extension, MicroFrameworkError, TlsHandshakeFailed, defaultTelemetry, summarizeError, type ConnectionLabels, type RunnerContext, type Telemetry } from '@micro-framework/core';
import { inspect } from 'node:util';
import amqplib, { type Channel, type ChannelModel, type ConfirmChannel, type Message, type Options, type RecoveringChannelModel } from 'amqplib';
import { amqpOptionsFromConfig, connectionKey, defaultAmqpUrl, redactUrl, type AmqpOptions } from './amqp-options.ts';
import { amqpConnectError, resolveAmqpConnection } from './amqp-security.ts';

/** Runs on every (re)connection with the fresh connection: declare topology, open channels, consume. */
export type ConnectionAttachment = (model: ChannelModel) => Promise<void>;

/**
 * A publish was not confirmed: RabbitMQ nacked it (`nack`), returned it because no queue took it
 * (`unroutable`, mandatory publishes), the channel closed first (`closed`), or no connection or
 * confirm came within publishTimeoutMs (`timeout`; the message says when RabbitMQ blocks the
 * connection under a resource alarm).
 */
export class PublishError extends MicroFrameworkError {
  readonly reason: 'nack' | 'unroutable' | 'closed' | 'timeout';

  constructor(message: string, reason: PublishError['reason'], options: { cause?: unknown } = {}) {
    super(message, options);
    this.reason = reason;
  }
}

/** Publish properties, and the lane to publish on. */
export interface AmqpPublishProperties extends Options.Publish {
  /**
   * Publish on a confirm channel of this name instead of the shared one: a publish RabbitMQ refuses
   * by closing its channel (an exchange that does not exist: 404) then fails only the publishes of
   * that lane, never the replies, retries and dead letters on the shared channel.
   */
  readonly lane?: string;
}

/** True for the failures no retry mends: the TLS handshake or the login was refused. */
function refused(error: unknown): error is TlsHandshakeFailed | AuthenticationFailed {
  return error instanceof TlsHandshakeFailed || error instanceof AuthenticationFailed;
}

/** Delay before reconnection attempt `attempt` (from 1): 100 ms doubling up to 2 s, ±20 % jitter. */
function reconnectDelay(attempt: number): number {
  const base = Math.min(2_000 / 1.2, 100 * 2 ** (attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}


/** A publish waiting for its confirm; `returned` is set when RabbitMQ returned its (mandatory) message. */
interface Unconfirmed {
  readonly channel: ConfirmChannel;
  readonly exchange: string;
  readonly routingKey: string;
  /** Exchange and routing key of a mandatory publish (returns are attributed by them), else undefined. */
  readonly key: string | undefined;
  /** When (performance.now()) the confirm must have come. */
  readonly deadline: number;
  readonly timeoutMs: number;
  returned: boolean;
  readonly resolve: () => void;
  readonly reject: (error: PublishError) => void;
}

/**
 * One recovering connection to RabbitMQ. After a drop it reconnects with backoff and runs every
 * attachment again (topology, consumers), so consumers resume without a restart. Publishes go through
 * a confirm channel: `publish` resolves once the broker confirmed, waits for the connection during an
 * outage, and rejects with PublishError when the confirm does not come within `publishTimeoutMs`
 * (naming the resource alarm when RabbitMQ blocked the connection), when RabbitMQ nacks it, or when a
 * mandatory message is returned unroutable. Never logs the password.
 *
 * The first connection fails fast on what no retry mends: a refused TLS handshake rejects `setup`
 * with TlsHandshakeFailed, refused credentials with AuthenticationFailed, at the first attempt.
 * Other failures (nothing listening, a timeout) are retried a few times at start-up, as before.
 * Once connected, every drop is retried without end; a refused handshake or login while
 * reconnecting is reported (connectionLost with the typed error) once per outage and kind.
 */
export class AmqpConnection extends Extension {
  readonly options: AmqpOptions;
  readonly #attachments = new Set<ConnectionAttachment>();
  #connection: RecoveringChannelModel | undefined;
  #model: ChannelModel | undefined;
  #publisher: ConfirmChannel | undefined;
  #waiters: Array<() => void> = [];
  #closing = false;
  #connecting: Promise<void> | undefined;
  readonly #returnListeners = new Set<(message: Message) => void>();
  /** Mandatory publishes awaiting their confirm, by exchange and routing key. */
  readonly #outstanding = new Map<string, Set<Unconfirmed>>();
  /** Every publish awaiting its confirm, and the one timer that fails them past their deadline. */
  readonly #unconfirmed = new Set<Unconfirmed>();
  readonly #confirmTimer = new DeadlineTimer((now) => this.#expireUnconfirmed(now));
  /** The latest deadline tracked, and whether every unconfirmed publish was tracked in deadline order. */
  #lastUnconfirmedDeadline = -Infinity;
  #unconfirmedInOrder = true;
  #reopening: Promise<void> | undefined;
  /** Confirm channels of their own, by lane name (see AmqpPublishProperties.lane), opened on first use. */
  readonly #lanes = new Map<string, Promise<ConfirmChannel>>();
  /** Why RabbitMQ blocked the connection (a resource alarm), while it does. */
  #blocked: string | undefined;
  /** The connection dropped and has not come back yet (reported once per drop). */
  #lost = false;
  #lastError: Error | undefined;
  /** Typed refusals already reported during the current outage (name and message). */
  readonly #reportedRefusals = new Set<string>();
  /** The last handshake or login refused during the current outage: the cause of a publish that times out meanwhile. */
  #lastRefusal: TlsHandshakeFailed | AuthenticationFailed | undefined;

  constructor(options: AmqpOptions = {}) {
    super();
    this.options = options;
  }

  /** The broker's URL for logs and messages: its user info shown as `***` (see redactUrl). */
  get url(): string {
    return redactUrl(this.options.url ?? defaultAmqpUrl);
  }

  /** What util.inspect shows: the redacted URL and the state, never the options (a URL may hold a password). */
  [inspect.custom](): string {
    return `AmqpConnection { url: '${this.url}', connected: ${this.isConnected} }`;
  }

  /** What JSON.stringify shows: the redacted URL and the state, never the options. */
  toJSON(): { url: string; connected: boolean } {
    return { url: this.url, connected: this.isConnected };
  }

  get isConnected(): boolean {
    return this.#publisher !== undefined;
  }

  /** Why RabbitMQ blocks publishing on this connection (say, "low on memory"), or undefined. */
  get blockedReason(): string | undefined {
    return this.#blocked;
  }

  /**
   * Connects (a few quick retries at start-up, unlimited once connected). Rejects if RabbitMQ is
   * unreachable; at once, without retrying, with TlsHandshakeFailed or AuthenticationFailed when
   * the handshake or the login is refused, and with a ConfigurationError (InsecureCredentials...)
   * before any attempt when the options are wrong.
   */
  override setup(): Promise<void> {
    this.#connecting ??= this.#connect().catch((error: unknown) => {
      this.#connecting = undefined;
      throw error;
    });
    return this.#connecting;
  }

  /** Calls `listener` with every mandatory message RabbitMQ could not route. Returns an unsubscribe. */
  onReturn(listener: (message: Message) => void): () => void {
    this.#returnListeners.add(listener);
    return () => this.#returnListeners.delete(listener);
  }

  async #connect(): Promise<void> {
    const resolved = await resolveAmqpConnection(this.options);
    let connectedOnce = false;
    let fatal: Error | undefined;
    const connection = await amqplib.connect(resolved.url, {
      ...resolved.socketOptions,
      recovery: {
        initialDelay: 100,
        maxDelay: 2_000,
        initialMaxRetries: 5,
        maxRetries: Infinity,
        // Resolve at once: the listeners below must be there before the first attempt.
        waitForConnect: false,
        // Throwing here ends amqplib's retries and rejects the first connection with that error.
        calculateDelay: (attempt: number) => {
          if (!connectedOnce && fatal) throw fatal;
          return reconnectDelay(attempt);
        },
        setup: (model: ChannelModel) => this.#onConnect(model),
      },
    });
    connection.on('connect-failed', (error: Error) => {
      const typed = amqpConnectError(error, resolved);
      if (!refused(typed)) return;
      if (!connectedOnce) fatal = typed;
      else this.#reportRefusal(typed);
    });
    connection.on('connect', () => {
      connectedOnce = true;
    });
    // Each reconnection re-reads the TLS files (a renewed CA or certificate), well before its attempt.
    connection.on('reconnect-scheduled', () => {
      if (connectedOnce) void resolved.renewTls?.().catch(() => undefined);
    });
    connection.on('error', (error: Error) => {
      if (!this.#closing) this.#lastError = error;
    });
    connection.on('disconnect', () => {
      if (!this.#closing && !this.#lost) {
        this.#lost = true;
        const error = this.#lastError;
        this.#telemetry().emit('connectionLost', { ...this.#labels(), ...(error ? { error: summarizeError(error) } : {}) });
      }
      this.#lastError = undefined;
      this.#model = undefined;
      this.#publisher = undefined;
      this.#lanes.clear();
      this.#blocked = undefined;
    });
    connection.on('blocked', (reason: unknown) => {
      this.#blocked = typeof reason === 'string' && reason.length > 0 ? reason : 'resource alarm';
    });
    connection.on('unblocked', () => {
      this.#blocked = undefined;
    });
    this.#connection = connection;
    try {
      await connection.waitForConnect();
    } catch (error) {
      if (this.#connection === connection) this.#connection = undefined;
      await connection.close().catch(() => undefined);
      throw amqpConnectError(error, resolved);
    }
  }

  /** Reports a refused handshake or login met while reconnecting, once per outage and kind (never a secret). */
  #reportRefusal(error: TlsHandshakeFailed | AuthenticationFailed): void {
    if (this.#closing) return;
    this.#lastRefusal = error;
    const key = `${error.name}\u0000${error.message}`;
    if (this.#reportedRefusals.has(key)) return;
    this.#reportedRefusals.add(key);
    this.#telemetry().emit('connectionLost', { ...this.#labels(), error: summarizeError(error) });
  }

  /** Closes the connection; unacked deliveries go back to their queues. */
  override async stop(): Promise<void> {
    this.#closing = true;
    this.#connecting = undefined;
    const connection = this.#connection;
    this.#connection = undefined;
    this.#model = undefined;
    this.#publisher = undefined;
    this.#lanes.clear();
    for (const wake of this.#waiters.splice(0)) wake();
    await connection?.close().catch(() => undefined);
  }

  /**
   * Registers work to run on this and every later connection (it runs now if connected). Returns a
   * function that unregisters it. A throwing attachment makes the connection retry.
   */
  async attach(attachment: ConnectionAttachment): Promise<() => void> {
    this.#attachments.add(attachment);
    if (this.#model) await attachment(this.#model);
    return () => this.#attachments.delete(attachment);
  }

  /** Opens a plain channel on the current connection, waiting for one like `publisher` does. Close it yourself. */
  async channel(): Promise<Channel> {
    await this.publisher();
    const model = this.#model;
    if (!model) throw new PublishError(`connection to ${this.url} dropped`, 'closed');
    return model.createChannel();
  }

  /** Resolves with a connected confirm channel, waiting during an outage up to `timeoutMs`. */
  async publisher(timeoutMs = this.options.publishTimeoutMs ?? 30_000): Promise<ConfirmChannel> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#publisher) {
      if (this.#closing) throw new PublishError(`connection to ${this.url} is closed`, 'closed');
      if (this.#model) this.#reopenPublisher(this.#model);
      const left = deadline - Date.now();
      if (left <= 0) throw new PublishError(`no connection to ${this.url} within ${timeoutMs} ms`, 'timeout', this.#lastRefusal ? { cause: this.#lastRefusal } : {});
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#publisher;
  }

  /**
   * Publishes and resolves once the broker confirmed (persistent, JSON content type unless given).
   * Rejects with PublishError when the broker nacks, when a `mandatory` message comes back unroutable,
   * when the channel closes first, or when no connection and confirm come within publishTimeoutMs.
   */
  async publish(exchange: string, routingKey: string, body: Uint8Array, publishOptions: AmqpPublishProperties = {}): Promise<void> {
    const timeoutMs = this.options.publishTimeoutMs ?? 30_000;
    // The confirm deadline on the monotonic clock: a wall-clock step moves no timeout.
    const deadline = performance.now() + timeoutMs;
    const lane = publishOptions.lane;
    const channel = lane === undefined ? (this.#publisher ?? (await this.publisher(timeoutMs))) : await this.#laneChannel(lane, timeoutMs);
    return this.#publishOn(channel, exchange, routingKey, body, publishOptions, timeoutMs, deadline);
  }

  /** Publishes on `channel` and settles once it is confirmed, nacked, returned, closed, or past `deadline`. */
  #publishOn(channel: ConfirmChannel, exchange: string, routingKey: string, body: Uint8Array, publishOptions: AmqpPublishProperties, timeoutMs: number, deadline: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const publish: Unconfirmed = {
        channel,
        exchange,
        routingKey,
        key: publishOptions.mandatory ? `${exchange}\u0000${routingKey}` : undefined,
        deadline,
        timeoutMs,
        returned: false,
        resolve,
        reject,
      };
      this.#track(publish);
      try {
        // `lane` is no publish property: amqplib reads only the ones it knows.
        channel.publish(exchange, routingKey, Buffer.from(body.buffer, body.byteOffset, body.byteLength), {
          persistent: true,
          contentType: 'application/json',
          ...publishOptions,
        }, (error: unknown) => {
          // amqplib fails the unconfirmed publishes of a channel that closes ("channel closed"): most
          // of them were enqueued, so `closed` (a retry may duplicate), never `nack`.
          if (error) {
            const nacked = error instanceof Error && error.message === 'message nacked';
            this.#settle(publish, nacked
              ? new PublishError(`broker did not confirm ${exchange}/${routingKey}`, 'nack', { cause: error })
              : new PublishError(`channel closed before ${exchange}/${routingKey} was confirmed (it may have been enqueued)`, 'closed', { cause: error }));
          }
          else if (publish.returned) this.#settle(publish, new PublishError(`no queue took ${exchange}/${routingKey} (returned unroutable)`, 'unroutable'));
          else this.#settle(publish);
        });
      } catch (error) {
        this.#settle(publish, new PublishError(`could not publish to ${exchange}/${routingKey}`, 'closed', { cause: error }));
      }
    });
  }

  /**
   * Records a publish awaiting its confirm: in the set the confirm timer sweeps (one timer for all
   * of them, armed for the earliest deadline) and, when mandatory, under its exchange and routing key
   * for #onReturned.
   */
  #track(publish: Unconfirmed): void {
    this.#unconfirmed.add(publish);
    if (publish.deadline < this.#lastUnconfirmedDeadline) this.#unconfirmedInOrder = false;
    else this.#lastUnconfirmedDeadline = publish.deadline;
    if (publish.key !== undefined) {
      let waiting = this.#outstanding.get(publish.key);
      if (!waiting) this.#outstanding.set(publish.key, (waiting = new Set()));
      waiting.add(publish);
    }
    this.#confirmTimer.schedule(publish.deadline);
  }

  /** Ends `publish` once: resolves it, or rejects it with `error`. */
  #settle(publish: Unconfirmed, error?: PublishError): void {
    if (!this.#unconfirmed.delete(publish)) return;
    if (publish.key !== undefined) {
      const waiting = this.#outstanding.get(publish.key);
      if (waiting?.delete(publish) && waiting.size === 0) this.#outstanding.delete(publish.key);
    }
    if (this.#unconfirmed.size === 0) {
      // No timer holds the process open, as no per-publish timer would; the order starts afresh.
      this.#confirmTimer.clear();
      this.#lastUnconfirmedDeadline = -Infinity;
      this.#unconfirmedInOrder = true;
    }
    if (error) publish.reject(error);
    else publish.resolve();
  }

  /** Fails every publish past its deadline with `timeout`; returns the earliest deadline left. */
  #expireUnconfirmed(now: number): number | undefined {
    let next: number | undefined;
    const expired: Unconfirmed[] = [];
    for (const publish of this.#unconfirmed) {
      if (publish.deadline <= now) expired.push(publish);
      else {
        if (next === undefined || publish.deadline < next) next = publish.deadline;
        // Tracked in deadline order (one publishTimeoutMs for all, the rule): the rest end later still.
        if (this.#unconfirmedInOrder) break;
      }
    }
    const blocked = this.#blocked ? `: RabbitMQ blocks the connection (${this.#blocked})` : '';
    for (const publish of expired) this.#settle(publish, new PublishError(`no confirm for ${publish.exchange}/${publish.routingKey} within ${publish.timeoutMs} ms${blocked}`, 'timeout'));
    return this.#unconfirmed.size === 0 ? undefined : next;
  }

  /** Fails the publishes still awaiting their confirm on `channel`, which closed (amqplib fails them first, as a rule). */
  #channelClosed(channel: ConfirmChannel): void {
    for (const publish of [...this.#unconfirmed]) {
      if (publish.channel === channel) this.#settle(publish, new PublishError(`channel closed before ${publish.exchange}/${publish.routingKey} was confirmed`, 'closed'));
    }
  }

  /**
   * A returned message is attributed to every mandatory publish to its exchange and routing key still
   * awaiting its confirm (RabbitMQ sends the return before that confirm): each then fails as
   * unroutable. When a return and an earlier routed publish race, the earlier one fails too and its
   * caller publishes again: a duplicate, never a loss.
   */
  #onReturned(message: Message): void {
    const waiting = this.#outstanding.get(`${message.fields.exchange}\u0000${message.fields.routingKey}`);
    for (const outstanding of waiting ?? []) outstanding.returned = true;
    for (const listener of this.#returnListeners) listener(message);
  }

  async #onConnect(model: ChannelModel): Promise<void> {
    // amqplib's recovery runs this setup before it listens for the new connection's errors: a socket
    // error or a heartbeat timeout now would be an uncaught exception (and the half-closed connection
    // would never finish closing). Listen first, and fail the setup of a connection that closed
    // meanwhile: amqplib would otherwise keep it as the live one, and nothing would reconnect.
    let lost: Error | undefined;
    model.on('error', (error: Error) => {
      if (!this.#closing) this.#lastError = error;
      lost ??= error;
    });
    model.once('close', (error?: Error) => {
      lost ??= error ?? new Error('the connection closed during its setup');
    });
    coalesceWrites(model);
    const publisher = await this.#openPublisher(model);
    for (const attachment of this.#attachments) await attachment(model);
    if (lost) throw lost;
    this.#model = model;
    this.#publisher = publisher;
    for (const wake of this.#waiters.splice(0)) wake();
    this.#reportedRefusals.clear();
    this.#lastRefusal = undefined;
    if (this.#lost) {
      this.#lost = false;
      this.#telemetry().emit('connectionRestored', this.#labels());
    }
  }

  /** The runner's telemetry when this connection belongs to a service, else the default logger's. */
  #telemetry(): Telemetry {
    return this.isBound ? this.runner.telemetry : defaultTelemetry();
  }

  #labels(): ConnectionLabels {
    return { adapter: 'amqp', broker: this.url };
  }

  /**
   * Opens the confirm channel publishes go through. A channel error (a publish to an exchange that
   * does not exist, say) closes only this channel: another one is opened on the same connection, so
   * one refused publish never stops every later one.
   */
  async #openPublisher(model: ChannelModel): Promise<ConfirmChannel> {
    const publisher = await model.createConfirmChannel();
    publisher.on('error', () => undefined);
    publisher.setMaxListeners(0);
    publisher.on('return', (message: Message) => this.#onReturned(message));
    publisher.on('close', () => {
      this.#channelClosed(publisher);
      if (this.#publisher !== publisher) return;
      this.#publisher = undefined;
      this.#reopenPublisher(model);
    });
    return publisher;
  }

  /**
   * The confirm channel of `lane`, opened on the current connection on first use (after waiting for
   * the connection like `publisher` does) and again after it closed.
   */
  async #laneChannel(lane: string, timeoutMs: number): Promise<ConfirmChannel> {
    await this.publisher(timeoutMs);
    const model = this.#model;
    if (!model) throw new PublishError(`connection to ${this.url} dropped`, 'closed');
    let opening = this.#lanes.get(lane);
    if (!opening) {
      opening = model.createConfirmChannel().then((channel) => {
        channel.on('error', () => undefined);
        channel.setMaxListeners(0);
        channel.on('return', (message: Message) => this.#onReturned(message));
        channel.on('close', () => {
          this.#channelClosed(channel);
          if (this.#lanes.get(lane) === opening) this.#lanes.delete(lane);
        });
        return channel;
      });
      this.#lanes.set(lane, opening);
      opening.catch(() => {
        if (this.#lanes.get(lane) === opening) this.#lanes.delete(lane);
      });
    }
    return opening;
  }

  /**
   * Opens another publisher on `model` when the last one closed while the connection stays up. One
   * attempt at a time; a failed one is tried again by the next publish that waits for a publisher.
   */
  #reopenPublisher(model: ChannelModel): void {
    if (this.#reopening || this.#closing || this.#model !== model || this.#publisher) return;
    this.#reopening = this.#openPublisher(model)
      .then(
        (reopened) => {
          if (this.#closing || this.#model !== model) {
            void reopened.close().catch(() => undefined);
            return;
          }
          this.#publisher = reopened;
          for (const wake of this.#waiters.splice(0)) wake();
        },
        // The connection itself may be going: recovery opens a new publisher with the next one.
        () => undefined,
      )
      .finally(() => {
        this.#reopening = undefined;
      });
  }
}

/** The parts of amqplib's connection coalesceWrites reaches: its frame multiplexer and its socket. */
interface MuxedConnection {
  readonly muxer?: { _readIncoming?: () => void };
  readonly stream?: { cork?: () => void; uncork?: () => void };
}

/**
 * Writes the frames amqplib's multiplexer sends in one pass (every channel's frames of an event-loop
 * turn: requests, replies, acks) with one socket write (writev) instead of one write per frame. The
 * bytes, their order and the backpressure (`write` still returns false past the high-water mark,
 * `drain` still resumes the multiplexer) stay as they are; only the syscalls are fewer. Nothing
 * changes when amqplib's internals are not there as expected.
 */
function coalesceWrites(model: ChannelModel): void {
  const { muxer, stream } = ((model as unknown as { connection?: MuxedConnection }).connection ?? {});
  const readIncoming = muxer?._readIncoming;
  if (!muxer || typeof readIncoming !== 'function' || typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') return;
  muxer._readIncoming = function corked(this: unknown): void {
    stream.cork!();
    try {
      readIncoming.call(this);
    } finally {
      stream.uncork!();
    }
  };
}

/**
 * The context's one AmqpConnection to the broker of `options` (default: the service config's `amqp`
 * key), created, connected and started on first use.
 */
export function sharedAmqpConnection(context: RunnerContext, options: AmqpOptions = amqpOptionsFromConfig(context.config)): Promise<AmqpConnection> {
  return context.shared(connectionKey(options), () => new AmqpConnection(options));
}
