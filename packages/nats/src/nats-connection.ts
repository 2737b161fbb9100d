import { Extension, type RunnerContext } from '@micro-framework/core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsConnectionKey, natsOptionsFromConfig, type NatsOptions } from './nats-options.ts';

/**
 * One NATS connection shared by a context's routes. The client reconnects by itself (unlimited
 * attempts, 500 ms apart unless configured) and resubscribes; JetStream pull consumers resume. Stop
 * drains the connection: subscriptions finish what they hold, then it closes.
 */
export class NatsConnectionExtension extends Extension {
  readonly options: NatsOptions;
  #connection: NatsConnection | undefined;
  #connecting: Promise<NatsConnection> | undefined;
  #jsm: Promise<JetStreamManager> | undefined;

  constructor(options: NatsOptions) {
    super();
    this.options = options;
  }

  /** The live connection; throws before setup. */
  get connection(): NatsConnection {
    if (!this.#connection) throw new Error('NATS connection is not set up');
    return this.#connection;
  }

  get jetstream(): JetStreamClient {
    return jetstream(this.connection);
  }

  /** The JetStream manager (created once). */
  manager(): Promise<JetStreamManager> {
    this.#jsm ??= jetstreamManager(this.connection);
    return this.#jsm;
  }

  /** Connects; rejects when no server answers. */
  override async setup(): Promise<void> {
    this.#connecting ??= connect({
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      ...this.options,
    });
    this.#connection = await this.#connecting.catch((error: unknown) => {
      this.#connecting = undefined;
      throw error;
    });
  }

  override async stop(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    this.#connecting = undefined;
    if (connection && !connection.isClosed()) await connection.drain().catch(() => connection.close());
  }
}

/** The context's one NATS connection for `options` (default: the service config's `nats` key), connected on first use. */
export function sharedNatsConnection(context: RunnerContext, options: NatsOptions = natsOptionsFromConfig(context.config)): Promise<NatsConnectionExtension> {
  return context.shared(natsConnectionKey(options), () => new NatsConnectionExtension(options));
}
