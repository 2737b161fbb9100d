import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { AuthenticationFailed, isRetryable, secret } from '@micro-framework/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaPublisher, type KafkaOptions } from '../src/index.ts';

// A connection lost in the middle of the SASL exchange (a broker restarting, a load balancer cutting
// an idle connection) is a network failure, not refused credentials: it must not come out as
// AuthenticationFailed (not retryable: records would be given up). A proxy in front of the shared
// broker's SASL_PLAINTEXT listener (tools/kafka/kafka.mjs: PORT+4, PLAIN, user svc) cuts a
// connection when it sees a SaslAuthenticate request (API key 36), as many times as told. Only the
// connections to the seed broker pass the proxy (the broker advertises its own address).
const base = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',')[0]!;
const saslPort = Number(base.split(':')[1] ?? 9092) + 4;
const password = process.env['KAFKA_SASL_PASSWORD'] ?? 'kafka-test-secret-5b1e9c';
const saslAuthenticate = 36;

/** A TCP proxy to the SASL listener that drops the connection at a SaslAuthenticate request while `cuts` > 0. */
class SaslCutter {
  cuts = 0;
  /** SaslAuthenticate requests cut so far. */
  cut = 0;
  readonly #server: Server = createServer((client) => this.#accept(client));
  readonly #sockets = new Set<Socket>();

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const upstream = connect(saslPort, '127.0.0.1');
    this.#sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 6 && pending.length >= 4 + pending.readInt32BE(0)) {
        if (pending.readInt16BE(4) === saslAuthenticate && this.cuts > 0) {
          this.cuts -= 1;
          this.cut += 1;
          client.destroy();
          upstream.destroy();
          return;
        }
        pending = pending.subarray(4 + pending.readInt32BE(0));
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const [one, other] of [[client, upstream], [upstream, client]] as const) {
      one.on('error', () => other.destroy());
      one.on('close', () => {
        other.destroy();
        this.#sockets.delete(one);
      });
    }
  }
}

describe('a connection lost during the SASL exchange', () => {
  const cutter = new SaslCutter();
  const topic = `sasl-cut-${randomUUID().slice(0, 8)}`;
  let options: KafkaOptions;

  beforeAll(async () => {
    const port = await cutter.start();
    options = { brokers: [`127.0.0.1:${port}`], sasl: { mechanism: 'plain', username: 'svc', password: secret(password) }, logLevel: 0, retry: { retries: 5, initialRetryTime: 100 } };
    const admin = new Kafka({ brokers: [base], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
  });
  afterAll(async () => {
    await cutter.stop();
  });

  it.each([1, 2, 3])('cut %i times (the first try per broker and kafkajs\'s own connects): the publish goes through, no AuthenticationFailed', async (cuts) => {
    cutter.cuts = cuts;
    cutter.cut = 0;
    const publisher = new KafkaPublisher({ kafka: options });
    try {
      const outcome = await publisher.publish(topic, { n: cuts }).then(() => 'published', (error: unknown) => error);
      expect(cutter.cut).toBe(cuts);
      expect(outcome).not.toBeInstanceOf(AuthenticationFailed);
      if (outcome !== 'published') expect(isRetryable(outcome)).toBe(true);
      expect(outcome).toBe('published');
    } finally {
      await publisher.close();
    }
  });
});
