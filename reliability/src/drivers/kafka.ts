import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KafkaBackoff, KafkaPublisher, createTopicsAndWait, KafkaRpcClient, KafkaRpcListener, TopicListener, headersFromKafka } from '@micro-framework/kafka';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import type { BrokerDriver, DeadLetter, DriverModule, Json, ServiceBindings } from '../broker-driver.ts';
import { idHeader, type Channel } from '../messages.ts';
import { packageVersion } from '../versions.ts';

const run = promisify(execFile);

/** The topic of each channel (the run's own broker: plain names), and their partitions. */
const topics: Record<Channel, string> = { events: 'chaos.events', keyed: 'chaos.keyed' };
const partitions = 8;
/** The repository's single-node KRaft broker script (see its header: KAFKA_BROKERS, KAFKA_DATA_DIR). */
const kafkaTool = fileURLToPath(new URL('../../../tools/kafka/kafka.mjs', import.meta.url));
const kafkaLib = fileURLToPath(new URL('../../../tools/kafka/lib', import.meta.url));

interface KafkaServiceSpec {
  readonly brokers: string[];
  readonly partitions: number;
  readonly sessionTimeoutMs: number;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects when `promise` has not settled within `ms` (the promise itself goes on). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** True when nothing listens on 127.0.0.1:`port`. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port whose five ports (kafka.mjs: plain, controller, proxied, proxy, SASL) are all free. */
async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * 2_000) * 10;
    let free = true;
    for (let offset = 0; offset < 5 && free; offset += 1) free = await portFree(base + offset);
    if (free) return base;
  }
  throw new Error('no five free consecutive ports for the chaos run\'s Kafka broker');
}

/** The Kafka version of the jars tools/kafka/kafka.mjs runs (kafka_2.13-<version>.jar). */
function kafkaVersion(): string {
  try {
    const jar = readdirSync(kafkaLib).find((name) => /^kafka_2\.13-[\d.]+\.jar$/.test(name));
    return jar ? jar.slice('kafka_2.13-'.length, -'.jar'.length) : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The run's own single-node KRaft broker, started by tools/kafka/kafka.mjs on free ports with a data
 * directory under the OS temp dir (fresh per run, removed by stop): restarting it disturbs no other
 * broker on the machine. Every call of the script names both (KAFKA_BROKERS, KAFKA_DATA_DIR), so it
 * never acts on the default broker.
 */
class OwnKafkaBroker {
  readonly port: number;
  readonly dataDir: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #cleanUpOnExit = (): void => this.#killNow();
  readonly #cleanUpOnSignal = (signal: NodeJS.Signals): void => {
    this.#killNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };

  private constructor(port: number) {
    this.port = port;
    this.dataDir = mkdtempSync(join(tmpdir(), 'micro-framework-chaos-kafka-broker-'));
    this.#env = { ...process.env, KAFKA_BROKERS: `127.0.0.1:${port}`, KAFKA_DATA_DIR: this.dataDir };
  }

  static async start(): Promise<OwnKafkaBroker> {
    const broker = new OwnKafkaBroker(await freeBasePort());
    process.once('exit', broker.#cleanUpOnExit);
    process.once('SIGINT', broker.#cleanUpOnSignal);
    process.once('SIGTERM', broker.#cleanUpOnSignal);
    try {
      await broker.#tool('start');
      // kafka.mjs starts nothing when something already answers on the port: make sure it was ours.
      if (!existsSync(broker.#pidFile)) throw new Error(`kafka.mjs started no broker on port ${broker.port} (something else answers there)`);
    } catch (error) {
      await broker.stop();
      throw error;
    }
    return broker;
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  get #pidFile(): string {
    return join(this.dataDir, 'kafka.pid');
  }

  /** Stops it (SIGTERM: a controlled shutdown) and starts it again on the same storage; resolves once it serves metadata. */
  async restart(): Promise<void> {
    await this.#tool('restart');
  }

  /** Stops it and removes its data directory. */
  async stop(): Promise<void> {
    await this.#tool('stop').catch(() => this.#killNow());
    this.#killNow();
    process.off('exit', this.#cleanUpOnExit);
    process.off('SIGINT', this.#cleanUpOnSignal);
    process.off('SIGTERM', this.#cleanUpOnSignal);
  }

  async #tool(command: 'start' | 'stop' | 'restart'): Promise<void> {
    try {
      await run(process.execPath, [kafkaTool, command], { env: this.#env, timeout: 240_000 });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw new Error(`kafka.mjs ${command} (port ${this.port}) failed: ${String(error)}\n${stdout}${stderr}\n(broker log: ${join(this.dataDir, 'kafka.log')})`, { cause: error });
    }
  }

  /** Synchronous last resort (process exit, a failed stop): SIGKILL our broker, remove its directory. */
  #killNow(): void {
    try {
      process.kill(Number(readFileSync(this.#pidFile, 'utf8')), 'SIGKILL');
    } catch {
      // Not running (any more).
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * Reads the dead-letter topics (`<group>.dlt`) of the run's broker from the beginning with a consumer
 * group of its own, and waits, on each read, until it has caught up with their end offsets: a read
 * returns every dead letter the broker had when it was asked.
 */
class DeadLetterReader {
  readonly #kafka: Kafka;
  readonly #admin: Admin;
  readonly #letters = new Map<string, DeadLetter>();
  /** Per topic-partition, the offset after the last record read. */
  readonly #next = new Map<string, bigint>();
  #consumer: { topics: string[]; consumer: Consumer; crashed: boolean } | undefined;

  constructor(kafka: Kafka, admin: Admin) {
    this.#kafka = kafka;
    this.#admin = admin;
  }

  async read(): Promise<DeadLetter[]> {
    const dlts = (await this.#admin.listTopics()).filter((topic) => topic.endsWith('.dlt')).sort();
    if (dlts.length === 0) return [...this.#letters.values()];
    if (!this.#consumer || this.#consumer.crashed || this.#consumer.topics.join() !== dlts.join()) await this.#subscribe(dlts);
    const ends = await Promise.all(dlts.map(async (topic) => ({ topic, offsets: await this.#admin.fetchTopicOffsets(topic) })));
    const behind = (): boolean =>
      ends.some(({ topic, offsets }) => offsets.some(({ partition, high, low }) => BigInt(high) > (this.#next.get(`${topic}:${partition}`) ?? BigInt(low))));
    const deadline = Date.now() + 30_000;
    while (behind()) {
      if (Date.now() > deadline) throw new Error('the dead-letter reader did not catch up with the dead-letter topics within 30 s');
      await pause(100);
    }
    return [...this.#letters.values()];
  }

  async close(): Promise<void> {
    await this.#consumer?.consumer.disconnect().catch(() => undefined);
    this.#consumer = undefined;
  }

  async #subscribe(dlts: string[]): Promise<void> {
    await this.close();
    const consumer = this.#kafka.consumer({ groupId: `chaos-dead-letters-${randomUUID()}`, maxWaitTimeInMs: 100 });
    const entry = { topics: dlts, consumer, crashed: false };
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) entry.crashed = true;
    });
    await consumer.connect();
    await consumer.subscribe({ topics: dlts, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const headers = headersFromKafka(message.headers);
        const original = headers['x-original-topic'];
        const channel = (Object.keys(topics) as Channel[]).find((name) => topics[name] === original) ?? 'unknown';
        this.#letters.set(`${topic}:${partition}:${message.offset}`, { id: headers[idHeader], channel, headers });
        this.#next.set(`${topic}:${partition}`, BigInt(message.offset) + 1n);
      },
    });
    this.#consumer = entry;
  }
}

/**
 * Kafka: the run's own single-node KRaft broker (tools/kafka/kafka.mjs on free ports, its data under
 * the OS temp dir), so broker restarts disturb nobody else. Publishers (a KafkaPublisher: idempotent,
 * acks from all in-sync replicas) and the RPC caller connect to it directly; the consumer service
 * bootstraps through the orchestrator's TCP proxy on the broker's PROXIED listener, which is
 * advertised at the proxy's fixed port, so every connection of the service crosses the proxy.
 */
export const kafkaDriver: DriverModule = {
  async start({ ackWaitMs }) {
    const broker = await OwnKafkaBroker.start();
    const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING, clientId: 'chaos-outside' });
    const admin = kafka.admin();
    const publisher = new KafkaPublisher({ kafka: { brokers: broker.brokers, logLevel: logLevel.NOTHING, clientId: 'chaos-publishers' } });
    const clients: KafkaRpcClient[] = [];
    let deadLetters: DeadLetterReader | undefined;
    // A killed member holds its partitions until its session expires: the analogue of NATS's ack wait.
    const sessionTimeoutMs = Math.max(6_000, ackWaitMs * 2);
    try {
      await admin.connect();
      await createTopicsAndWait(admin, Object.values(topics).map((topic) => ({ topic, numPartitions: partitions })));
    } catch (error) {
      await admin.disconnect().catch(() => undefined);
      await broker.stop();
      throw error;
    }

    const driver: BrokerDriver = {
      broker: 'kafka',
      label: 'kafka (KRaft, single node)',
      keyedOrder: { on: true },
      notes: [
        `The run's own single-node KRaft broker (tools/kafka/kafka.mjs, Apache Kafka ${kafkaVersion()}, on free ports, storage under the OS temp dir); topics of ${partitions} partitions, replication factor 1.`,
        `The topic listeners' consumer groups have a ${sessionTimeoutMs / 1_000} s session timeout (default 30 s) so the partitions of a killed consumer go to its next incarnation within seconds.`,
        "After a SIGKILL the next incarnation waits for the group to drop the dead member: the RPC request group's session timeout is 10 s (KafkaRpcListener's default since the first runs here, which waited kafkajs's 30 s), and the RPC server starts during route setup, before the topic listeners, so recovery after a kill takes about the session timeout plus a rebalance.",
        'Publishing uses one idempotent KafkaPublisher (acks = all); a publish tried again after a timeout or a broker restart may store the message twice (counted as a duplicate if both are delivered).',
        'Broker-delayed retries go to the consumer group\'s retry topic, so a retried event leaves its key\'s order; the keyed route has no retries (a failure is a dead letter, its key not judged).',
      ],
      proxyTarget: { host: '127.0.0.1', port: broker.port + 2, listenPort: broker.port + 3 },
      serviceSpec: (proxyPort) => ({ brokers: [`127.0.0.1:${proxyPort}`], partitions, sessionTimeoutMs }) satisfies KafkaServiceSpec,
      async publish(message) {
        await within(publisher.publish(topics[message.channel], message.body, { key: message.key, headers: message.headers }), 15_000, `publish of ${message.id}`);
      },
      async readDeadLetters() {
        deadLetters ??= new DeadLetterReader(kafka, admin);
        return deadLetters.read();
      },
      async backlog() {
        // Per listener group: records of its topic and of its retry topic past its committed offsets.
        const groups = (await admin.listGroups()).groups.map((group) => group.groupId);
        let held = 0;
        for (const topic of Object.values(topics)) {
          const mine = groups.filter((group) => group.startsWith(`${topic}__`));
          if (mine.length === 0) {
            for (const { high, low } of await admin.fetchTopicOffsets(topic)) held += Number(BigInt(high) - BigInt(low));
            continue;
          }
          for (const group of mine) {
            for (const t of [topic, `${group}.retry`]) {
              const ends = await admin.fetchTopicOffsets(t).catch(() => []);
              const [committed] = await admin.fetchOffsets({ groupId: group, topics: [t] }).catch(() => []);
              for (const { partition, high, low } of ends) {
                const offset = committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
                const from = BigInt(offset) >= 0n ? BigInt(offset) : BigInt(low);
                if (BigInt(high) > from) held += Number(BigInt(high) - from);
              }
            }
          }
        }
        return held;
      },
      restartBroker: () => broker.restart(),
      async createRpcClient() {
        const client = new KafkaRpcClient({ kafka: { brokers: broker.brokers, logLevel: logLevel.NOTHING, clientId: 'chaos-rpc-caller' } });
        clients.push(client);
        return client;
      },
      async versions() {
        return { kafka: kafkaVersion(), kafkajs: packageVersion('kafkajs') };
      },
      async close() {
        await Promise.allSettled(clients.map((client) => client.close()));
        await deadLetters?.close();
        await Promise.allSettled([publisher.close(), admin.disconnect()]);
        await broker.stop();
      },
    };
    return driver;
  },

  bindings(spec: Json): ServiceBindings {
    const { brokers, partitions: numPartitions, sessionTimeoutMs } = spec as unknown as KafkaServiceSpec;
    const listener = (channel: Channel): TopicListener => new TopicListener({ topic: topics[channel], partitions: numPartitions, sessionTimeoutMs });
    return {
      // CHAOS_KAFKAJS_LOG=warn shows kafkajs's own warnings in the consumer logs.
      config: { kafka: { brokers, logLevel: process.env['CHAOS_KAFKAJS_LOG'] === 'warn' ? logLevel.WARN : logLevel.NOTHING } },
      eventEntrypoint: () => listener('events'),
      keyedEntrypoint: () => listener('keyed'),
      rpcEntrypoint: (name) => new KafkaRpcListener({ name }),
      delayedBackoff: (options) => new KafkaBackoff(options),
    };
  },
};
