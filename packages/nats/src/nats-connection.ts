import { AuthenticationFailed, ConfigurationError, Extension, TlsHandshakeFailed, abortableDelay, asTlsHandshakeFailed, defaultTelemetry, summarizeError, type RunnerContext, type Telemetry } from '@micro-framework/core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { ConnectionOptions } from 'node:tls';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsConnectionKey, natsOptionsFromConfig, resolveNatsOptions, type NatsOptions, type ResolvedNatsOptions } from './nats-options.ts';
import { tlsRefusal } from './tls-refusal.ts';

/**
 * `error` as the typed error it stands for: a TLS failure as TlsHandshakeFailed, a refused login
 * (nats.js's AuthorizationError, an expired user) as AuthenticationFailed naming the user or the
 * kind of credentials, never a secret. Anything else is returned as it is.
 */
export function natsConnectError(error: unknown, address: string, credentials: string | undefined): unknown {
  const tls = asTlsHandshakeFailed(error, 'NATS', address);
  if (tls) return tls;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'AuthorizationError' || name === 'UserAuthenticationExpiredError') {
    const message = (error as Error).message;
    return new AuthenticationFailed('NATS', address, credentials ? `${credentials}: ${message}` : message, { cause: error });
  }
  return error;
}

/**
 * `error`, a failed connection for `resolved`, typed (see natsConnectError). A connection reset
 * over TLS is looked into with tlsRefusal: a server that refuses the client certificate after the
 * handshake may reset the connection before nats.js reads its alert.
 */
async function explainConnectFailure(error: unknown, resolved: ResolvedNatsOptions): Promise<unknown> {
  const typed = natsConnectError(error, resolved.address, resolved.credentials);
  const code = (error as { code?: unknown } | null)?.code;
  if (typed !== error || !resolved.tls || (code !== 'ECONNRESET' && code !== 'EPIPE')) return typed;
  for (const { host, port } of resolved.hosts) {
    const refusal = await tlsRefusal(host, port, (resolved.connection.tls ?? {}) as ConnectionOptions);
    if (refusal) return asTlsHandshakeFailed(refusal, 'NATS', resolved.address) ?? error;
  }
  return error;
}

/**
 * Opens a connection for `options` (see resolveNatsOptions). The first connection is tried once per
 * server with reconnection off, so a refused TLS handshake or login rejects at once, as
 * TlsHandshakeFailed or AuthenticationFailed (with reconnection on, nats.js waits out its 20 s
 * connect timeout when the server ends the TLS session right after the handshake, as it does for a
 * missing client certificate under TLS 1.3). Once connected, reconnection is turned on as
 * configured: unlimited attempts 500 ms apart unless said otherwise, and a login refused while
 * reconnecting is tried again like any failure (nats.js would give up for good after two refusals
 * in a row: a rotated password would then need a restart) unless `ignoreAuthErrorAbort: false`.
 * With `waitOnFirstConnect: true` the first connection is left to nats.js: it retries refusals
 * too, forever, instead of rejecting.
 */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  return (await openNats(options)).connection;
}

/**
 * Opens a connection for `options`; with `lastGood` (the options a connection was last opened
 * with), options that can no longer be resolved (a .creds or TLS file caught half written, gone)
 * are replaced by `lastGood` and `onFallback` is told why.
 */
async function openNats(options: NatsOptions, lastGood?: ResolvedNatsOptions, onFallback?: (error: unknown) => void): Promise<{ connection: NatsConnection; resolved: ResolvedNatsOptions }> {
  let resolved: ResolvedNatsOptions;
  try {
    resolved = await resolveNatsOptions(options);
  } catch (error) {
    if (!lastGood || !(error instanceof ConfigurationError)) throw error;
    onFallback?.(error);
    resolved = lastGood;
  }
  const settings = { maxReconnectAttempts: -1, reconnectTimeWait: 500, ...resolved.connection };
  const reconnect = settings.reconnect ?? true;
  let connection: NatsConnection;
  try {
    connection = await connect({ ...settings, reconnect: false });
  } catch (error) {
    throw await explainConnectFailure(error, resolved);
  }
  // nats.js reads `reconnect` and `ignoreAuthErrorAbort` from its parsed options when the connection drops.
  const parsed = (connection as unknown as { options?: { reconnect?: boolean; ignoreAuthErrorAbort?: boolean } }).options;
  if (parsed) {
    parsed.reconnect = reconnect;
    parsed.ignoreAuthErrorAbort = resolved.connection.ignoreAuthErrorAbort ?? true;
  }
  return { connection, resolved };
}

/** How long an onReopen listener may take (it subscribes again and flushes) before it is reported failed. */
const reopenListenerTimeoutMs = 10_000;

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
  #resolved: ResolvedNatsOptions | undefined;
  /** The diagnosis running (see #diagnose) and the connection it is about. */
  #diagnosis: { readonly connection: NatsConnection; readonly controller: AbortController } | undefined;
  #reopening: AbortController | undefined;
  readonly #reopenListeners = new Set<(connection: NatsConnection) => void | Promise<void>>();

  constructor(options: NatsOptions) {
    super();
    this.options = options;
  }

  /** The live connection (a new one after nats.js closed the previous for good: see onReopen); throws before setup. */
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

  /**
   * Connects (see connectNats); rejects when no server answers, with TlsHandshakeFailed when the
   * TLS handshake fails, AuthenticationFailed when the server refuses the credentials, a
   * ConfigurationError (InsecureCredentials...) before any connection attempt. Never retried here.
   */
  override async setup(): Promise<void> {
    this.#connecting ??= openNats(this.options).then(({ connection, resolved }) => {
      this.#resolved = resolved;
      return connection;
    });
    const connection = await this.#connecting.catch((error: unknown) => {
      this.#connecting = undefined;
      throw error;
    });
    this.#connection = connection;
    void this.#reportStatus(connection);
    void connection.closed().then((error) => this.#closedForGood(connection, error));
  }

  /**
   * Calls `listener` each time the extension replaced a connection nats.js closed for good by a new
   * one (see #closedForGood): subscriptions made on the old one are to be made again. Returns a
   * function that removes the listener.
   */
  onReopen(listener: (connection: NatsConnection) => void | Promise<void>): () => void {
    this.#reopenListeners.add(listener);
    return () => void this.#reopenListeners.delete(listener);
  }

  /**
   * nats.js closes a connection for good when it runs out of reconnection attempts (a
   * maxReconnectAttempts of your own) or its authenticator throws. While the service runs, that is
   * reported as connectionLost (the routes' readiness says no connection meanwhile) and, unless
   * `reconnect: false` was given, a new connection is opened, tried again 1 s, 2 s... up to 30 s apart, each failure reported with its
   * typed error; once open, the routes subscribe again (onReopen) and connectionRestored is reported.
   */
  #closedForGood(connection: NatsConnection, error: Error | void): void {
    // Only the live connection counts; one that closes while its listeners still run (below) counts too.
    if (this.#connection !== connection) return;
    const telemetry: Telemetry = this.isBound ? this.runner.telemetry : defaultTelemetry();
    const address = this.#resolved?.address ?? '';
    const typed = error ? natsConnectError(error, address, this.#resolved?.credentials) : undefined;
    // `reconnect: false` of your own: the connection stays closed (reported; readiness says so).
    const reopen = this.#resolved?.connection.reconnect !== false;
    const reason = new Error(`the NATS connection to ${address} was closed for good${typed instanceof Error ? ` (${typed.name}: ${typed.message})` : ''}${reopen ? '; opening a new one' : ' (reconnect: false)'}`);
    telemetry.emit('connectionLost', { adapter: 'nats', broker: address, error: summarizeError(reason) });
    if (!reopen) return;
    // A reopen still running its listeners for this connection stops there: this one takes over.
    this.#reopening?.abort();
    const reopening = new AbortController();
    this.#reopening = reopening;
    void this.#reopen(reopening.signal, telemetry).finally(() => {
      if (this.#reopening === reopening) this.#reopening = undefined;
    });
  }

  /**
   * Opens the new connection; options that no longer resolve (see openNats) are replaced by those
   * the last connection was opened with, said as connectionLost.
   */
  async #reopen(signal: AbortSignal, telemetry: Telemetry): Promise<void> {
    for (let delay = 1_000; ; delay = Math.min(delay * 2, 30_000)) {
      try {
        await abortableDelay(delay, signal);
      } catch {
        return;
      }
      let opened: { connection: NatsConnection; resolved: ResolvedNatsOptions };
      try {
        opened = await openNats(this.options, this.#resolved, (error) => {
          const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          telemetry.emit('connectionLost', { adapter: 'nats', broker: this.#resolved?.address ?? '', error: summarizeError(new Error(`the NATS options cannot be read again (${why}); opening the new connection with those of the last one`)) });
        });
      } catch (error) {
        if (signal.aborted) return;
        const summary = error instanceof Error ? error : new Error(String(error));
        telemetry.emit('connectionLost', { adapter: 'nats', broker: this.#resolved?.address ?? '', error: summarizeError(summary) });
        continue;
      }
      if (signal.aborted || !this.#connection) {
        await opened.connection.close().catch(() => undefined);
        return;
      }
      const { connection, resolved } = opened;
      this.#resolved = resolved;
      this.#connection = connection;
      this.#jsm = undefined;
      this.#disconnected = false;
      void this.#reportStatus(connection);
      void connection.closed().then((closed) => this.#closedForGood(connection, closed));
      // From here a close for good of `connection` starts a reopen of its own (see #closedForGood),
      // which aborts this one: the listeners left are not called and nothing is said restored.
      const current = (): boolean => !signal.aborted && !connection.isClosed() && this.#connection === connection;
      for (const listener of [...this.#reopenListeners]) {
        if (!current()) return;
        await this.#callReopenListener(listener, connection, resolved.address, telemetry);
      }
      if (current()) telemetry.emit('connectionRestored', { adapter: 'nats', broker: resolved.address });
      return;
    }
  }

  /**
   * Calls one onReopen `listener` for `connection`; it fails (reported as connectionLost) when it
   * throws or takes more than reopenListenerTimeoutMs (a flush that never gets its answer), and ends
   * at once when `connection` closes.
   */
  async #callReopenListener(listener: (connection: NatsConnection) => void | Promise<void>, connection: NatsConnection, address: string, telemetry: Telemetry): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`subscribing again on the new NATS connection to ${address} took more than ${reopenListenerTimeoutMs} ms`)), reopenListenerTimeoutMs);
    });
    try {
      await Promise.race([Promise.resolve().then(() => listener(connection)), timeout, connection.closed().then(() => undefined)]);
    } catch (failure) {
      telemetry.emit('connectionLost', { adapter: 'nats', broker: address, error: summarizeError(failure instanceof Error ? failure : new Error(String(failure))) });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Reports drops, reconnections and server errors of `connection` until it closes. A login the
   * server refuses while reconnecting is reported at once as AuthenticationFailed (nats.js gives up
   * after two refusals in a row, as it always did).
   */
  async #reportStatus(connection: NatsConnection): Promise<void> {
    const telemetry: Telemetry = this.isBound ? this.runner.telemetry : defaultTelemetry();
    let lastError: Error | undefined;
    try {
      for await (const status of connection.status()) {
        if (status.type === 'error') {
          const typed = natsConnectError(status.error, this.#resolved?.address ?? '', this.#resolved?.credentials);
          lastError = typed instanceof Error ? typed : status.error;
          if (this.#disconnected && typed instanceof AuthenticationFailed) {
            telemetry.emit('connectionLost', { adapter: 'nats', broker: redactServer(connection.getServer()), error: summarizeError(typed) });
            lastError = undefined;
          }
        } else if (status.type === 'disconnect') {
          this.#disconnected = true;
          telemetry.emit('connectionLost', { adapter: 'nats', broker: redactServer(status.server), ...(lastError ? { error: summarizeError(lastError) } : {}) });
          lastError = undefined;
          if (this.#resolved?.tls || connection.info?.tls_required) void this.#diagnose(connection, telemetry);
        } else if (status.type === 'reconnect') {
          this.#disconnected = false;
          this.#endDiagnosis(connection);
          telemetry.emit('connectionRestored', { adapter: 'nats', broker: redactServer(status.server) });
        }
      }
    } catch {
      // The status iterator ends with the connection.
    } finally {
      this.#endDiagnosis(connection);
    }
  }

  /** Ends the diagnosis running, if it is about `connection` (any, without). */
  #endDiagnosis(connection?: NatsConnection): void {
    if (!this.#diagnosis || (connection && this.#diagnosis.connection !== connection)) return;
    this.#diagnosis.controller.abort();
    this.#diagnosis = undefined;
  }

  /**
   * nats.js keeps the errors of its reconnection attempts to itself. While a TLS connection is
   * down, a separate connection is tried now and then (after 2 s, 10 s, then every 30 s) to learn
   * why: a refused TLS handshake (a renewed server certificate from another CA, a client
   * certificate refused) is reported as connectionLost with TlsHandshakeFailed, a refused login
   * with AuthenticationFailed. A probe that connects is closed at once; one that meets a server
   * still down reports nothing more.
   */
  async #diagnose(connection: NatsConnection, telemetry: Telemetry): Promise<void> {
    const resolved = this.#resolved;
    if (!resolved || (this.#diagnosis && !this.#diagnosis.connection.isClosed())) return;
    this.#endDiagnosis();
    const diagnosis = new AbortController();
    this.#diagnosis = { connection, controller: diagnosis };
    try {
      for (const delay of [2_000, 10_000]) {
        await abortableDelay(delay, diagnosis.signal);
        await this.#probe(resolved, connection, telemetry);
      }
      for (;;) {
        await abortableDelay(30_000, diagnosis.signal);
        await this.#probe(resolved, connection, telemetry);
      }
    } catch {
      // Reconnected or stopped.
    }
  }

  async #probe(resolved: ResolvedNatsOptions, connection: NatsConnection, telemetry: Telemetry): Promise<void> {
    if (!this.#disconnected || connection.isClosed() || this.#connection !== connection) return;
    try {
      // One attempt per server, whatever the options say: a probe never waits for a server or retries.
      const { reconnectToServer: _handler, reconnectDelayHandler: _delay, ...settings } = resolved.connection;
      const probe = await connect({ ...settings, reconnect: false, maxReconnectAttempts: 0, waitOnFirstConnect: false, timeout: 5_000 });
      await probe.close();
    } catch (error) {
      const typed = await explainConnectFailure(error, resolved);
      if (this.#disconnected && (typed instanceof TlsHandshakeFailed || typed instanceof AuthenticationFailed)) {
        telemetry.emit('connectionLost', { adapter: 'nats', broker: resolved.address, error: summarizeError(typed) });
      }
    }
  }

  override async stop(): Promise<void> {
    this.#endDiagnosis();
    this.#reopening?.abort();
    this.#reopening = undefined;
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
