import { optionsDigest, type Config, type SecretValue, type TlsOptions } from '@micro-framework/core';
import type { SocketOptions } from 'amqplib';

/**
 * How the service logs in to RabbitMQ: PLAIN with a user name and a password (give it as a Secret:
 * `secret(...)`, `Secret.fromEnv(...)`), or EXTERNAL with the client certificate of `tls` (RabbitMQ's
 * rabbitmq_auth_mechanism_ssl plugin takes the user name from it). Any character may be in the
 * password: nothing is URL-encoded.
 */
export type AmqpCredentials =
  | { readonly mechanism: 'PLAIN'; readonly username: string; readonly password: SecretValue }
  | { readonly mechanism: 'EXTERNAL' };

/** How to reach RabbitMQ. Read from the service config key `amqp`, else AMQP_URL, else loopback. */
export interface AmqpOptions {
  /**
   * amqp:// or amqps:// URL with vhost (and credentials, unless given as `credentials`). Default
   * AMQP_URL or amqp://guest:guest@127.0.0.1:5672. With `tls` it must be amqps://.
   */
  readonly url?: string;
  /**
   * TLS towards RabbitMQ (CA, client certificate and key, inline or as files; the server's
   * certificate is verified unless rejectUnauthorized is false). Needs an amqps:// URL (a
   * ConfigurationError otherwise). Wins over the same keys in socketOptions.
   */
  readonly tls?: TlsOptions;
  /** Login; wins over the user and password of the URL. Default: the URL's, else guest/guest. */
  readonly credentials?: AmqpCredentials;
  /**
   * Send a password over plaintext (amqp://) to a host beyond loopback. Default false: such a
   * connection fails with InsecureCredentials before any attempt.
   */
  readonly allowInsecure?: boolean;
  /** Socket options passed to amqplib as they are (timeout, keepAlive...). noDelay defaults to true. */
  readonly socketOptions?: SocketOptions;
  /** Heartbeat in seconds. Default 10. */
  readonly heartbeatSeconds?: number;
  /** Prefetch per consumer; default the context's maxWorkers. */
  readonly prefetch?: number;
  /** How long a publish waits for a connection during an outage before it fails. Default 30 s. */
  readonly publishTimeoutMs?: number;
  /**
   * Declare `<service>.events` exchanges auto-delete. Default true, as micro_framework declares them
   * (and Nameko before its AUTO_DELETE_EVENT_EXCHANGES setting); set false next to Nameko services
   * that declare them without. An exchange that exists is used as it is either way.
   */
  readonly eventExchangeAutoDelete?: boolean;
}

export const defaultAmqpUrl = 'amqp://guest:guest@127.0.0.1:5672';

/** The AMQP options of a service: config.amqp over the environment over the defaults. */
export function amqpOptionsFromConfig(config: Config): AmqpOptions {
  const fromConfig = (config['amqp'] ?? {}) as AmqpOptions;
  return { url: process.env['AMQP_URL'] ?? defaultAmqpUrl, ...fromConfig };
}

/** The URL with its password replaced, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid url>';
  }
}

/**
 * The key of one connection of a context: routes share it only when all their options are equal
 * (URL with its credentials, TLS, credentials, heartbeat...; a Secret counts by its value, so equal
 * options given as separate objects share). It names the broker without the password and tells
 * option sets apart by a keyed one-way digest (see optionsDigest), never by a secret.
 */
export function connectionKey(options: AmqpOptions): string {
  return `amqp:${redactUrl(options.url ?? defaultAmqpUrl)}:${optionsDigest({ ...options, url: options.url ?? defaultAmqpUrl })}`;
}
