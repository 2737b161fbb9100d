import { optionsDigest, revealSecret, type Config, type SecretValue, type TlsOptions } from '@micro-framework/core';
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
   * AMQP_URL or amqp://guest:guest@127.0.0.1:5672. With `tls` it must be amqps://. A URL that holds a
   * password is best given as a Secret (`secret(url)`, `Secret.fromEnv('AMQP_URL')`) so that printing
   * the config shows `***`; better still, give the password as `credentials`. User info must be
   * percent-encoded (encodeURIComponent): a URL with `@` in its path or query is refused.
   */
  readonly url?: SecretValue;
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
  /**
   * Socket options passed to amqplib (keepAlive...). noDelay defaults to true, timeout (of the TCP,
   * TLS and AMQP handshake; amqplib clears it once the connection is open) to 10 000 ms. With `tls`,
   * checkServerIdentity and secureContext are refused (ConfigurationError); rejectUnauthorized: false
   * or a checkServerIdentity here count as TLS that does not verify the server (InsecureCredentials
   * for a password beyond loopback).
   */
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

/**
 * The URL for logs and errors: its user info replaced by `***`. It works on the raw text: everything
 * between `://` and the last `@` goes, so a password with an unencoded `@`, `/`, `?` or `#` (which a
 * URL parser would split into host, path or query) never shows either.
 */
export function redactUrl(url: SecretValue): string {
  const raw = revealSecret(url);
  const start = raw.indexOf('://');
  if (start < 0) return '<invalid url>';
  const at = raw.lastIndexOf('@');
  const text = at > start ? `${raw.slice(0, start + 3)}***${raw.slice(at)}` : raw;
  try {
    new URL(text);
    return text;
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
  return `amqp:${redactUrl(options.url ?? defaultAmqpUrl)}:${optionsDigest({ ...options, url: revealSecret(options.url ?? defaultAmqpUrl) })}`;
}
