import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as connectNet, isIP } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { inspect } from 'node:util';
import {
  AuthenticationFailed,
  ConfigurationError,
  InsecureCredentials,
  Secret,
  TlsHandshakeFailed,
  asSecret,
  isLoopbackHost,
  refuseInsecureCredentials,
  resolveTls,
  revealSecret,
  summarizeError,
  tlsFailureCode,
  verifiesServer,
  type Telemetry,
} from '@micro-framework/core';
import { Kafka, logLevel, type Authenticator, type AuthenticationProviderArgs, type ISocketFactory, type KafkaConfig } from 'kafkajs';
import type * as KafkaJs from 'kafkajs';
import type { KafkaOauthBearerSasl, KafkaOptions, KafkaPasswordSasl } from './kafka-options.ts';

const kafkajsRequire = createRequire(import.meta.url);
// kafkajs's error classes are not named ESM exports (its CommonJS module spreads them), and its
// typings give these no message parameter, which they take.
const { KafkaJSSASLAuthenticationError, KafkaJSConnectionError } = kafkajsRequire('kafkajs') as {
  KafkaJSSASLAuthenticationError: new (message: string) => KafkaJs.KafkaJSError;
  KafkaJSConnectionError: new (message: string, options: { broker: string }) => KafkaJs.KafkaJSError;
};

type AuthenticationProvider = (args: AuthenticationProviderArgs) => Authenticator;
/** kafkajs's built-in authenticators (not exported: its CommonJS files, by path), to wrap with `resilient`. */
const builtInAuthenticators: Record<string, (sasl: unknown) => AuthenticationProvider> = {
  plain: kafkajsRequire('kafkajs/src/broker/saslAuthenticator/plain.js'),
  'scram-sha-256': kafkajsRequire('kafkajs/src/broker/saslAuthenticator/scram256.js'),
  'scram-sha-512': kafkajsRequire('kafkajs/src/broker/saslAuthenticator/scram512.js'),
  aws: kafkajsRequire('kafkajs/src/broker/saslAuthenticator/awsIam.js'),
};

/** A connection that went away (closed, reset, timed out), in kafkajs's or Node's words: no answer of the broker's. */
const interruption = /Closed connection|Connection (error|timeout|closed)|Not connected|timed out|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|socket hang up|disconnected/i;

/**
 * What the broker says when it refuses a SASL exchange: error 58 (SASL_AUTHENTICATION_FAILED, with or
 * without the broker's own message), a SCRAM server-final `e=` value (RFC 5802), a bad server
 * signature or nonce, a mechanism it does not offer, a token it rejects.
 */
const refusal = /authentication failed|SASL_AUTHENTICATION_FAILED|invalid (username|credentials|server|token|OAuth)|not supported by the server|invalid-proof|unknown-user|invalid-encoding|invalid-username-encoding|extensions-not-supported|channel-binding|no-resources|other-error|iterations|invalid_token|the broker answered|gave no token|Missing \w+/i;

/** Whether a KafkaJSSASLAuthenticationError `message` is a refusal of the broker's (else the connection was lost during the exchange). */
function refusedBy(message: string): boolean {
  // kafkajs wraps what went wrong as "SASL <MECHANISM> authentication failed: <what>": judge <what>.
  const inner = /^SASL [\w-]+(?: [\w-]+)? authentication failed: ([\s\S]*)$/.exec(message)?.[1] ?? message;
  if (interruption.test(inner)) return false;
  return refusal.test(inner);
}

/**
 * `provider` with a lost connection during the exchange reported as the connection error it is
 * (kafkajs retries those), not as a refused authentication (which it does not retry).
 */
function resilient(provider: AuthenticationProvider): AuthenticationProvider {
  return (args) => {
    const authenticator = provider(args);
    return {
      async authenticate(): Promise<void> {
        try {
          await authenticator.authenticate();
        } catch (error) {
          const { name, message } = error as { name?: unknown; message?: unknown };
          if (name === 'KafkaJSSASLAuthenticationError' && typeof message === 'string' && !refusedBy(message)) {
            throw new KafkaJSConnectionError(`Connection lost during SASL authentication: ${message}`, { broker: `${args.host}:${args.port}` });
          }
          throw error;
        }
      },
    };
  };
}

/**
 * `target` with util.inspect and JSON.stringify showing only `shown` (the mechanism, the user): its
 * other fields (a secret access key, a token provider...) stay where kafkajs reads them.
 */
function redacted<T extends object>(target: T, shown: Record<string, unknown>): T {
  const view = (): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...shown };
    for (const key of Object.keys(target)) if (!(key in out)) out[key] = '***';
    return out;
  };
  Object.defineProperty(target, inspect.custom, { value: () => `KafkaSasl ${inspect(view())}`, enumerable: false });
  Object.defineProperty(target, 'toJSON', { value: view, enumerable: false });
  return target;
}

/** The default kafkajs socket factory (net or tls.connect, keep-alive), for the loopback guard to wrap. */
const netSocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? connectTls({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...(ssl as ConnectionOptions) }, onConnect)
    : connectNet({ host, port }, onConnect);
  socket.setKeepAlive(true, 60_000);
  return socket;
};

const passwordMechanisms = new Set(['plain', 'scram-sha-256', 'scram-sha-512']);

/** The kafkajs SASL settings for `sasl`, with what messages may say of them (never a secret). */
interface SaslPlan {
  readonly config: KafkaConfig['sasl'];
  /** What would cross a plaintext connection, for InsecureCredentials. */
  readonly what: string | undefined;
  /** Mechanism and user, for AuthenticationFailed. */
  readonly label: string;
}

function saslPlan(sasl: KafkaOptions['sasl']): SaslPlan {
  if (sasl === undefined || sasl === null) return { config: undefined, what: undefined, label: '' };
  const mechanism = String((sasl as { mechanism?: unknown }).mechanism ?? '').toLowerCase();
  const name = mechanism.toUpperCase();
  if (passwordMechanisms.has(mechanism)) {
    const { username, password } = sasl as KafkaPasswordSasl;
    if (typeof username !== 'string' || username === '') throw new ConfigurationError(`kafka.sasl: ${name} needs a username`);
    if (typeof password !== 'string' && !(password instanceof Secret)) throw new ConfigurationError(`kafka.sasl: ${name} needs a password (a string or a Secret)`);
    // A hidden getter: the password is revealed only when kafkajs signs in; it sits in no field, and
    // util.inspect (getters included) and JSON.stringify of the settings do not see it.
    const hidden = asSecret(password);
    const config = redacted(
      Object.defineProperty({ mechanism, username, authenticationProvider: undefined as AuthenticationProvider | undefined }, 'password', { get: () => revealSecret(hidden), enumerable: false }),
      { mechanism, username, password: '***' },
    );
    config.authenticationProvider = resilient(builtInAuthenticators[mechanism]!(config));
    return {
      config: config as KafkaConfig['sasl'],
      what: mechanism === 'plain' ? 'a SASL PLAIN password' : `SASL ${name} credentials`,
      label: `SASL ${name}, user ${username}`,
    };
  }
  if (mechanism === 'oauthbearer' && 'tokenProvider' in sasl) {
    const { tokenProvider } = sasl as KafkaOauthBearerSasl;
    if (typeof tokenProvider !== 'function') throw new ConfigurationError('kafka.sasl: OAUTHBEARER needs a tokenProvider function');
    return { config: { mechanism, authenticationProvider: oauthBearer(tokenProvider) }, what: 'an OAUTHBEARER token', label: 'SASL OAUTHBEARER' };
  }
  if (mechanism === 'oauthbearer' && 'oauthBearerProvider' in sasl) {
    // kafkajs's own OAUTHBEARER setting goes to this adapter's authenticator too (kafkajs's takes a
    // refused token for a success).
    const { oauthBearerProvider } = sasl as { oauthBearerProvider?: unknown };
    if (typeof oauthBearerProvider !== 'function') throw new ConfigurationError('kafka.sasl: OAUTHBEARER needs an oauthBearerProvider function');
    const provider = oauthBearerProvider as () => Promise<{ value: string }>;
    const tokenProvider = async (): Promise<string> => (await provider())?.value;
    return { config: { mechanism, authenticationProvider: oauthBearer(tokenProvider) }, what: 'an OAUTHBEARER token', label: 'SASL OAUTHBEARER' };
  }
  // kafkajs's own settings (aws, a custom authenticationProvider): a copy that prints no secret, the
  // built-in AWS authenticator wrapped like the others.
  const { username, authorizationIdentity } = sasl as { username?: unknown; authorizationIdentity?: unknown };
  const copy = redacted({ ...(sasl as object) } as Record<string, unknown>, {
    mechanism,
    ...(username !== undefined ? { username } : {}),
    ...(authorizationIdentity !== undefined ? { authorizationIdentity } : {}),
  });
  if (copy['authenticationProvider'] === undefined && builtInAuthenticators[mechanism]) copy['authenticationProvider'] = resilient(builtInAuthenticators[mechanism](copy));
  return { config: copy as KafkaConfig['sasl'], what: `SASL ${name} credentials`, label: `SASL ${name}` };
}

/** `bytes` with the 4-byte length before them (the SASL exchange's framing in kafkajs). */
function framed(bytes: Buffer): Buffer {
  const out = Buffer.alloc(4 + bytes.length);
  out.writeInt32BE(bytes.length, 0);
  bytes.copy(out, 4);
  return out;
}

/**
 * SASL OAUTHBEARER (RFC 7628) with a token from `tokenProvider`. The broker answers a refused token
 * with an error document instead of a failure code; kafkajs's built-in authenticator takes that for
 * a success (and the broker then closes the connection), this one fails with
 * KafkaJSSASLAuthenticationError, which kafkajs does not retry.
 */
function oauthBearer(tokenProvider: KafkaOauthBearerSasl['tokenProvider']): (args: AuthenticationProviderArgs) => Authenticator {
  return ({ saslAuthenticate }) => ({
    async authenticate(): Promise<void> {
      const token = revealSecret(await tokenProvider());
      if (typeof token !== 'string' || token === '') throw new KafkaJSSASLAuthenticationError('SASL OAUTHBEARER: the tokenProvider gave no token');
      const answer = await saslAuthenticate<string>({
        request: { encode: () => framed(Buffer.from(`n,,\u0001auth=Bearer ${token}\u0001\u0001`)) },
        response: {
          decode: (raw) => {
            const length = raw.length >= 4 ? raw.readInt32BE(0) : -1;
            return length > 0 ? raw.subarray(4, 4 + length) : Buffer.alloc(0);
          },
          parse: (data) => data.toString('utf8'),
        },
      });
      // Success is an empty answer; a refusal is a JSON error document (`{"status":"invalid_token"}`).
      if (answer) throw new KafkaJSSASLAuthenticationError(`SASL OAUTHBEARER authentication failed: the broker answered ${answer.slice(0, 200)}`);
    },
  });
}

/** The host of a `host:port` broker address (`[v6]:port` too). */
function hostOf(broker: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(broker);
  if (bracketed) return bracketed[1]!;
  const colon = broker.lastIndexOf(':');
  return colon > 0 && broker.indexOf(':') === colon ? broker.slice(0, colon) : broker;
}

/** The first `broker` (host:port) a kafkajs error in `error`'s cause chain names. */
function failedBroker(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 8; depth += 1) {
    const { broker, cause } = current as { broker?: unknown; cause?: unknown };
    if (typeof broker === 'string' && broker) return broker;
    current = cause;
  }
  return undefined;
}

/** Why the TLS session failed, from the deepest error that carries a message: Node's words, OpenSSL's reason. */
function tlsReason(error: unknown): string {
  let message = '';
  for (let current = error, depth = 0; current && depth < 8; depth += 1) {
    const { message: text, cause } = current as { message?: unknown; cause?: unknown };
    if (typeof text === 'string' && text) message = text;
    current = cause;
  }
  message = message.replace(/^(Connection error|Failed to connect): /, '');
  return /SSL routines:[^:]*:([^:]+)/.exec(message)?.[1] ?? message;
}

/** `options` as they may be shown: the SASL settings as saslPlan made them (no secret printed), the TLS key and passphrase as Secrets. */
function shownOptions(options: KafkaOptions, sasl: SaslPlan): KafkaOptions {
  const shown: Record<string, unknown> = { ...options };
  if (options.sasl != null) {
    const given = options.sasl as { mechanism?: unknown; username?: unknown };
    shown['sasl'] = sasl.config ?? redacted({ ...(options.sasl as object) }, { mechanism: given.mechanism, username: given.username });
  }
  if (options.tls != null) {
    const tls: Record<string, unknown> = { ...options.tls };
    if (options.tls.key !== undefined) tls['key'] = asSecret(options.tls.key);
    if (options.tls.passphrase !== undefined) tls['passphrase'] = asSecret(options.tls.passphrase);
    shown['tls'] = tls;
  }
  return shown as KafkaOptions;
}

/**
 * The security side of one kafkajs client: the client settings with TLS and SASL in place (`config`),
 * the checks a start makes before connecting, and the typing of TLS and SASL failures.
 *
 * With `tls`, connections are made by a socket factory of this class with the TLS options resolved
 * by `prepare()`, the files read again for each connection (a renewed certificate or CA is used from
 * the next connection on). A SASL password is revealed only when kafkajs signs in.
 */
export class KafkaSecurity {
  /** For `new Kafka(config)`: kafkajs's settings as given, with TLS and SASL in kafkajs's terms. */
  readonly config: KafkaConfig;
  /** The options as given, with secrets wrapped or hidden: what may be shown (util.inspect, JSON). */
  readonly options: KafkaOptions;
  /** The brokers as messages name them. */
  readonly address: string;
  readonly #options: KafkaOptions;
  readonly #sasl: SaslPlan;
  readonly #invalid: unknown;
  #tls: ConnectionOptions | undefined;
  /** The last connection the loopback guard refused (see #guarded). */
  #refused: InsecureCredentials | undefined;

  /** `defaults`: the brokers and log level when `options` give none. Never throws: what is wrong in `options` fails prepare(). */
  constructor(options: KafkaOptions, defaults: { brokers: string[]; logLevel?: KafkaConfig['logLevel'] }) {
    this.#options = options;
    let sasl: SaslPlan = { config: undefined, what: undefined, label: '' };
    try {
      sasl = saslPlan(options.sasl);
    } catch (error) {
      this.#invalid = error;
    }
    this.#sasl = sasl;
    this.options = shownOptions(options, sasl);
    const { tls, sasl: _sasl, allowInsecure: _allowInsecure, ...kafkajs } = options;
    const config = {
      brokers: defaults.brokers,
      logLevel: defaults.logLevel ?? logLevel.ERROR,
      ...kafkajs,
      ...(tls != null ? { ssl: true, socketFactory: this.#socketFactory } : {}),
      sasl: sasl.config,
    } as KafkaConfig;
    // Credentials without verified TLS (allowed for loopback brokers): every connection, to the
    // brokers given and to those the cluster's metadata names, must stay on loopback.
    if (sasl.what !== undefined && !this.#verified && options.allowInsecure !== true) {
      config.socketFactory = this.#guarded(config.socketFactory ?? netSocketFactory);
    }
    this.config = config;
    this.address = Array.isArray(this.config.brokers) ? this.config.brokers.join(',') : 'dynamic brokers';
  }

  /** Whether connections use TLS that verifies the brokers (`tls`, or kafkajs's `ssl`, without rejectUnauthorized: false). */
  get #verified(): boolean {
    const { tls, ssl } = this.#options;
    if (tls != null) return verifiesServer(tls);
    return ssl === true || (typeof ssl === 'object' && ssl !== null && verifiesServer(ssl));
  }

  /**
   * `factory` refusing hosts beyond loopback with InsecureCredentials (kafkajs reports the refusal
   * as a failed connection; failure() gives it back typed): a loopback seed (a tunnel, a
   * port-forward) whose metadata advertises a remote address must not get the credentials sent
   * there in clear.
   */
  #guarded(factory: ISocketFactory): ISocketFactory {
    return (args) => {
      if (!isLoopbackHost(args.host)) {
        const refused = new InsecureCredentials('Kafka', args.host, this.#sasl.what ?? 'SASL credentials');
        this.#refused = refused;
        throw refused;
      }
      return factory(args);
    };
  }

  /** True when connections use TLS or SASL: what can fail verification or authentication. */
  get secured(): boolean {
    return this.#options.tls != null || Boolean(this.#options.ssl) || this.#options.sasl != null;
  }

  /**
   * Checks the options and resolves the TLS files, before any connection: ConfigurationError for
   * invalid SASL settings or `tls` given with kafkajs's `ssl` or a socket factory, InsecureCredentials
   * for SASL over plaintext to a broker beyond loopback without `allowInsecure`, and resolveTls's
   * errors (unknown key, unreadable file).
   */
  async prepare(): Promise<void> {
    if (this.#invalid !== undefined) throw this.#invalid;
    const options = this.#options;
    const tls = options.tls != null;
    if (tls && (options.ssl !== undefined || options.socketFactory !== undefined)) {
      throw new ConfigurationError("kafka: give tls, or kafkajs's ssl (or a socketFactory of your own), not both");
    }
    const brokers = this.config.brokers;
    refuseInsecureCredentials({
      broker: 'Kafka',
      // Brokers a function gives are not known before it runs: none counts as loopback.
      hosts: Array.isArray(brokers) ? brokers.map(hostOf) : ['dynamic brokers'],
      tls: this.#verified,
      what: this.#sasl.what,
      allowInsecure: options.allowInsecure,
    });
    if (tls) this.#tls = await resolveTls(options.tls!);
  }

  /**
   * For a secured client: one connection attempt per broker, in order, without retries, until one
   * signs in. A TLS or SASL failure throws at once, typed (kafkajs would retry a TLS failure like a
   * network one, for many seconds); a broker that cannot be reached passes the question to the next,
   * and when none can, the client's own connect follows with kafkajs's retries, as without security.
   */
  async verify(): Promise<void> {
    const brokers = this.config.brokers;
    if (!this.secured || !Array.isArray(brokers)) return;
    for (const broker of brokers) {
      const admin = new Kafka({ ...this.config, brokers: [broker], retry: { retries: 0 }, logLevel: logLevel.NOTHING }).admin();
      try {
        await admin.connect();
        return;
      } catch (error) {
        const failure = this.failure(error) ?? this.#notTls(error, broker);
        if (failure) throw failure;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }
  }

  /** Runs `connect` after prepare() and verify(); a TLS or SASL failure of any of them rejects typed (see failure). */
  async connect(connect: () => Promise<void>): Promise<void> {
    try {
      await this.prepare();
      await this.verify();
      await connect();
    } catch (error) {
      throw this.typed(error);
    }
  }

  /**
   * `error` (a kafkajs error, its causes included) as TlsHandshakeFailed when the TLS session failed
   * (certificate not trusted, wrong name, client certificate refused...), AuthenticationFailed when
   * the broker refused the SASL credentials (a connection lost during the exchange is no refusal:
   * undefined, a network failure), InsecureCredentials when the loopback guard refused a broker the
   * metadata named; undefined otherwise. Messages name the broker and the
   * user, never a secret.
   */
  failure(error: unknown): TlsHandshakeFailed | AuthenticationFailed | InsecureCredentials | undefined {
    const refused = this.#refused;
    for (let current = error, depth = 0; current && depth < 8; depth += 1) {
      if (current instanceof TlsHandshakeFailed || current instanceof AuthenticationFailed || current instanceof InsecureCredentials) return current;
      const { name, message } = current as { name?: unknown; message?: unknown };
      // kafkajs keeps only the message of what the socket factory threw.
      if (refused && typeof message === 'string' && message.includes(refused.message)) return refused;
      if (name === 'KafkaJSSASLAuthenticationError') {
        // The connection was lost during the exchange: a network failure, not a refusal.
        if (typeof message === 'string' && !refusedBy(message)) return undefined;
        const offered = typeof message === 'string' && /not supported by the server/.test(message) ? ': the broker does not offer this mechanism' : '';
        return new AuthenticationFailed('Kafka', failedBroker(error) ?? this.address, `${this.#sasl.label}${offered}`, { cause: error });
      }
      current = (current as { cause?: unknown }).cause;
    }
    const code = tlsFailureCode(error);
    if (code === undefined) return undefined;
    return new TlsHandshakeFailed('Kafka', failedBroker(error) ?? this.address, tlsReason(error), { cause: error, code });
  }

  /**
   * With `tls`, a connection closed or reset before the TLS handshake finished: the broker speaks
   * no TLS on that port (a PLAINTEXT or SASL_PLAINTEXT listener) more often than not.
   */
  #notTls(error: unknown, broker: string): TlsHandshakeFailed | undefined {
    if (this.#options.tls == null && !this.#options.ssl) return undefined;
    for (let current = error, depth = 0; current && depth < 8; depth += 1) {
      const { message } = current as { message?: unknown };
      if (typeof message === 'string' && /before secure TLS connection was established/.test(message)) {
        return new TlsHandshakeFailed('Kafka', broker, 'the connection closed before the TLS handshake finished (is this a TLS listener?)', { cause: error, code: 'ECONNRESET' });
      }
      current = (current as { cause?: unknown }).cause;
    }
    return undefined;
  }

  /** failure(error) when there is one, else `error` itself. */
  typed(error: unknown): unknown {
    return this.failure(error) ?? error;
  }

  readonly #socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    const options = this.#currentTls();
    const socket = connectTls({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...options }, onConnect);
    socket.setKeepAlive(true, 60_000);
    return socket;
  };

  /**
   * The TLS options for a new connection: prepare()'s, with the files read again now, so a renewed
   * certificate or CA is used from the next connection on. A file that cannot be read at this moment
   * (replaced non-atomically, say) leaves the last options read.
   */
  #currentTls(): ConnectionOptions {
    const resolved = this.#tls;
    // kafkajs reports it as a connection failure; prepare() always runs before a client connects.
    if (!resolved) throw new ConfigurationError('Kafka TLS options are not resolved yet (prepare() first)');
    const { caFile, certFile, keyFile } = this.#options.tls ?? {};
    try {
      const fresh: ConnectionOptions = { ...resolved };
      if (caFile !== undefined) fresh.ca = (typeof caFile === 'string' ? [caFile] : caFile).map((file) => readFileSync(file));
      if (certFile !== undefined) fresh.cert = readFileSync(certFile);
      if (keyFile !== undefined) fresh.key = readFileSync(keyFile);
      this.#tls = fresh;
      return fresh;
    } catch {
      return resolved;
    }
  }
}

/**
 * Reports a consumer crash kafkajs restarts by itself (`payload.restart`) as `consumerCrashed` when
 * `failure` (KafkaSecurity.failure of its error) is a TLS or SASL failure: without this, a consumer
 * that cannot come back because of a certificate or credentials would retry in silence.
 */
export function reportSecurityCrash(telemetry: Telemetry, consumer: string, failure: ReturnType<KafkaSecurity['failure']>, delayMs = 300): void {
  if (failure === undefined) return;
  telemetry.emit('consumerCrashed', { consumer, delayMs, error: summarizeError(failure) });
}
