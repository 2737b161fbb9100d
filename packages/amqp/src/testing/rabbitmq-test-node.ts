import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

export interface RabbitTestNodeOptions {
  /** Lines added to the node's rabbitmq.conf (listeners, TLS, auth mechanisms...). */
  readonly config?: readonly string[];
  /** Plugins to enable (e.g. rabbitmq_auth_mechanism_ssl). Default none. */
  readonly plugins?: readonly string[];
}

/**
 * A RabbitMQ node a test suite owns, beside the machine's broker: its own node name, AMQP port,
 * distribution port, data directory, config file, enabled-plugins file and Erlang cookie (HOME is its
 * directory), all under the OS temp dir. It can be restarted or stopped without touching the
 * machine's node. Needs the RabbitMQ server scripts (Debian's, or RABBITMQ_SERVER_BIN). If the
 * process that started it dies, an exit hook kills the node.
 */
export class RabbitTestNode {
  readonly port: number;
  readonly nodeName: string;
  readonly dir: string;
  readonly #distPort: number;
  readonly #options: RabbitTestNodeOptions;
  #process: ChildProcess | undefined;
  readonly #killOnExit = (): void => this.#killNow();

  private constructor(port: number, distPort: number, options: RabbitTestNodeOptions) {
    this.port = port;
    this.#distPort = distPort;
    this.#options = options;
    this.dir = mkdtempSync(join(tmpdir(), 'micro-framework-rabbitmq-'));
    this.nodeName = `mf${port}@localhost`;
  }

  /** Starts a node; resolves once it answers AMQP on `port`. */
  static async start(options: RabbitTestNodeOptions = {}): Promise<RabbitTestNode> {
    const node = new RabbitTestNode(await freePort(), await freePort(), options);
    node.#writeFiles();
    process.once('exit', node.#killOnExit);
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
    process.off('exit', this.#killOnExit);
    rmSync(this.dir, { recursive: true, force: true });
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
    const config = [`listeners.tcp.default = 127.0.0.1:${this.port}`, ...(this.#options.config ?? [])];
    writeFileSync(join(this.dir, 'rabbitmq.conf'), `${config.join('\n')}\n`, { mode: 0o600 });
    writeFileSync(join(this.dir, 'enabled_plugins'), `[${(this.#options.plugins ?? []).join(',')}].\n`);
    writeFileSync(join(this.dir, 'rabbitmq-env.conf'), '');
    // The node and rabbitmqctl read the cookie from $HOME; Erlang wants it private.
    writeFileSync(join(this.dir, '.erlang.cookie'), `MF${this.port}${Math.random().toString(36).slice(2)}`.toUpperCase(), { mode: 0o400 });
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
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`rabbitmq-server exited with ${code} (see ${join(this.dir, 'server.out')})`))));
    exited.catch(() => undefined);
    const deadline = Date.now() + 90_000;
    while (!(await answersAmqp(this.port))) {
      if (child.exitCode !== null || child.signalCode !== null) await exited;
      if (Date.now() > deadline) throw new Error(`RabbitMQ node ${this.nodeName} did not answer on ${this.port} within 90 s (see ${this.logDir})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async #terminate(): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // The whole process group: the script, erl and beam.
    const signal = (name: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, name);
      } catch {
        // Gone already.
      }
    };
    signal('SIGTERM');
    const killer = setTimeout(() => signal('SIGKILL'), 30_000);
    await exited;
    // beam may outlive the script by a moment: wait until no process of the group is left.
    const groupAlive = (): boolean => {
      try {
        process.kill(-child.pid!, 0);
        return true;
      } catch {
        return false;
      }
    };
    while (groupAlive()) await new Promise((resolve) => setTimeout(resolve, 100));
    clearTimeout(killer);
  }

  /** Synchronous last resort at process exit: SIGKILL the node's process group, remove its directory. */
  #killNow(): void {
    const pid = this.#process?.pid;
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Not running.
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
