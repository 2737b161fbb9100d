import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsTestOperator } from './nats-test-operator.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Credentials a NatsTestServer requires of every client: a user and password, a token, or an nkey
 * user given by its public key ("U…"; the client signs the server's nonce with the matching seed).
 */
export type NatsTestAuth =
  | { readonly user: string; readonly pass: string }
  | { readonly token: string }
  | { readonly nkey: string };

/** The `authorization` block of a nats-server config file requiring `auth`. */
function authorizationConfig(auth: NatsTestAuth): string {
  const quoted = (text: string): string => JSON.stringify(text);
  if ('token' in auth) return `authorization {\n  token: ${quoted(auth.token)}\n}\n`;
  if ('nkey' in auth) {
    if (!/^U[A-Z2-7]{55}$/.test(auth.nkey)) throw new Error('NatsTestServer: nkey must be a user public key (U…, 56 characters), never a seed');
    return `authorization {\n  users = [ { nkey: ${quoted(auth.nkey)} } ]\n}\n`;
  }
  return `authorization {\n  user: ${quoted(auth.user)}\n  password: ${quoted(auth.pass)}\n}\n`;
}

/**
 * TLS a NatsTestServer requires of every client: its certificate and key, the CA it verifies client
 * certificates against, and with `verify` a client certificate signed by that CA is required.
 */
export interface NatsTestTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile?: string;
  readonly verify?: boolean;
}

/** The `tls` block of a nats-server config file. */
function tlsConfig(tls: NatsTestTls): string {
  const quoted = (text: string): string => JSON.stringify(text);
  const lines = [`  cert_file: ${quoted(tls.certFile)}`, `  key_file: ${quoted(tls.keyFile)}`, '  timeout: 2'];
  if (tls.caFile !== undefined) lines.push(`  ca_file: ${quoted(tls.caFile)}`);
  if (tls.verify) lines.push('  verify: true');
  return `tls {\n${lines.join('\n')}\n}\n`;
}

/** The operator-mode settings of a nats-server config file: the operator, its accounts in a memory resolver. */
function operatorConfig(operator: NatsTestOperator): string {
  const preload = Object.entries(operator.accountJwts).map(([account, jwt]) => `  ${account}: ${JSON.stringify(jwt)}`);
  return `operator: ${JSON.stringify(operator.operatorJwt)}\nsystem_account: ${operator.systemAccount}\nresolver: MEMORY\nresolver_preload: {\n${preload.join('\n')}\n}\n`;
}

/** Options of a NatsTestServer: what it requires of its clients. */
export interface NatsTestServerOptions {
  /** Credentials (user/pass, token or nkey); not with `operator`. */
  readonly auth?: NatsTestAuth;
  /** TLS, required of every client. */
  readonly tls?: NatsTestTls;
  /** Operator mode: clients sign in with `.creds` files of this operator's users. */
  readonly operator?: NatsTestOperator;
  /** More nats-server configuration (a `cluster` block, `client_advertise`...), appended to its config file. */
  readonly extraConfig?: string;
}

/**
 * A nats-server with JetStream that a test suite owns: its own loopback port and store directory, so
 * it can be restarted (or killed) without touching the machine's shared server. Needs `nats-server`
 * on PATH (or NATS_SERVER_BIN). With `auth`, `tls` or `operator` it is started from a config file
 * (in its store directory, readable by the owner only) holding the credentials, so they never appear
 * in its command line.
 */
export class NatsTestServer {
  readonly port: number;
  readonly storeDir: string;
  #options: NatsTestServerOptions;
  #process: ChildProcess | undefined;

  private constructor(port: number, storeDir: string, options: NatsTestServerOptions) {
    this.port = port;
    this.storeDir = storeDir;
    this.#options = options;
  }

  /** The credentials the server requires, when started with them. */
  get auth(): NatsTestAuth | undefined {
    return this.#options.auth;
  }

  /** The TLS the server requires, when started with it. */
  get tls(): NatsTestTls | undefined {
    return this.#options.tls;
  }

  /** `nats://127.0.0.1:<port>`, or `tls://…` for a server that requires TLS. */
  get url(): string {
    return `${this.tls ? 'tls' : 'nats'}://127.0.0.1:${this.port}`;
  }

  /**
   * Starts a server; with `auth`, clients must give that user and password, that token or sign with
   * that nkey; with `tls`, they must use TLS (and present a client certificate with `verify`); with
   * `operator`, they sign in with the creds of one of its users.
   */
  static async start(options: NatsTestServerOptions = {}): Promise<NatsTestServer> {
    const server = new NatsTestServer(await freePort(), mkdtempSync(join(tmpdir(), 'micro-framework-nats-')), options);
    try {
      await server.#launch();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /**
   * Stops the server (SIGTERM, then SIGKILL after 5 s) and starts it again on the same port and
   * store; `changes` replace some of its options (other credentials, other TLS) from then on.
   */
  async restart(changes: Partial<NatsTestServerOptions> = {}): Promise<void> {
    await this.#terminate();
    this.#options = { ...this.#options, ...changes };
    await this.#launch();
  }

  async stop(): Promise<void> {
    await this.#terminate();
    rmSync(this.storeDir, { recursive: true, force: true });
  }

  async #launch(): Promise<void> {
    if (this.#options.auth && this.#options.operator) throw new Error('NatsTestServer: auth and operator exclude each other');
    const binary = process.env['NATS_SERVER_BIN'] ?? 'nats-server';
    const auth: string[] = [];
    const config = [
      this.auth ? authorizationConfig(this.auth) : '',
      this.tls ? tlsConfig(this.tls) : '',
      this.#options.operator ? operatorConfig(this.#options.operator) : '',
      this.#options.extraConfig ? `${this.#options.extraConfig}\n` : '',
    ].join('');
    if (config) {
      const file = join(this.storeDir, 'nats-server.conf');
      writeFileSync(file, config, { mode: 0o600 });
      auth.push('-c', file);
    }
    const child = spawn(binary, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir, ...auth], { stdio: 'ignore' });
    this.#process = child;
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`nats-server exited with ${code}`))));
    exited.catch(() => undefined);
    const deadline = Date.now() + 20_000;
    while (!(await answers(this.port))) {
      if (child.exitCode !== null) await exited;
      if (Date.now() > deadline) throw new Error(`nats-server did not answer on ${this.port} within 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async #terminate(): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
