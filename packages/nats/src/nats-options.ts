import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigurationError, Secret, optionsDigest, refuseInsecureCredentials, resolveTls, revealSecret, verifiesServer, type Config, type SecretValue, type TlsOptions } from '@micro-framework/core';
import { credsAuthenticator, nkeyAuthenticator, nkeys, tokenAuthenticator, usernamePasswordAuthenticator, type Authenticator, type ConnectionOptions, type NodeConnectionOptions } from '@nats-io/transport-node';

/**
 * TLS of a NATS connection: core's TlsOptions and `handshakeFirst` (the client starts TLS before
 * the server's INFO, for a server configured with `handshake_first`).
 */
export type NatsTlsOptions = TlsOptions & { readonly handshakeFirst?: boolean };

/** The security part of NatsOptions: TLS and credentials as structured values. */
export interface NatsSecurityOptions {
  /**
   * TLS towards the server (CA, client certificate and key, inline or as files). Given, or with a
   * `tls://` server URL, the connection must be TLS: a server without TLS is refused. The server's
   * certificate is verified unless `rejectUnauthorized: false` is set explicitly; a password or
   * token over TLS that does not verify the server needs allowInsecure (a man in the middle would
   * read it). A key or certificate that cannot be decoded is a ConfigurationError at start.
   */
  readonly tls?: NatsTlsOptions;
  /** User name, with `pass` (alone, it is sent as it is: it is no secret). */
  readonly user?: string;
  /** Password of `user`; any characters (`/`, `@`, `%`...): it never goes through a URL. */
  readonly pass?: SecretValue;
  /** Token for a server configured with `authorization { token }`. */
  readonly token?: SecretValue;
  /** Seed (`SU…`) of an nkey user: the client signs the server's nonce with it; the seed never crosses. */
  readonly nkeySeed?: SecretValue;
  /** A `.creds` file (user JWT and its nkey seed) for servers in operator mode; read at each connection. */
  readonly credsFile?: string;
  /**
   * Accept sending a password or token over a plaintext connection to a host beyond loopback, or
   * over TLS that does not verify the server, and `debug: true` (nats.js prints its CONNECT line,
   * credentials included) with a password or token. Off by default: such a configuration fails at
   * start with InsecureCredentials (a ConfigurationError for debug). Without it, a password or token
   * over plaintext to loopback servers never follows the servers a cluster announces
   * (ignoreClusterUpdates is forced on): they may be beyond loopback.
   */
  readonly allowInsecure?: boolean;
}

/**
 * How to reach NATS: the client's own connection options (servers, reconnection, timeouts, a custom
 * `authenticator`...) with TLS and credentials as in NatsSecurityOptions. Read from the service
 * config key `nats`, else NATS_URL, else loopback. Reconnection is on and unlimited unless you say
 * otherwise. Give one kind of credentials: user/pass, token, nkeySeed, credsFile or authenticator;
 * credentials in a server URL (`nats://user:pass@host:4222`, `nats://token@host:4222`,
 * `user:pass@host:4222`) are used only when no option gives any, and must be the same in every URL
 * that has some. In a URL the user information is percent-decoded (`%41` is `A`; a `%` must be
 * written `%25`, an `@` `%40`; `/`, `+`, `:` may stay as they are); see parseServer for what is
 * refused. `servers` may be one string of comma-separated URLs. Each server URL is taken apart
 * once; the client gets it without user information.
 */
export type NatsOptions = Omit<Partial<ConnectionOptions>, 'tls' | 'user' | 'pass' | 'token'> & NatsSecurityOptions;

export const defaultNatsUrl = 'nats://127.0.0.1:4222';

/** The NATS options of a service: config.nats over NATS_URL over the default server. */
export function natsOptionsFromConfig(config: Config): NatsOptions {
  return { servers: process.env['NATS_URL'] ?? defaultNatsUrl, ...((config['nats'] ?? {}) as NatsOptions) };
}

/**
 * The server URLs of `options`, as given (the default server when none is); a string holding
 * several, comma separated (as NATS_URL often does), is split on the commas.
 */
function serverList(options: NatsOptions): string[] {
  const servers = options.servers ?? (options.port !== undefined ? `127.0.0.1:${options.port}` : defaultNatsUrl);
  const list = Array.isArray(servers) ? [...(servers as string[])] : [String(servers)];
  return list.flatMap((server) => String(server).split(',')).map((server) => server.trim()).filter((server) => server !== '');
}

/** One server URL taken apart: scheme, host, port and the credentials of its user information. */
interface ServerEntry {
  readonly scheme: string;
  readonly host: string;
  readonly port: string;
  readonly credentials: Credentials | undefined;
  /** The user information as written, decoded (to tell servers with different credentials apart). */
  readonly userInfo: string | undefined;
}

/**
 * `server` (`nats://…`, `tls://…` or no scheme) taken apart once. The user information
 * (`user:pass@` or `token@`) may hold `/`, `+`, `:`... unencoded, but an `@` in it must be written
 * `%40`: a URL with two `@` is refused (`nats://u:pw@good/x@evil` would otherwise dial evil). It is
 * percent-decoded: `%41` is `A`, a `%` not followed by two hex digits is refused (write `%25`).
 * After the host and port nothing may follow but a lone `/` (NATS URLs have no path, query or
 * fragment). With user information, a host without a dot, a port or brackets (other than
 * `localhost`) is refused: it is more likely the tail of a password whose host was forgotten
 * (`nats://u:p@ss`) than a host, and it is never dialled nor named. Throws ConfigurationError
 * naming at most the host, never the user information.
 */
function parseServer(server: string): ServerEntry {
  const text = String(server).trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  const rest = scheme ? text.slice(scheme[0].length) : text;
  const at = rest.indexOf('@');
  if (at >= 0 && rest.indexOf('@', at + 1) >= 0) {
    throw new ConfigurationError('nats.servers: a server URL holds more than one "@"; write an "@" of the user information as %40, or give nats.user and nats.pass');
  }
  const info = at >= 0 ? rest.slice(0, at) : '';
  const afterInfo = rest.slice(at + 1);
  const end = afterInfo.search(/[/?#]/);
  const hostPart = end < 0 ? afterInfo : afterInfo.slice(0, end);
  const tail = end < 0 ? '' : afterInfo.slice(end);
  // Only the host is named (a URL mistyped without its `@` may hold a password after a colon).
  const shown = (): string => /^\[[^\]]*\]|^[^:/]*/.exec(hostPart)?.[0] ?? '';
  const invalid = (): ConfigurationError => new ConfigurationError(`nats.servers: the address of host "${shown()}" is not valid`);
  let url: URL;
  try {
    url = new URL(`nats://${hostPart}`);
  } catch {
    throw invalid();
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port || '4222';
  if (host === '') throw invalid();
  if (tail !== '' && tail !== '/') throw new ConfigurationError(`nats.servers: the URL of host "${shown()}" has a path, query or fragment; a NATS server URL has none`);
  if (info !== '' && url.port === '' && !hostPart.startsWith('[') && !host.includes('.') && host.toLowerCase() !== 'localhost') {
    throw new ConfigurationError('nats.servers: a server URL with credentials names a host without a dot or a port (a password holding an unencoded "@", or a host left out?); write the port (nats://user:pass@host:4222), or give nats.user and nats.pass');
  }
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new ConfigurationError(`nats.servers: the credentials in the URL of ${displayHost(host)}:${port} are not valid percent-encoding`);
    }
  };
  let credentials: Credentials | undefined;
  let userInfo: string | undefined;
  if (info !== '') {
    const colon = info.indexOf(':');
    credentials = colon < 0 ? { token: new Secret(decode(info)) } : { user: decode(info.slice(0, colon)), pass: new Secret(decode(info.slice(colon + 1))) };
    userInfo = colon < 0 ? `token\0${decode(info)}` : `user\0${decode(info.slice(0, colon))}\0${decode(info.slice(colon + 1))}`;
  }
  return { scheme: scheme ? scheme[1]!.toLowerCase() : 'nats', host, port, credentials, userInfo };
}

function displayHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The key of one connection of a context: routes share it only when all their options are equal
 * (servers, credentials, TLS...). It names the servers without credentials and tells option sets
 * apart by a keyed one-way digest (see optionsDigest), never by a secret: equal Secrets count as
 * equal, so routes given equal options share their connection.
 */
export function natsConnectionKey(options: NatsOptions): string {
  return `nats:${natsAddress(options)}:${optionsDigest(options)}`;
}

/** The servers of `options` as `host:port` (comma separated), without any credentials: for messages and keys. */
export function natsAddress(options: NatsOptions): string {
  return serverList(options).map(hostPort).join(',');
}

/** `host:port` of a server URL (`nats://`, `tls://` or none), credentials left out; `<invalid server>` when it cannot be read. */
function hostPort(server: string): string {
  try {
    const { host, port } = parseServer(server);
    return `${displayHost(host)}:${port}`;
  } catch {
    return '<invalid server>';
  }
}

/** NATS names (consumers, streams, KV keys) accept letters, digits, dash and underscore. */
export function natsName(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** Credentials: the options' own, or those written in the server URLs (percent-decoded). */
interface Credentials {
  readonly user?: string | undefined;
  readonly pass?: SecretValue | undefined;
  readonly token?: SecretValue | undefined;
}

/** Options ready for the NATS client, with what messages may say about them. */
export interface ResolvedNatsOptions {
  /** For `connect` of @nats-io/transport-node: secrets inside authenticators and the TLS options only. */
  readonly connection: NodeConnectionOptions;
  /** The servers as `host:port`, for messages. */
  readonly address: string;
  /** The servers' hosts and ports. */
  readonly hosts: readonly { readonly host: string; readonly port: number }[];
  /** What a refused login names (never a secret): `user svc`, `token`, `nkey U…`, `creds file <path>`, `authenticator`. */
  readonly credentials: string | undefined;
  /** True when the connection must be TLS. */
  readonly tls: boolean;
}

const ownKeys = ['tls', 'user', 'pass', 'token', 'nkeySeed', 'credsFile', 'allowInsecure'] as const;
const nonce = 'bWljcm8tZnJhbWV3b3Jr';

/** Checks that `authenticator` signs a nonce (a seed with a broken checksum fails here, not at each connection). */
function checkSigner(authenticator: Authenticator, what: string): void {
  try {
    authenticator(nonce);
  } catch (error) {
    throw new ConfigurationError(`nats.${what} is not usable (${error instanceof Error ? error.message : 'unreadable'})`);
  }
}

function readCreds(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigurationError(`nats.credsFile: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

/**
 * The client options for `options`: TLS resolved (files read, rejectUnauthorized on unless false;
 * files are read again at each reconnection, so a renewed certificate is used), credentials turned
 * into authenticators that reveal their secret only when the client signs in. Throws
 * ConfigurationError for two kinds of credentials or unusable ones, and InsecureCredentials for a
 * password or token that would cross a plaintext connection beyond loopback without allowInsecure.
 * nkeys and creds files are challenge-response (the seed signs the server's nonce and never
 * crosses), so they are allowed over plaintext.
 */
export async function resolveNatsOptions(options: NatsOptions): Promise<ResolvedNatsOptions> {
  const servers = serverList(options).map(parseServer);
  const rest: Record<string, unknown> = { ...options };
  for (const key of [...ownKeys, 'port']) delete rest[key];
  const withInfo = servers.filter((server) => server.userInfo !== undefined);
  if (withInfo.some((server) => server.userInfo !== withInfo[0]!.userInfo)) {
    throw new ConfigurationError(`nats.servers: the server URLs carry different credentials (${withInfo.map(({ host, port }) => `${displayHost(host)}:${port}`).join(', ')}); one connection signs in with one set: give the same in each URL, or give them once as options`);
  }
  const fromUrl = withInfo[0]?.credentials ?? {};
  const given = {
    password: options.user !== undefined || options.pass !== undefined,
    token: options.token !== undefined,
    nkeySeed: options.nkeySeed !== undefined,
    credsFile: options.credsFile !== undefined,
    authenticator: options.authenticator !== undefined,
  };
  const kinds = Object.entries(given).filter(([, on]) => on).map(([kind]) => kind);
  if (kinds.length > 1) throw new ConfigurationError(`nats: give one kind of credentials, not ${kinds.join(' and ')}`);
  const credentials: Credentials = kinds.length === 0 ? fromUrl : options;
  if (credentials.pass !== undefined && credentials.user === undefined) throw new ConfigurationError('nats.pass needs nats.user');

  const tlsOption = options.tls !== undefined && options.tls !== null ? options.tls : undefined;
  const tls = tlsOption !== undefined || servers.some((server) => server.scheme === 'tls');
  const verified = tls && verifiesServer(tlsOption ?? {});
  const address = servers.map(({ host, port }) => `${displayHost(host)}:${port}`).join(',');
  const what = credentials.pass !== undefined ? 'a password' : credentials.token !== undefined ? 'a token' : undefined;
  refuseInsecureCredentials({ broker: 'NATS', hosts: servers.map(({ host }) => host), tls: verified, what, allowInsecure: options.allowInsecure });
  if (what !== undefined && rest['debug'] === true && options.allowInsecure !== true) {
    throw new ConfigurationError(`nats.debug prints the CONNECT line, ${what} in it, to the console; set allowInsecure: true to accept it`);
  }

  const connection: NodeConnectionOptions = { ...(rest as NodeConnectionOptions), servers: servers.map(({ scheme, host, port }) => `${scheme}://${displayHost(host)}:${port}`) };
  // Allowed in plaintext only because every server given is on loopback: a server the cluster
  // announces (another host, maybe) is never dialled, so the secret cannot leave the machine.
  if (what !== undefined && !verified && options.allowInsecure !== true) connection.ignoreClusterUpdates = true;
  if (tlsOption !== undefined) connection.tls = await natsTls(tlsOption);
  else if (tls) connection.tls = {};

  let label: string | undefined;
  if (credentials.user !== undefined) {
    const pass = credentials.pass;
    connection.authenticator = usernamePasswordAuthenticator(credentials.user, pass === undefined ? undefined : () => revealSecret(pass));
    label = `user ${credentials.user}`;
  } else if (credentials.token !== undefined) {
    const token = credentials.token;
    connection.authenticator = tokenAuthenticator(() => revealSecret(token));
    label = 'token';
  } else if (options.nkeySeed !== undefined) {
    const seed = options.nkeySeed;
    const authenticator = nkeyAuthenticator(() => new TextEncoder().encode(revealSecret(seed)));
    checkSigner(authenticator, 'nkeySeed');
    connection.authenticator = authenticator;
    label = `nkey ${nkeys.fromSeed(new TextEncoder().encode(revealSecret(seed))).getPublicKey()}`;
  } else if (options.credsFile !== undefined) {
    const file = options.credsFile;
    let content = readCreds(file);
    checkSigner(credsAuthenticator(() => content), 'credsFile');
    connection.authenticator = credsAuthenticator(() => {
      // Read at each connection: a renewed file is used; one that went missing, or cannot be used
      // (caught half written, emptied), keeps the last content that could sign.
      try {
        const fresh = readFileSync(file);
        if (signs(credsAuthenticator(() => fresh))) content = fresh;
      } catch {
        // The last content read stays.
      }
      return content;
    });
    label = `creds file ${file}`;
  } else if (options.authenticator !== undefined) {
    label = 'authenticator';
  }
  const hosts = servers.map(({ host, port }) => ({ host, port: Number(port) }));
  return { connection, address, hosts, credentials: label, tls };
}

/** True when `authenticator` signs a nonce. */
function signs(authenticator: Authenticator): boolean {
  try {
    authenticator(nonce);
    return true;
  } catch {
    return false;
  }
}

/**
 * nats.js hands its `tls` options to Node's tls.connect, and reads `certFile`, `keyFile` and a
 * single `caFile` again at each connection: file paths are passed on for that, after resolveTls
 * has checked them (unknown keys, unreadable files) and read everything once.
 */
async function natsTls(options: NatsTlsOptions): Promise<NonNullable<NodeConnectionOptions['tls']>> {
  const { handshakeFirst, ...common } = options;
  const resolved: Record<string, unknown> = { ...(await resolveTls(common)) };
  try {
    createSecureContext({ key: resolved['key'], cert: resolved['cert'], passphrase: resolved['passphrase'] } as SecureContextOptions);
  } catch (error) {
    const { code, reason } = error as { code?: unknown; reason?: unknown };
    throw new ConfigurationError(`nats.tls: the client certificate or key cannot be used (${[code, reason].filter((part) => typeof part === 'string').join(': ') || 'unreadable'})`);
  }
  if (handshakeFirst !== undefined) resolved['handshakeFirst'] = handshakeFirst;
  if (options.certFile !== undefined) resolved['certFile'] = options.certFile;
  if (options.keyFile !== undefined) resolved['keyFile'] = options.keyFile;
  if (typeof options.caFile === 'string') resolved['caFile'] = options.caFile;
  return resolved as NonNullable<NodeConnectionOptions['tls']>;
}
