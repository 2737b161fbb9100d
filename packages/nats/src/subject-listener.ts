import {
  ConfigurationError,
  Entrypoint,
  defaultStopTimeoutMs,
  type DeadLetterCopy,
  type PayloadFormat,
  type Settlement,
  type StopOptions,
} from '@micro-framework/core';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { sharedNatsConnection, type NatsConnectionExtension } from './nats-connection.ts';
import { headersToNats, readNatsHeaders } from './nats-headers.ts';
import { subjectMatches } from './subject-match.ts';
import { type NatsOptions } from './nats-options.ts';

export interface SubjectListenerOptions {
  /** Subject to subscribe to; wildcards allowed. */
  readonly subject: string;
  /** Queue group: instances in one group share the messages. Default the service name. */
  readonly queue?: string;
  /** Drops payloads for which it returns false; a throw dead-letters the message (reason `filter`). */
  readonly payloadFilter?: (payload: unknown) => boolean;
  readonly format?: PayloadFormat;
  /**
   * A JetStream stream that keeps this listener's dead letters (created if missing, capturing
   * `dead-letter.<subject>`); dead letters are then published with a stream ack. Without it they are
   * published with core NATS and reach only subscribers connected at that moment.
   */
  readonly deadLetterStream?: string;
  readonly nats?: NatsOptions;
}

/**
 * Core NATS subscription with a queue group: AT MOST ONCE. Core NATS stores nothing and has no acks:
 * a message published while no instance is subscribed, handed to an instance that crashes or stops,
 * or arriving during a network cut is gone. Retries can only wait in process (Backoff). Use
 * JetStreamListener when messages must not be lost. Dead letters go to `dead-letter.<subject>`.
 */
export class SubjectListener extends Entrypoint<Msg> {
  readonly subject: string;
  readonly #options: SubjectListenerOptions;
  #connection: NatsConnectionExtension | undefined;
  #unwatch: (() => void) | undefined;
  #subscription: Subscription | undefined;
  /** At most once: nothing to ack, nowhere to hand back; a failure to settle dead-letters at once. */
  readonly #settlement: Settlement<Msg> = {
    giveBackDelay: 'none',
    ack: () => undefined,
    deadLetter: (msg, copy) => this.#deadLetter(msg, copy),
    giveBack: () => undefined,
  };

  constructor(options: SubjectListenerOptions) {
    super();
    this.subject = options.subject;
    this.#options = options;
  }

  /** The subject dead letters of a message received on `subject` are published to. */
  static deadLetterSubject(subject: string): string {
    return `dead-letter.${subject}`;
  }

  override get messagingSystem(): string {
    return 'nats';
  }

  /** The subscribed subject (maybe a wildcard): received subjects may carry ids. */
  override get destinationTemplate(): string {
    return this.subject;
  }

  override readiness(): string | undefined {
    return this.#connection?.isConnected ? undefined : 'no connection to NATS';
  }

  override brokerNames(): Record<string, unknown> {
    const deadLetters = this.#options.deadLetterStream;
    return { subject: this.subject, ...(deadLetters ? { deadLetterStream: deadLetters, deadLetterSubject: SubjectListener.deadLetterSubject(this.subject) } : {}) };
  }

  get #conn(): NatsConnectionExtension {
    if (!this.#connection) throw new ConfigurationError('SubjectListener is not set up');
    return this.#connection;
  }

  override async setup(): Promise<void> {
    this.#connection = await sharedNatsConnection(this.context, this.#options.nats);
    const stream = this.#options.deadLetterStream;
    if (stream) {
      const jsm = await this.#conn.manager();
      const subjects = [SubjectListener.deadLetterSubject(this.subject)];
      const info = await jsm.streams.info(stream).catch(() => undefined);
      if (!info) await jsm.streams.add({ name: stream, subjects });
      else if (!(info.config.subjects ?? []).some((pattern) => subjectMatches(pattern, subjects[0]!))) {
        await jsm.streams.update(stream, { ...info.config, subjects: [...(info.config.subjects ?? []), ...subjects] });
      }
    }
  }

  /**
   * Subscribes and waits until the server registered the subscription; subscribes again on the
   * connection that replaces one nats.js closed for good (see NatsConnectionExtension.onReopen).
   */
  override async start(): Promise<void> {
    const connection = this.#conn.connection;
    this.#subscribe(connection);
    this.#unwatch ??= this.#conn.onReopen(async (reopened) => {
      if (!this.#subscription) return;
      this.#subscribe(reopened);
      await reopened.flush();
    });
    await connection.flush();
  }

  #subscribe(connection: NatsConnection): void {
    this.#subscription = connection.subscribe(this.subject, {
      queue: this.#options.queue ?? this.context.config.serviceName,
      callback: (error, msg) => {
        if (!error) void this.#handle(msg).catch(() => undefined);
      },
    });
  }

  /** Unsubscribes: messages published from now on go to other members of the queue group. */
  override async stopIntake(): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = undefined;
    const subscription = this.#subscription;
    this.#subscription = undefined;
    try {
      subscription?.unsubscribe();
    } catch {
      // Its connection is closed: nothing to unsubscribe from.
    }
  }

  /** Unsubscribes, then lets in-flight calls finish up to the timeout. Buffered messages are dropped. */
  override async stop(options: StopOptions = {}): Promise<void> {
    await this.stopIntake();
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
  }

  async #handle(msg: Msg): Promise<void> {
    const { headers, unreadable } = readNatsHeaders(msg);
    await this.deliver(msg, {
      body: msg.data,
      headers,
      unreadable,
      channel: msg.subject,
      format: this.#options.format,
      payloadFilter: this.#options.payloadFilter,
      meta: { redelivered: false },
    }, this.#settlement);
  }

  async #deadLetter(msg: Msg, copy: DeadLetterCopy): Promise<void> {
    const headers = headersToNats({ ...copy.headers, 'x-original-subject': msg.subject });
    const subject = SubjectListener.deadLetterSubject(msg.subject);
    if (this.#options.deadLetterStream) {
      await this.#conn.jetstream.publish(subject, msg.data, { headers });
    } else {
      this.#conn.connection.publish(subject, msg.data, { headers });
    }
  }
}
