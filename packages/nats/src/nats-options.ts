import type { Config } from '@micro-framework/core';
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

/** A key naming one server list (never the credentials), to share one connection per context. */
export function natsConnectionKey(options: NatsOptions): string {
  const servers = Array.isArray(options.servers) ? options.servers.join(',') : String(options.servers ?? defaultNatsUrl);
  return `nats:${servers.replace(/\/\/[^@/]*@/g, '//***@')}`;
}

/** NATS names (consumers, streams, KV keys) accept letters, digits, dash and underscore. */
export function natsName(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '_');
}
