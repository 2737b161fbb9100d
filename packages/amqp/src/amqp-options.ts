import { optionsDigest, type Config } from '@micro-framework/core';
import type { SocketOptions } from 'amqplib';

/** How to reach RabbitMQ. Read from the service config key `amqp`, else AMQP_URL, else loopback. */
export interface AmqpOptions {
  /** amqp:// or amqps:// URL with credentials and vhost. Default AMQP_URL or amqp://guest:guest@127.0.0.1:5672. */
  readonly url?: string;
  /** TLS and socket options passed to amqplib (ca, cert, key, servername...). noDelay defaults to true. */
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
 * (URL with its credentials, TLS, heartbeat...). It names the broker without the password and tells
 * option sets apart by a one-way digest (see optionsDigest), never by a secret.
 */
export function connectionKey(options: AmqpOptions): string {
  return `amqp:${redactUrl(options.url ?? defaultAmqpUrl)}:${optionsDigest({ ...options, url: options.url ?? defaultAmqpUrl })}`;
}
