import { encodePayload, withTraceContext, type Dependency, type Headers, type Worker } from '@micro-framework/core';
import type { PubAck } from '@nats-io/jetstream';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, sharedNatsConnection } from './nats-connection.ts';
import { headersToNats } from './nats-headers.ts';
import { defaultNatsUrl, type NatsOptions } from './nats-options.ts';

export interface NatsPublishOptions {
  readonly headers?: Headers;
  /** Message id: JetStream drops a second publish with the same id within the stream's duplicate window. */
  readonly messageId?: string;
}

/**
 * Publishes to NATS. `publish` goes through JetStream and resolves with the stream's ack (the message
 * is stored); it rejects when no stream takes the subject. `publishCore` is plain NATS: at most once,
 * resolved once flushed to the server. A publisher given `nats` options opens its own connection at
 * first use (see connectNats): that use rejects with TlsHandshakeFailed, AuthenticationFailed or
 * InsecureCredentials when the connection cannot be made as configured.
 */
export class NatsPublisher {
  readonly #connection: () => Promise<NatsConnection>;
  readonly #owned: boolean;
  #opened: Promise<NatsConnection> | undefined;

  constructor(options: { connection?: NatsConnection; nats?: NatsOptions } = {}) {
    const shared = options.connection;
    this.#owned = !shared;
    const settings = options.nats ?? { servers: process.env['NATS_URL'] ?? defaultNatsUrl };
    this.#connection = shared
      ? async () => shared
      : () => {
          if (this.#opened) return this.#opened;
          const opened = connectNats(settings);
          this.#opened = opened;
          // A failed first connection (a refused login, say) is not kept, nor one nats.js closed for
          // good (out of reconnection attempts): the next publish opens another.
          const forget = (): void => {
            if (this.#opened === opened) this.#opened = undefined;
          };
          opened.then((connection) => connection.closed().then(forget), forget);
          return opened;
        };
  }

  async publish(subject: string, payload: unknown, options: NatsPublishOptions = {}): Promise<PubAck> {
    const js = jetstream(await this.#connection());
    return js.publish(subject, encodePayload(payload), { headers: headersToNats(withTraceContext(options.headers ?? {})), msgID: options.messageId });
  }

  async publishCore(subject: string, payload: unknown, options: NatsPublishOptions = {}): Promise<void> {
    const connection = await this.#connection();
    connection.publish(subject, encodePayload(payload), { headers: headersToNats(withTraceContext(options.headers ?? {})) });
    await connection.flush();
  }

  /** Drains the connection if this publisher opened it. */
  async close(): Promise<void> {
    if (!this.#owned || !this.#opened) return;
    const connection = await this.#opened.catch(() => undefined);
    this.#opened = undefined;
    await connection?.drain().catch(() => undefined);
  }
}

/** Injects a NatsPublisher on the context's shared connection. */
export class NatsProducer implements Dependency<NatsPublisher> {
  // By connection: one nats.js closed for good is replaced by the extension, and so is its publisher.
  readonly #publishers = new WeakMap<NatsConnection, NatsPublisher>();

  async get(worker: Worker): Promise<NatsPublisher> {
    const context = worker.context;
    if (!context) throw new Error('NatsProducer needs a worker run by a runner');
    const connection = (await sharedNatsConnection(context)).connection;
    let publisher = this.#publishers.get(connection);
    if (!publisher) {
      publisher = new NatsPublisher({ connection });
      this.#publishers.set(connection, publisher);
    }
    return publisher;
  }
}
