import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestCertificates } from '@micro-framework/conformance';

const run = promisify(execFile);
const kafkaTool = fileURLToPath(new URL('../../../tools/kafka/kafka.mjs', import.meta.url));
/** kafka.mjs listens on PORT..PORT+6 with TLS: plaintext, controller, proxied, proxy, SASL, SSL, SASL_SSL. */
const portsUsed = 7;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 41_000 + Math.floor(Math.random() * 1_500) * 10;
    let free = true;
    for (let offset = 0; offset < portsUsed && free; offset += 1) free = await portFree(base + offset);
    if (free) return base;
  }
  throw new Error(`no ${portsUsed} free consecutive ports for the secured Kafka broker`);
}

export interface SecuredKafkaBrokerOptions {
  /** The address the SASL_PLAINTEXT listener advertises in metadata (default: 127.0.0.1, where it listens). */
  readonly saslAdvertisedHost?: string;
}

/**
 * A single-node broker of the test's own with TLS listeners: tools/kafka/kafka.mjs with KAFKA_TLS_DIR
 * set to `certificates.dir`, on free ports, its storage in a fresh temporary directory (removed by
 * stop), a small heap. Every call of the script names its port and directory, so it never acts on the
 * shared broker at 9092, which other test files use meanwhile. User `svc` has a fresh password with
 * `/`, `@` and `%` in it on the SASL_SSL listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
 */
export class SecuredKafkaBroker {
  readonly port: number;
  readonly dataDir: string;
  /** The password of user `svc` on the SASL_SSL listener. */
  readonly password: string;
  /** The password of user `svc` on the SASL_PLAINTEXT listener (PLAIN). */
  readonly saslPassword: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #killOnExit = (): void => this.#killNow();

  private constructor(port: number, certificates: TestCertificates, options: SecuredKafkaBrokerOptions) {
    this.port = port;
    this.dataDir = mkdtempSync(join(tmpdir(), 'micro-framework-kafka-tls-'));
    this.password = `pw/${randomBytes(6).toString('hex')}@kafka%2F${randomBytes(3).toString('hex')}`;
    this.saslPassword = `plain-${randomBytes(8).toString('hex')}`;
    this.#env = {
      ...process.env,
      KAFKA_BROKERS: `127.0.0.1:${port}`,
      KAFKA_DATA_DIR: this.dataDir,
      KAFKA_TLS_DIR: certificates.dir,
      KAFKA_TLS_SASL_PASSWORD: this.password,
      KAFKA_SASL_PASSWORD: this.saslPassword,
      ...(options.saslAdvertisedHost ? { KAFKA_SASL_ADVERTISED_HOST: options.saslAdvertisedHost } : {}),
      KAFKA_HEAP: '384m',
    };
  }

  /** Formats and starts a broker; resolves once it serves metadata. */
  static async start(certificates: TestCertificates, options: SecuredKafkaBrokerOptions = {}): Promise<SecuredKafkaBroker> {
    const broker = new SecuredKafkaBroker(await freeBasePort(), certificates, options);
    process.once('exit', broker.#killOnExit);
    try {
      await broker.#tool('start');
      // kafka.mjs starts nothing when something already answers on the port: make sure it is ours.
      if (!existsSync(broker.#pidFile)) throw new Error(`kafka.mjs started no broker on port ${broker.port} (something else answers there)`);
    } catch (error) {
      await broker.stop();
      throw error;
    }
    return broker;
  }

  /** The SASL_PLAINTEXT listener (PLAIN, user svc, saslPassword), as it listens (on loopback). */
  get sasl(): string {
    return `127.0.0.1:${this.port + 4}`;
  }

  /** The SSL listener: TLS with a client certificate signed by the test CA required. */
  get ssl(): string {
    return `127.0.0.1:${this.port + 5}`;
  }

  /** The SASL_SSL listener: TLS, then PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (unsigned tokens). */
  get saslSsl(): string {
    return `127.0.0.1:${this.port + 6}`;
  }

  /** Stops it (a controlled shutdown) and starts it again on the same storage; resolves once it serves metadata. */
  async restart(): Promise<void> {
    await this.#tool('restart');
  }

  /** Stops it and removes its storage. */
  async stop(): Promise<void> {
    await this.#tool('stop').catch(() => undefined);
    this.#killNow();
    process.off('exit', this.#killOnExit);
  }

  get #pidFile(): string {
    return join(this.dataDir, 'kafka.pid');
  }

  async #tool(command: 'start' | 'stop' | 'restart'): Promise<void> {
    try {
      await run(process.execPath, [kafkaTool, command], { env: this.#env, timeout: 180_000 });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw new Error(`kafka.mjs ${command} (port ${this.port}) failed: ${String(error)}\n${stdout}${stderr}\n(broker log: ${join(this.dataDir, 'kafka.log')})`, { cause: error });
    }
  }

  /** Last resort (process exit, a failed stop): SIGKILL this broker only (by its pid file), remove its storage. */
  #killNow(): void {
    try {
      process.kill(Number(readFileSync(this.#pidFile, 'utf8')), 'SIGKILL');
    } catch {
      // Not running (any more).
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
