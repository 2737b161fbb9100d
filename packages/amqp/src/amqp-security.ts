import { AuthenticationFailed, ConfigurationError, Secret, asSecret, asTlsHandshakeFailed, refuseInsecureCredentials, resolveTls } from '@micro-framework/core';
import { X509Certificate } from 'node:crypto';
import type { SocketOptions } from 'amqplib';
import { defaultAmqpUrl, type AmqpCredentials, type AmqpOptions } from './amqp-options.ts';

/** What amqplib is given for one connection, and how errors and logs name it. */
export interface ResolvedAmqpConnection {
  /** The URL amqplib connects to (heartbeat set; without user and password when `credentials` were given). */
  readonly url: string;
  /** amqplib's socket options: the given socketOptions, then the resolved TLS options and the SASL credentials. */
  readonly socketOptions: SocketOptions;
  /** host:port, for error messages. */
  readonly address: string;
  /** Who logs in: `user "name" (PLAIN)`, `client certificate (EXTERNAL)`; never a secret. */
  readonly login: string;
}

/** SASL credentials as amqplib takes them. The password stays wrapped until the handshake asks for it. */
interface SaslCredentials {
  readonly mechanism: string;
  readonly username?: string;
  response(): Buffer;
}

/**
 * PLAIN credentials that hold the password as a Secret (amqplib's `credentials.plain` keeps it as a
 * plain property, printed by whatever prints the socket options).
 */
function plainCredentials(username: string, password: Secret): SaslCredentials {
  return { mechanism: 'PLAIN', username, response: () => Buffer.from(`\u0000${username}\u0000${password.reveal()}`, 'utf8') };
}

/** ` "CN=..."`: the subject of a PEM certificate, to name who logs in with EXTERNAL; empty if it cannot be read. */
function subjectOf(cert: unknown): string {
  try {
    const first = Array.isArray(cert) ? (cert as unknown[])[0] : cert;
    if (typeof first !== 'string' && !Buffer.isBuffer(first)) return '';
    return ` "${new X509Certificate(first).subject.replaceAll('\n', ', ')}"`;
  } catch {
    return '';
  }
}

/** A user name as written in a URL, decoded (as written when it is not valid percent-encoding). */
function decodedUser(username: string): string {
  try {
    return decodeURIComponent(username);
  } catch {
    return username;
  }
}

function checkCredentials(credentials: AmqpCredentials): void {
  const { mechanism } = credentials as { mechanism?: unknown };
  if (mechanism === 'PLAIN') {
    const { username, password } = credentials as { username?: unknown; password?: unknown };
    if (typeof username !== 'string' || username === '') throw new ConfigurationError('amqp.credentials: PLAIN needs a username');
    if (typeof password !== 'string' && !(password instanceof Secret)) throw new ConfigurationError('amqp.credentials: PLAIN needs a password (a string or a Secret)');
  } else if (mechanism !== 'EXTERNAL') {
    throw new ConfigurationError(`amqp.credentials: mechanism must be "PLAIN" or "EXTERNAL"`);
  }
}

/**
 * Resolves `options` into what amqplib needs, checking them before any connection attempt:
 * - `tls` needs an amqps:// URL (ConfigurationError for amqp://: TLS on a plaintext port would only
 *   fail later, less clearly); its files are read now and its secrets revealed into the socket options.
 * - `credentials` win over the user and password of the URL (which are then dropped from it);
 *   EXTERNAL needs TLS with a client certificate (ConfigurationError otherwise).
 * - A password (in `credentials` or in the URL) over plaintext to a host beyond loopback throws
 *   InsecureCredentials unless `allowInsecure` is true.
 */
export async function resolveAmqpConnection(options: AmqpOptions): Promise<ResolvedAmqpConnection> {
  let url: URL;
  try {
    url = new URL(options.url ?? defaultAmqpUrl);
  } catch {
    throw new ConfigurationError('amqp.url is not a valid URL');
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') throw new ConfigurationError(`amqp.url must be amqp:// or amqps://, not ${url.protocol}//`);
  const secure = url.protocol === 'amqps:';
  if (options.tls !== undefined && !secure) {
    throw new ConfigurationError(`amqp.tls is given but amqp.url is amqp://${url.host}: use amqps:// (RabbitMQ's TLS port, 5671 by default)`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const address = `${host}:${url.port || (secure ? 5671 : 5672)}`;
  const credentials = options.credentials;
  if (credentials !== undefined) checkCredentials(credentials);
  if (credentials !== undefined && options.socketOptions?.credentials !== undefined) {
    throw new ConfigurationError('amqp: give credentials or socketOptions.credentials, not both');
  }

  const tls = options.tls === undefined ? {} : await resolveTls(options.tls);
  const socketOptions: Record<string, unknown> = { noDelay: true, ...options.socketOptions, ...tls };

  let login: string;
  let password: string | undefined;
  if (credentials?.mechanism === 'PLAIN') {
    socketOptions['credentials'] = plainCredentials(credentials.username, asSecret(credentials.password));
    login = `user "${credentials.username}" (PLAIN)`;
    password = `the password of user "${credentials.username}"`;
  } else if (credentials?.mechanism === 'EXTERNAL') {
    if (!secure) throw new ConfigurationError('amqp.credentials: EXTERNAL logs in with a client certificate: it needs amqps:// and tls.cert (or tls.certFile)');
    if (socketOptions['cert'] === undefined && socketOptions['pfx'] === undefined) {
      throw new ConfigurationError('amqp.credentials: EXTERNAL needs a client certificate (tls.cert or tls.certFile, with its key)');
    }
    socketOptions['credentials'] = { mechanism: 'EXTERNAL', response: () => Buffer.alloc(0) } satisfies SaslCredentials;
    login = `client certificate${subjectOf(socketOptions['cert'])} (EXTERNAL)`;
  } else if (options.socketOptions?.credentials !== undefined) {
    const given = options.socketOptions.credentials as { mechanism?: unknown; username?: unknown };
    login = typeof given.username === 'string' ? `user "${given.username}" (${String(given.mechanism)})` : `${String(given.mechanism)} credentials`;
    password = given.mechanism === 'EXTERNAL' ? undefined : 'a password (socketOptions.credentials)';
  } else {
    login = `user "${url.username ? decodedUser(url.username) : 'guest'}" (PLAIN, from the URL)`;
    password = url.password ? 'the password in amqp.url' : undefined;
  }
  refuseInsecureCredentials({ broker: 'RabbitMQ', hosts: [host], tls: secure, what: password, allowInsecure: options.allowInsecure });

  if (credentials !== undefined) {
    url.username = '';
    url.password = '';
  }
  url.searchParams.set('heartbeat', String(options.heartbeatSeconds ?? 10));
  return { url: url.toString(), socketOptions: socketOptions as SocketOptions, address, login };
}

/** RabbitMQ's refusal of a login, as amqplib reports it: 403 ACCESS_REFUSED, or a mechanism the server does not offer. */
const refusedLogin = /ACCESS[-_]REFUSED|\b403\b/;
const missingMechanism = /SASL mechanism (\S+) is not provided by the server/;

/**
 * `error`, a failed connection attempt, as the typed error it stands for: a TLS failure as
 * TlsHandshakeFailed, a refused login (403 ACCESS_REFUSED for PLAIN or EXTERNAL, a mechanism the
 * server does not offer) as AuthenticationFailed naming who logged in, never the secret. Anything
 * else (a refused TCP connection, a timeout) is returned as it is.
 */
export function amqpConnectError(error: unknown, connection: Pick<ResolvedAmqpConnection, 'address' | 'login'>): unknown {
  if (error instanceof AuthenticationFailed) return error;
  const tls = asTlsHandshakeFailed(error, 'RabbitMQ', connection.address);
  if (tls) return tls;
  const message = error instanceof Error ? error.message : '';
  if (message.startsWith('Handshake terminated by server') && refusedLogin.test(message)) {
    return new AuthenticationFailed('RabbitMQ', connection.address, `${connection.login}: ACCESS_REFUSED`, { cause: error });
  }
  const missing = missingMechanism.exec(message);
  if (missing) return new AuthenticationFailed('RabbitMQ', connection.address, `${connection.login}: the server does not offer ${missing[1]}`, { cause: error });
  return error;
}
