import { optionsDigest, type Config } from '@micro-framework/core';
import type { ConnectionOptions } from '@nats-io/transport-node';

/**
 * How to reach NATS: the client's own connection options (servers, user/pass, token, authenticator
 * for nkeys or creds files, tls). Read from the service config key `nats`, else NATS_URL, else
 * loopback. Reconnection is on and unlimited unless you say otherwise.
 */
export type NatsOptions = Partial<ConnectionOptions>;

export const defaultNatsUrl = 'nats://127.0.0.1:4222';

/** The NATS options of a service: config.nats over NATS_URL over the default server. */
export function natsOptionsFromConfig(config: Config): NatsOptions {
  return { servers: process.env['NATS_URL'] ?? defaultNatsUrl, ...((config['nats'] ?? {}) as NatsOptions) };
}

/**
 * The key of one connection of a context: routes share it only when all their options are equal
 * (servers, credentials, TLS...). It names the servers without credentials and tells option sets
 * apart by a one-way digest (see optionsDigest), never by a secret.
 */
export function natsConnectionKey(options: NatsOptions): string {
  const servers = Array.isArray(options.servers) ? options.servers.join(',') : String(options.servers ?? defaultNatsUrl);
  return `nats:${servers.replace(/\/\/[^@/]*@/g, '//***@')}:${optionsDigest(options)}`;
}

/** NATS names (consumers, streams, KV keys) accept letters, digits, dash and underscore. */
export function natsName(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '_');
}
