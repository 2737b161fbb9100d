import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** AMQP 0-9-1's protocol header: a broker that is up answers it with a connection.start method frame. */
const protocolHeader = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

/** True when an AMQP broker on 127.0.0.1:`port` answers the protocol header with a method frame. */
function answersAmqp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => socket.write(protocolHeader));
    socket.once('data', (data: Buffer) => done(data[0] === 1));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

/** True when something accepts a TCP connection on 127.0.0.1:`port` (a TLS listener that is up). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The RabbitMQ server script: RABBITMQ_SERVER_BIN, else Debian's (which runs as root), else on PATH. */
function serverBinary(): string {
  const debian = '/usr/lib/rabbitmq/bin/rabbitmq-server';
  return process.env['RABBITMQ_SERVER_BIN'] ?? (existsSync(debian) ? debian : 'rabbitmq-server');
}

/** rabbitmqctl next to the server script. */
function ctlBinary(): string {
  const server = serverBinary();
  return server.includes('/') ? join(server, '..', 'rabbitmqctl') : 'rabbitmqctl';
}

/**
 * True while a process of group `pgid` is alive. Zombies do not count (a reaped-late beam under a PID 1
 * that reaps slowly); without /proc, any process of the group counts.
 */
function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const pid of entries) {
    try {
      // pid (comm) state ppid pgrp ...: comm may hold spaces or parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') return true;
    } catch {
      // Gone meanwhile.
    }
  }
  return false;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // No process left in the group.
  }
}

/**
 * The watchdog: a small process of its own that reads the node's process group ids on stdin and, when
 * stdin closes (the process that owns the node ended, however it ended: exit, SIGINT, SIGKILL, a
 * test runner tearing its worker down), kills the group and removes the node's directory.
 */
const watchdogSource = `
const { rmSync } = require('node:fs');
const dir = process.argv[1];
let pgid = 0;
let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  const lines = buffered.split('\\n');
  buffered = lines.pop();
  for (const line of lines) if (/^\\d+$/.test(line)) pgid = Number(line);
});
process.stdin.on('close', () => {
  if (pgid > 0) { try { process.kill(-pgid, 'SIGKILL'); } catch {} }
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
`;

/** A TLS listener for a test node: PEM files the node reads (the user running the node must be able to). */
export interface RabbitTestNodeTls {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Ask clients for a certificate and verify it against caFile (`verify_peer`). Default true. */
  readonly verifyPeer?: boolean;
  /** Refuse a client that presents no certificate. Default false. */
  readonly failIfNoPeerCert?: boolean;
}

export interface RabbitTestNodeOptions {
  /** Lines added to the node's rabbitmq.conf (auth mechanisms, ssl_cert_login_from...). */
  readonly config?: readonly string[];
  /** Plugins to enable (e.g. rabbitmq_auth_mechanism_ssl). Default none. */
  readonly plugins?: readonly string[];
  /** Also listen for AMQP over TLS on a port of its own (`tlsPort`), with these files. */
  readonly tls?: RabbitTestNodeTls;
}

/**
 * A RabbitMQ node a test suite owns, beside the machine's broker: its own node name, AMQP port,
 * distribution port (and, with `tls`, a TLS port), data directory, config file, enabled-plugins file
 * and Erlang cookie (HOME is its directory), all under the OS temp dir. It can be restarted or
 * stopped without touching the machine's node. Needs the RabbitMQ server scripts (Debian's, or RABBITMQ_SERVER_BIN). A watchdog
 * process kills the node and removes its directory when the process that started it ends without
 * stopping it (even by SIGKILL).
 */
export class RabbitTestNode {
  readonly port: number;
  /** The TLS listener's port, when the node was started with `tls`. */
  readonly tlsPort: number | undefined;
  readonly nodeName: string;
  readonly dir: string;
  readonly #distPort: number;
  readonly #options: RabbitTestNodeOptions;
  #process: ChildProcess | undefined;
  #watchdog: ChildProcess | undefined;

  private constructor(port: number, distPort: number, tlsPort: number | undefined, options: RabbitTestNodeOptions) {
    this.port = port;
    this.tlsPort = tlsPort;
    this.#distPort = distPort;
    this.#options = options;
    this.dir = mkdtempSync(join(tmpdir(), 'micro-framework-rabbitmq-'));
    this.nodeName = `mf${port}@localhost`;
  }

  /** Starts a node; resolves once it answers AMQP on `port`. */
  static async start(options: RabbitTestNodeOptions = {}): Promise<RabbitTestNode> {
    const port = await freePort();
    const taken = new Set([port]);
    const another = async (): Promise<number> => {
      let next = await freePort();
      while (taken.has(next)) next = await freePort();
      taken.add(next);
      return next;
    };
    const distPort = await another();
    const tlsPort = options.tls ? await another() : undefined;
    const node = new RabbitTestNode(port, distPort, tlsPort, options);
    node.#writeFiles();
    node.#startWatchdog();
    try {
      await node.#launch();
    } catch (error) {
      await node.stop();
      throw error;
    }
    return node;
  }

  /** amqp://guest:guest@127.0.0.1:<port> (guest may connect: the node listens on loopback only). */
  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** amqps://127.0.0.1:<tlsPort> (no credentials: give them as options); throws when the node has no TLS listener. */
  get tlsUrl(): string {
    if (this.tlsPort === undefined) throw new Error(`RabbitMQ node ${this.nodeName} was started without tls`);
    return `amqps://127.0.0.1:${this.tlsPort}`;
  }

  /** Where the node writes its log files. */
  get logDir(): string {
    return join(this.dir, 'log');
  }

  /** Stops the node (SIGTERM: a clean shutdown) and starts it again on the same data; resolves once it answers. */
  async restart(): Promise<void> {
    await this.#terminate();
    await this.#launch();
  }

  /** Stops the node and removes its directory. */
  async stop(): Promise<void> {
    await this.#terminate();
    rmSync(this.dir, { recursive: true, force: true });
    this.#watchdog?.stdin?.end();
    this.#watchdog = undefined;
  }

  /** Runs rabbitmqctl against this node (e.g. `['list_queues', 'name', 'messages']`); resolves with its stdout. */
  async ctl(args: readonly string[], timeoutMs = 60_000): Promise<string> {
    const { stdout } = await run(ctlBinary(), ['-n', this.nodeName, ...args], { env: this.#env(), timeout: timeoutMs });
    return stdout;
  }

  #env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HOME: this.dir,
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.#distPort),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: this.logDir,
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      // Its own (empty) env file: the machine's rabbitmq-env.conf names the machine's node.
      RABBITMQ_CONF_ENV_FILE: join(this.dir, 'rabbitmq-env.conf'),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    };
  }

  #writeFiles(): void {
    mkdirSync(join(this.dir, 'mnesia'));
    mkdirSync(this.logDir);
    const config = [`listeners.tcp.default = 127.0.0.1:${this.port}`, ...this.#tlsConfig(), ...(this.#options.config ?? [])];
    writeFileSync(join(this.dir, 'rabbitmq.conf'), `${config.join('\n')}\n`, { mode: 0o600 });
    writeFileSync(join(this.dir, 'enabled_plugins'), `[${(this.#options.plugins ?? []).join(',')}].\n`);
    writeFileSync(join(this.dir, 'rabbitmq-env.conf'), '');
    // The node and rabbitmqctl read the cookie from $HOME; Erlang wants it private.
    writeFileSync(join(this.dir, '.erlang.cookie'), `MF${this.port}${Math.random().toString(36).slice(2)}`.toUpperCase(), { mode: 0o400 });
  }

  #tlsConfig(): string[] {
    const tls = this.#options.tls;
    if (!tls || this.tlsPort === undefined) return [];
    return [
      `listeners.ssl.default = 127.0.0.1:${this.tlsPort}`,
      `ssl_options.cacertfile = ${tls.caFile}`,
      `ssl_options.certfile = ${tls.certFile}`,
      `ssl_options.keyfile = ${tls.keyFile}`,
      `ssl_options.verify = ${tls.verifyPeer === false ? 'verify_none' : 'verify_peer'}`,
      `ssl_options.fail_if_no_peer_cert = ${tls.failIfNoPeerCert === true}`,
    ];
  }

  #startWatchdog(): void {
    const watchdog = spawn(process.execPath, ['-e', watchdogSource, this.dir], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    watchdog.on('error', () => undefined);
    watchdog.stdin?.on('error', () => undefined);
    // Neither the watchdog nor its pipe keeps the owner's event loop alive.
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    this.#watchdog = watchdog;
  }

  async #launch(): Promise<void> {
    const out = openSync(join(this.dir, 'server.out'), 'a');
    let child: ChildProcess;
    try {
      child = spawn(serverBinary(), [], { env: this.#env(), cwd: this.dir, detached: true, stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    this.#process = child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error) => reject(new Error(`rabbitmq-server could not start (${serverBinary()}): ${error.message}`, { cause: error })));
      child.once('exit', (code, signal) => reject(new Error(`rabbitmq-server exited with ${code ?? signal} (see ${join(this.dir, 'server.out')})`)));
    });
    failed.catch(() => undefined);
    if (child.pid !== undefined) this.#watchdog?.stdin?.write(`${child.pid}\n`);
    const deadline = Date.now() + 90_000;
    for (;;) {
      const answered = await Promise.race([answersAmqp(this.port), failed]);
      if (answered && (this.tlsPort === undefined || (await Promise.race([accepts(this.tlsPort), failed])))) return;
      if (Date.now() > deadline) throw new Error(`RabbitMQ node ${this.nodeName} did not answer on ${this.port} within 90 s (see ${this.logDir})`);
      await Promise.race([pause(100), failed]);
    }
  }

  /** Stops the node's whole process group (the script, erl, beam): SIGTERM, SIGKILL after 30 s, gives up after 60 s. */
  async #terminate(): Promise<void> {
    const pgid = this.#process?.pid;
    this.#process = undefined;
    if (pgid === undefined) return;
    // Signalled even when the script is gone: beam may outlive it.
    signalGroup(pgid, 'SIGTERM');
    const killAt = Date.now() + 30_000;
    const giveUpAt = killAt + 30_000;
    let killed = false;
    while (groupAlive(pgid)) {
      if (!killed && Date.now() > killAt) {
        signalGroup(pgid, 'SIGKILL');
        killed = true;
      }
      if (Date.now() > giveUpAt) throw new Error(`RabbitMQ node ${this.nodeName} (process group ${pgid}) did not exit within 60 s`);
      await pause(100);
    }
    // Nothing of that group is left for the watchdog to kill (its id may be reused).
    this.#watchdog?.stdin?.write('0\n');
  }
}
