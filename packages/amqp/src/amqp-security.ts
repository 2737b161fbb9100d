import { AuthenticationFailed, ConfigurationError, Secret, asSecret, asTlsHandshakeFailed, refuseInsecureCredentials, resolveTls, revealSecret, verifiesServer } from '@micro-framework/core';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
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
  /** The virtual host, decoded ("/" by default). */
  readonly vhost: string;
  /**
   * With `tls`: reads its files again and puts what they hold (a renewed CA, client certificate or
   * key) into the socket options' SecureContext, for the next connection attempt.
   */
  readonly renewTls?: () => Promise<void>;
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

/** Keys of tls.createSecureContext that `tls` may set: they go into one SecureContext, never onto the socket options. */
const contextKeys = ['ca', 'cert', 'key', 'passphrase', 'pfx', 'crl', 'ciphers', 'ecdhCurve', 'minVersion', 'maxVersion', 'secureProtocol', 'sigalgs', 'dhparam'] as const;

/** Handshake timeout when socketOptions give none: a peer that accepts TCP and never speaks fails the attempt. */
export const defaultHandshakeTimeoutMs = 10_000;

/** `text` percent-decoded; a ConfigurationError quoting nothing of it when it is not valid percent-encoding. */
function decodedUserInfo(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConfigurationError(`amqp.url: the ${what} is not valid percent-encoding (encode it with encodeURIComponent)`);
  }
}

/**
 * Resolves `options` into what amqplib needs, checking them before any connection attempt:
 * - The URL must be amqp:// or amqps://; one with `@` in its path, query or fragment is refused
 *   (user info must be percent-encoded: an unencoded `@` with `/`, `?` or `#` in a password would
 *   make part of it the host), with a message that quotes nothing of the URL.
 * - `tls` needs an amqps:// URL (ConfigurationError for amqp://: TLS on a plaintext port would only
 *   fail later, less clearly); its files are read now and its key, passphrase, certificates go into
 *   one tls.SecureContext (Node keeps the socket options on the socket: no secret stays there).
 * - `credentials` win over the user and password of the URL; these are otherwise percent-decoded
 *   (UTF-8) and handed over as PLAIN credentials the same way; either way the URL amqplib is given
 *   has no user info. EXTERNAL needs TLS with a client certificate (ConfigurationError otherwise).
 * - A password over plaintext, or over TLS that does not verify the server (tls.rejectUnauthorized
 *   false, socketOptions.rejectUnauthorized false or a socketOptions.checkServerIdentity), to a host
 *   beyond loopback throws InsecureCredentials unless `allowInsecure` is true.
 */
export async function resolveAmqpConnection(options: AmqpOptions): Promise<ResolvedAmqpConnection> {
  let url: URL;
  try {
    url = new URL(revealSecret(options.url ?? defaultAmqpUrl));
  } catch {
    throw new ConfigurationError('amqp.url is not a valid URL');
  }
  if (`${url.pathname}${url.search}${url.hash}`.includes('@')) {
    throw new ConfigurationError('amqp.url has "@" after its host: user info must be percent-encoded (encodeURIComponent the user and password), or give them as amqp.credentials');
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') throw new ConfigurationError(`amqp.url must be amqp:// or amqps://, not ${url.protocol}//`);
  const secure = url.protocol === 'amqps:';
  if (options.tls !== undefined && !secure) {
    throw new ConfigurationError(`amqp.tls is given but amqp.url is amqp://${url.host}: use amqps:// (RabbitMQ's TLS port, 5671 by default)`);
  }
  const given = (options.socketOptions ?? {}) as Record<string, unknown>;
  if (options.tls !== undefined && (given['checkServerIdentity'] !== undefined || given['secureContext'] !== undefined)) {
    throw new ConfigurationError('amqp: socketOptions.checkServerIdentity and socketOptions.secureContext cannot be combined with amqp.tls (give the CA, certificate and key in tls)');
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const address = `${host}:${url.port || (secure ? 5671 : 5672)}`;
  const credentials = options.credentials;
  if (credentials !== undefined) checkCredentials(credentials);
  if (credentials !== undefined && options.socketOptions?.credentials !== undefined) {
    throw new ConfigurationError('amqp: give credentials or socketOptions.credentials, not both');
  }

  const socketOptions: Record<string, unknown> = { noDelay: true, timeout: defaultHandshakeTimeoutMs, ...given };
  let clientCert: unknown;
  let renewTls: (() => Promise<void>) | undefined;
  if (options.tls !== undefined) {
    const tlsOptions = options.tls;
    const contextOf = async (): Promise<{ context: SecureContext; cert: unknown; rest: Record<string, unknown> }> => {
      const rest = (await resolveTls(tlsOptions)) as Record<string, unknown>;
      const fields: Record<string, unknown> = {};
      for (const key of contextKeys) {
        const value = rest[key] ?? given[key];
        if (value !== undefined) fields[key] = value;
        delete rest[key];
      }
      return { context: createSecureContext(fields as SecureContextOptions), cert: fields['cert'] ?? fields['pfx'], rest };
    };
    const first = await contextOf();
    for (const key of contextKeys) delete socketOptions[key];
    clientCert = first.cert;
    socketOptions['secureContext'] = first.context;
    Object.assign(socketOptions, first.rest);
    // amqplib gives every attempt the same socket options, so this one SecureContext: renewing it in
    // place (its native context) is how a renewed CA or client certificate reaches the next attempt.
    renewTls = async () => {
      const renewed = await contextOf();
      (first.context as { context: unknown }).context = (renewed.context as { context: unknown }).context;
    };
  }
  const verified = secure && verifiesServer(socketOptions as { rejectUnauthorized?: boolean }) && socketOptions['checkServerIdentity'] === undefined;

  let login: string;
  let password: string | undefined;
  if (credentials?.mechanism === 'PLAIN') {
    socketOptions['credentials'] = plainCredentials(credentials.username, asSecret(credentials.password));
    login = `user "${credentials.username}" (PLAIN)`;
    password = `the password of user "${credentials.username}"`;
  } else if (credentials?.mechanism === 'EXTERNAL') {
    if (!secure) throw new ConfigurationError('amqp.credentials: EXTERNAL logs in with a client certificate: it needs amqps:// and tls.cert (or tls.certFile)');
    clientCert ??= socketOptions['cert'] ?? socketOptions['pfx'];
    if (clientCert === undefined) {
      throw new ConfigurationError('amqp.credentials: EXTERNAL needs a client certificate (tls.cert or tls.certFile, with its key)');
    }
    socketOptions['credentials'] = { mechanism: 'EXTERNAL', response: () => Buffer.alloc(0) } satisfies SaslCredentials;
    login = `client certificate${subjectOf(clientCert)} (EXTERNAL)`;
  } else if (options.socketOptions?.credentials !== undefined) {
    const custom = options.socketOptions.credentials as { mechanism?: unknown; username?: unknown };
    login = typeof custom.username === 'string' ? `user "${custom.username}" (${String(custom.mechanism)})` : `${String(custom.mechanism)} credentials`;
    password = custom.mechanism === 'EXTERNAL' ? undefined : 'a password (socketOptions.credentials)';
  } else if (url.username || url.password) {
    // amqplib would decode these with unescape() (Latin-1: a UTF-8 password would be sent wrong) and
    // keep the password as a plain property: decode them here and send them like `credentials`.
    const username = url.username ? decodedUserInfo(url.username, 'user name') : 'guest';
    socketOptions['credentials'] = plainCredentials(username, asSecret(url.password ? decodedUserInfo(url.password, 'password') : 'guest'));
    login = `user "${username}" (PLAIN, from the URL)`;
    password = url.password ? 'the password in amqp.url' : undefined;
  } else {
    login = 'user "guest" (PLAIN, default)';
  }
  refuseInsecureCredentials({ broker: 'RabbitMQ', hosts: [host], tls: verified, what: password, allowInsecure: options.allowInsecure });

  url.username = '';
  url.password = '';
  url.searchParams.set('heartbeat', String(options.heartbeatSeconds ?? 10));
  const vhost = url.pathname.length > 1 ? decodedUserInfo(url.pathname.slice(1), 'vhost') : '/';
  return { url: url.toString(), socketOptions: socketOptions as SocketOptions, address, login, vhost, ...(renewTls ? { renewTls } : {}) };
}

/** RabbitMQ's refusal of a login, as amqplib reports it: 403 ACCESS_REFUSED, or a mechanism the server does not offer. */
const refusedLogin = /ACCESS[-_]REFUSED|\b403\b/;
const missingMechanism = /SASL mechanism (\S+) is not provided by the server/;
/** RabbitMQ answering connection.open with connection.close: the user may not use the vhost, or it does not exist. */
const refusedOpen = /^Expected ConnectionOpenOk; got <ConnectionClose/;

/**
 * `error`, a failed connection attempt, as the typed error it stands for: a TLS failure as
 * TlsHandshakeFailed, a refused login (403 ACCESS_REFUSED for PLAIN or EXTERNAL, a mechanism the
 * server does not offer, a vhost refused or missing: connection.open answered by connection.close) as
 * AuthenticationFailed naming who logged in, never the secret. Anything
 * else (a refused TCP connection, a timeout) is returned as it is.
 */
export function amqpConnectError(error: unknown, connection: Pick<ResolvedAmqpConnection, 'address' | 'login' | 'vhost'>): unknown {
  if (error instanceof AuthenticationFailed) return error;
  const tls = asTlsHandshakeFailed(error, 'RabbitMQ', connection.address);
  if (tls) return tls;
  const message = error instanceof Error ? error.message : '';
  if (message.startsWith('Handshake terminated by server') && refusedLogin.test(message)) {
    return new AuthenticationFailed('RabbitMQ', connection.address, `${connection.login}: ACCESS_REFUSED`, { cause: error });
  }
  if (refusedOpen.test(message)) {
    return new AuthenticationFailed('RabbitMQ', connection.address, `${connection.login}: access to vhost "${connection.vhost}" refused, or the vhost does not exist (530 NOT_ALLOWED)`, { cause: error });
  }
  const missing = missingMechanism.exec(message);
  if (missing) return new AuthenticationFailed('RabbitMQ', connection.address, `${connection.login}: the server does not offer ${missing[1]}`, { cause: error });
  return error;
}
