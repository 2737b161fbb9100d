import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { InsecureCredentials, secret } from '@micro-framework/core';
import { testCertificates, type TestCertificates } from '@micro-framework/conformance';
import { Kafka, logLevel, type ISocketFactory } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaPublisher } from '../src/index.ts';
import { SecuredKafkaBroker } from './secured-kafka-broker.ts';

// SASL without verified TLS is allowed towards loopback brokers only (InsecureCredentials otherwise),
// and that must hold for the brokers kafkajs learns from the cluster's metadata too, not only for the
// seed brokers of the configuration: a loopback seed (an SSH tunnel, a port-forward) whose metadata
// advertises a remote address would otherwise get the PLAIN password sent there in clear. The test's
// own broker advertises its SASL_PLAINTEXT listener at a non-loopback IPv4 address of this machine.
const remoteAddress = Object.values(networkInterfaces())
  .flat()
  .find((address) => address !== undefined && address.family === 'IPv4' && !address.internal)?.address;

/** The command lines of this machine's processes (what anyone can read in /proc/<pid>/cmdline). */
function commandLines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

// Without a non-loopback address there is nothing to advertise that the guard must refuse.
describe.skipIf(remoteAddress === undefined)(`brokers learned from metadata (SASL listener advertised at ${remoteAddress ?? 'no non-loopback IPv4 address: skipped'})`, () => {
  let certs: TestCertificates;
  let broker: SecuredKafkaBroker;
  /** Seen in a process's command line while the broker's storage was formatted (SCRAM users written). */
  let passwordOnCommandLine = false;
  const topic = `discovered-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    certs = testCertificates();
    let starting = true;
    // tools/kafka writes the SCRAM users at format (`--add-scram ...password=...`): sample every
    // process's command line while the broker starts.
    const watch = (async () => {
      while (starting) {
        if (commandLines().some((line) => line.includes('StorageTool') && line.includes('password='))) passwordOnCommandLine = true;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    try {
      broker = await SecuredKafkaBroker.start(certs, { saslAdvertisedHost: remoteAddress! });
    } finally {
      starting = false;
      await watch;
    }
    const admin = new Kafka({ brokers: [`127.0.0.1:${broker.port}`], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
  }, 180_000);
  afterAll(async () => {
    await broker?.stop();
    certs?.remove();
  }, 120_000);

  it('refuse SASL to a broker the metadata names beyond loopback with InsecureCredentials: no connection is made there', async () => {
    const hosts: string[] = [];
    const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
      hosts.push(host);
      return connect({ host, port }, onConnect);
    };
    const publisher = new KafkaPublisher({
      kafka: { brokers: [broker.sasl], sasl: { mechanism: 'plain', username: 'svc', password: secret(broker.saslPassword) }, socketFactory, retry: { retries: 2, initialRetryTime: 100 }, logLevel: 0 },
    });
    try {
      const failure = await publisher.publish(topic, { n: 1 }).then(() => 'published', (error: unknown) => error);
      expect(failure).toBeInstanceOf(InsecureCredentials);
      expect(String(failure)).toContain(`Kafka at ${remoteAddress}: refusing to send a SASL PLAIN password`);
      expect(String(failure)).not.toContain(broker.saslPassword);
      // The seed was reached (on loopback); the advertised remote address never was.
      expect(hosts).toContain('127.0.0.1');
      expect(hosts).not.toContain(remoteAddress);
    } finally {
      await publisher.close();
    }
  });

  it('go ahead with allowInsecure: true (the connection to the advertised address is attempted)', async () => {
    const hosts: string[] = [];
    const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
      hosts.push(host);
      return connect({ host, port }, onConnect);
    };
    const publisher = new KafkaPublisher({
      kafka: { brokers: [broker.sasl], sasl: { mechanism: 'plain', username: 'svc', password: secret(broker.saslPassword) }, socketFactory, allowInsecure: true, retry: { retries: 1, initialRetryTime: 100 }, connectionTimeout: 1_000, logLevel: 0 },
    });
    try {
      const failure = await publisher.publish(topic, { n: 1 }).then(() => 'published', (error: unknown) => error);
      expect(failure).not.toBeInstanceOf(InsecureCredentials);
      expect(hosts).toContain(remoteAddress);
    } finally {
      await publisher.close();
    }
  });

  it('tools/kafka: the SCRAM password was on no command line while the storage was formatted, and server.properties is readable by its owner only', () => {
    expect(passwordOnCommandLine).toBe(false);
    expect(statSync(join(broker.dataDir, 'server.properties')).mode & 0o077).toBe(0);
  });
});
