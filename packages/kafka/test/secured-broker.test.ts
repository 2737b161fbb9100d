import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthenticationFailed, Route, Runner, TlsHandshakeFailed, secret, type Logger } from '@micro-framework/core';
import { secretProbe, testCertificates, waitFor, type TestCertificates, within } from '@micro-framework/conformance';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KafkaPublisher, KafkaRpcClient, KafkaRpcListener, TopicListener, type KafkaOptions } from '../src/index.ts';
import { SecuredKafkaBroker } from './secured-kafka-broker.ts';

// Issue #15: TLS and SASL towards Kafka, on a broker of this file's own (tools/kafka/kafka.mjs with
// KAFKA_TLS_DIR, loopback, own ports and storage) with certificates made for the run. The shared
// broker on 9092 is never touched.
const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
// kafkajs retries a failed connection by these settings for about a minute: a refused handshake that
// went through them would miss the tests' 20 s deadline instead of failing at once.
const patient = { retry: { retries: 30, initialRetryTime: 300, maxRetryTime: 2_000 }, connectionTimeout: 3_000, logLevel: 0 } as const;


/** The rejection of `promise` (a test failure when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, got a result');
}

/** A service with a topic route and an RPC target, and what the route received. */
function securedService(kafka: KafkaOptions, logger?: Logger) {
  const topic = unique('tls-topic');
  const received: unknown[] = [];
  function receive(payload: unknown): void {
    received.push(payload);
  }
  function ping(text: string): string {
    return `pong ${text}`;
  }
  const service = unique('secured');
  const runner = new Runner({
    config: { serviceName: service, kafka, ...(logger ? { logger } : {}) },
    contexts: [{ routes: [
      new Route({ target: receive, entrypoint: new TopicListener({ topic, sessionTimeoutMs: 6_000 }) }),
      new Route({ target: ping, entrypoint: new KafkaRpcListener({ sessionTimeoutMs: 6_000 }) }),
    ] }],
  });
  return { runner, service, topic, received };
}

/** A token Kafka's unsecured OAUTHBEARER validator accepts: an unsigned JWT for `sub`, valid for `seconds`. */
function unsignedToken(sub: string, seconds: number): string {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1_000);
  return `${part({ alg: 'none' })}.${part({ sub, iat: now - 60, exp: now + seconds })}.`;
}

describe('a Kafka broker with an SSL (mutual TLS) and a SASL_SSL listener', () => {
  let certs: TestCertificates;
  let broker: SecuredKafkaBroker;
  const probe = secretProbe();
  /** The private key's PEM body: it must reach no log line and no error either. */
  let keyBody = '';

  const ssl = (): KafkaOptions => ({
    brokers: [broker.ssl],
    tls: { ca: certs.read(certs.caFile), cert: certs.read(certs.clientCertFile), key: secret(certs.read(certs.clientKeyFile)) },
    ...patient,
  });
  const sasl = (mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', password: string = broker.password): KafkaOptions => ({
    brokers: [broker.saslSsl],
    tls: { caFile: certs.caFile },
    sasl: { mechanism, username: 'svc', password: secret(password) },
    ...patient,
  });
  const oauth = (token: () => string): KafkaOptions => ({
    brokers: [broker.saslSsl],
    tls: { caFile: certs.caFile },
    sasl: { mechanism: 'oauthbearer', tokenProvider: async () => secret(token()) },
    ...patient,
  });

  beforeAll(async () => {
    certs = testCertificates();
    keyBody = certs.read(certs.clientKeyFile).split('\n')[1]!;
    broker = await SecuredKafkaBroker.start(certs);
  }, 180_000);
  afterAll(async () => {
    await broker?.stop();
    certs?.remove();
  }, 120_000);
  afterEach(() => {
    expect(probe.leaks(broker.password)).toEqual([]);
    expect(probe.leaks(keyBody)).toEqual([]);
  });

  const cases: Array<[string, () => KafkaOptions]> = [
    ['SSL with a client certificate (key inline, as a Secret)', ssl],
    ['SASL_SSL with SCRAM-SHA-256', () => sasl('scram-sha-256')],
    ['SASL_SSL with SCRAM-SHA-512', () => sasl('scram-sha-512')],
    ['SASL_SSL with PLAIN', () => sasl('plain')],
    ['SASL_SSL with OAUTHBEARER (a token provider)', () => oauth(() => unsignedToken('svc', 3_600))],
  ];

  it.each(cases)('over %s: a service consumes, a publisher publishes, an RPC client calls', async (_name, options) => {
    const { runner, service, topic, received } = securedService(options(), probe.logger);
    const publisher = new KafkaPublisher({ kafka: options() });
    const client = new KafkaRpcClient({ kafka: options() });
    try {
      await runner.start();
      await publisher.publish(topic, { n: 1 });
      await waitFor(() => received.length === 1, 'the record published over TLS');
      expect(received).toEqual([{ n: 1 }]);
      expect(await client.call(service, 'ping', ['tls'], { timeoutMs: 30_000 })).toBe('pong tls');
    } finally {
      await client.close();
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  }, 60_000);

  it('refuses a broker certificate from an untrusted CA: TlsHandshakeFailed at start, first publish and first call, without retries', async () => {
    const wrongCa = (): KafkaOptions => ({ ...sasl('scram-sha-256'), tls: { caFile: certs.otherCaFile } });
    const { runner } = securedService(wrongCa(), probe.logger);
    const publisher = new KafkaPublisher({ kafka: wrongCa() });
    const client = new KafkaRpcClient({ kafka: wrongCa() });
    try {
      const failures = [
        await within(rejection(runner.start()), 20_000),
        await within(rejection(publisher.publish('never-created', {})), 20_000),
        await within(rejection(client.call('anyone', 'ping', [], { timeoutMs: 5_000 })), 20_000),
      ];
      for (const failure of failures) {
        probe.keep(failure);
        expect(failure).toBeInstanceOf(TlsHandshakeFailed);
        expect((failure as TlsHandshakeFailed).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
        expect(String(failure)).toContain(`Kafka at ${broker.saslSsl}: TLS handshake failed`);
      }
    } finally {
      await client.close();
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  });

  it('refuses a broker certificate that does not name the host checked: TlsHandshakeFailed', async () => {
    const { runner } = securedService({ ...sasl('scram-sha-256'), tls: { caFile: certs.caFile, servername: 'elsewhere.example' } }, probe.logger);
    try {
      const failure = await within(rejection(runner.start()), 20_000);
      probe.keep(failure);
      expect(failure).toBeInstanceOf(TlsHandshakeFailed);
      expect((failure as TlsHandshakeFailed).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      await runner.stop({ timeoutMs: 5_000 });
    }
  });

  it('the SSL listener refuses a client without a certificate: TlsHandshakeFailed', async () => {
    const { runner } = securedService({ ...ssl(), tls: { caFile: certs.caFile } }, probe.logger);
    try {
      const failure = await within(rejection(runner.start()), 20_000);
      probe.keep(failure);
      expect(failure).toBeInstanceOf(TlsHandshakeFailed);
    } finally {
      await runner.stop({ timeoutMs: 5_000 });
    }
  });

  it.each(['scram-sha-256', 'scram-sha-512', 'plain'] as const)('refuses a wrong %s password: AuthenticationFailed at start and first publish, naming the user only', async (mechanism) => {
    const wrong = `${broker.password}-wrong`;
    const { runner } = securedService(sasl(mechanism, wrong), probe.logger);
    const publisher = new KafkaPublisher({ kafka: sasl(mechanism, wrong) });
    try {
      const failures = [await within(rejection(runner.start()), 20_000), await within(rejection(publisher.publish('never-created', {})), 20_000)];
      for (const failure of failures) {
        probe.keep(failure);
        expect(failure).toBeInstanceOf(AuthenticationFailed);
        expect(String(failure)).toContain(`Kafka at ${broker.saslSsl} refused the credentials (SASL ${mechanism.toUpperCase()}, user svc)`);
      }
      expect(probe.leaks(wrong)).toEqual([]);
    } finally {
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  });

  it.each([
    ['our tokenProvider', (): KafkaOptions => oauth(() => unsignedToken('svc', -30))],
    [
      "kafkajs's own oauthBearerProvider setting",
      (): KafkaOptions => ({ ...oauth(() => ''), sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: unsignedToken('svc', -30) }) } }),
    ],
  ])('refuses an expired OAUTHBEARER token from %s: AuthenticationFailed at start', async (_from, options) => {
    const { runner } = securedService(options(), probe.logger);
    try {
      const failure = await within(rejection(runner.start()), 20_000);
      probe.keep(failure);
      expect(failure).toBeInstanceOf(AuthenticationFailed);
      expect(String(failure)).toContain('SASL OAUTHBEARER');
    } finally {
      await runner.stop({ timeoutMs: 5_000 });
    }
  });

  it('tls towards a listener that speaks no TLS fails at once with TlsHandshakeFailed asking whether it is a TLS listener', async () => {
    const publisher = new KafkaPublisher({ kafka: { brokers: [`127.0.0.1:${broker.port}`], tls: { caFile: certs.caFile }, ...patient } });
    try {
      const failure = await within(rejection(publisher.publish('never-created', {})), 20_000);
      probe.keep(failure);
      expect(failure).toBeInstanceOf(TlsHandshakeFailed);
      expect(String(failure)).toContain('is this a TLS listener?');
    } finally {
      await publisher.close();
    }
  });

  it('a running consumer whose CA file no longer trusts the broker after a restart reports consumerCrashed with TlsHandshakeFailed, and consumes again once the file is right', async () => {
    const caFile = join(certs.dir, `consumer-ca-${randomUUID()}.pem`);
    writeFileSync(caFile, certs.read(certs.caFile));
    const { runner, topic, received } = securedService({ ...sasl('scram-sha-256'), tls: { caFile } }, probe.logger);
    const publisher = new KafkaPublisher({ kafka: sasl('scram-sha-256') });
    try {
      await runner.start();
      await publisher.publish(topic, { n: 1 });
      await waitFor(() => received.length === 1, 'the record before the restart');
      writeFileSync(caFile, certs.read(certs.otherCaFile));
      const linesBefore = probe.lines.length;
      await broker.restart();
      await waitFor(async () => publisher.publish(topic, { n: 2 }).then(() => true, () => false), 'a publish after the restart', 60_000);
      await waitFor(
        () => probe.lines.slice(linesBefore).some((line) => /consumer .*crashed \(TlsHandshakeFailed: Kafka at .*TLS handshake failed/.test(line)),
        'consumerCrashed with TlsHandshakeFailed for the consumer that cannot rejoin',
        90_000,
      );
      writeFileSync(caFile, certs.read(certs.caFile));
      await waitFor(() => received.some((payload) => (payload as { n: number }).n === 2), 'the record published while the CA file was wrong', 90_000);
    } finally {
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  }, 240_000);

  it('a service consumes again over TLS after the broker restarts; a CA file is read again for each new connection', async () => {
    const options = sasl('scram-sha-512');
    const { runner, topic, received } = securedService(options, probe.logger);
    const publisher = new KafkaPublisher({ kafka: options });
    // A second publisher whose CA file is replaced while it runs (few retries: its failure is awaited).
    const caFile = join(certs.dir, `rotating-${randomUUID()}.pem`);
    writeFileSync(caFile, certs.read(certs.caFile));
    const rotating = new KafkaPublisher({ kafka: { ...options, tls: { caFile }, retry: { retries: 1, initialRetryTime: 100 } } });
    try {
      await runner.start();
      await publisher.publish(topic, { n: 1 });
      await rotating.publish(topic, { n: 10 });
      await waitFor(() => received.length === 2, 'the records before the restart');
      writeFileSync(caFile, certs.read(certs.otherCaFile));
      await broker.restart();
      // kafkajs reconnects (over TLS, signing in again) on its own: the publish may need a few tries,
      // none of which may fail as refused credentials (the password is right: a connection lost
      // while signing in is a network failure).
      const failures: unknown[] = [];
      await waitFor(async () => publisher.publish(topic, { n: 2 }).then(() => true, (error: unknown) => {
        failures.push(error);
        return false;
      }), 'a publish after the restart', 60_000);
      expect(failures.filter((failure) => failure instanceof AuthenticationFailed)).toEqual([]);
      await waitFor(() => received.some((payload) => (payload as { n: number }).n === 2), 'the record after the restart', 60_000);

      // The rotating publisher's new connections trust only the CA now in its file: they fail, typed.
      let refusal: unknown;
      await waitFor(async () => {
        const outcome = await rotating.publish(topic, { n: 11 }).then(() => 'published', (error: unknown) => error);
        if (outcome === 'published') throw new Error('published with a CA file that no longer trusts the broker');
        refusal = outcome;
        return outcome instanceof TlsHandshakeFailed;
      }, 'the publisher with the replaced CA file to fail its reconnection with TlsHandshakeFailed', 30_000);
      probe.keep(refusal);
      writeFileSync(caFile, certs.read(certs.caFile));
      await waitFor(async () => rotating.publish(topic, { n: 12 }).then(() => true, () => false), 'a publish once the CA file is right again', 30_000);
      await waitFor(() => received.some((payload) => (payload as { n: number }).n === 12), 'the record published with the restored CA file');
      expect(received.some((payload) => (payload as { n: number }).n === 11)).toBe(false);
    } finally {
      await rotating.close();
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  }, 150_000);

  it('the password, the private key and tokens appear in no log line and no error message', () => {
    // Everything above logged through the probe and kept its errors.
    expect(probe.lines.length).toBeGreaterThan(0);
    expect(probe.messages.join('\n')).toMatch(/TlsHandshakeFailed|TLS handshake failed/);
    expect(probe.messages.join('\n')).toMatch(/refused the credentials/);
    expect(probe.leaks(broker.password)).toEqual([]);
    expect(probe.leaks(keyBody)).toEqual([]);
    expect(probe.leaks('auth=Bearer')).toEqual([]);
  });
});
