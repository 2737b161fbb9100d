import { Extension, defaultTelemetry, summarizeError, type RunnerContext, type Telemetry } from '@micro-framework/core';
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
  #disconnected = false;

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

  /** True while connected (not between a drop and the reconnection, not closed). */
  get isConnected(): boolean {
    return this.#connection !== undefined && !this.#connection.isClosed() && !this.#disconnected;
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
    void this.#reportStatus(this.#connection);
  }

  /** Reports drops, reconnections and server errors of `connection` until it closes. */
  async #reportStatus(connection: NatsConnection): Promise<void> {
    const telemetry: Telemetry = this.isBound ? this.runner.telemetry : defaultTelemetry();
    let lastError: Error | undefined;
    try {
      for await (const status of connection.status()) {
        if (status.type === 'error') lastError = status.error;
        else if (status.type === 'disconnect') {
          this.#disconnected = true;
          telemetry.emit('connectionLost', { adapter: 'nats', broker: redactServer(status.server), ...(lastError ? { error: summarizeError(lastError) } : {}) });
          lastError = undefined;
        } else if (status.type === 'reconnect') {
          this.#disconnected = false;
          telemetry.emit('connectionRestored', { adapter: 'nats', broker: redactServer(status.server) });
        }
      }
    } catch {
      // The status iterator ends with the connection.
    }
  }

  override async stop(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    this.#connecting = undefined;
    if (connection && !connection.isClosed()) await connection.drain().catch(() => connection.close());
  }
}

/** A server address with any user or password taken out. */
export function redactServer(server: string): string {
  try {
    const url = new URL(server.includes('://') ? server : `nats://${server}`);
    return `${url.hostname}:${url.port || '4222'}`;
  } catch {
    return '<invalid server>';
  }
}

/** The context's one NATS connection for `options` (default: the service config's `nats` key), connected on first use. */
export function sharedNatsConnection(context: RunnerContext, options: NatsOptions = natsOptionsFromConfig(context.config)): Promise<NatsConnectionExtension> {
  return context.shared(natsConnectionKey(options), () => new NatsConnectionExtension(options));
}
