import { randomUUID } from 'node:crypto';
import { ConfigurationError, InsecureCredentials, Route, Runner, secret } from '@micro-framework/core';
import type { ISocketFactory } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkaPublisher, KafkaRpcClient, KafkaRpcListener, TopicListener, type KafkaOptions } from '../src/index.ts';

// Issue #15: SASL credentials never cross a plaintext connection to a broker beyond loopback unless
// the configuration says allowInsecure. 192.0.2.1 is TEST-NET-1: nothing answers there. Every
// connection kafkajs would open goes through a socket factory that counts it, so "refused before any
// connection attempt" is measured, not assumed.
const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;

function counted(): { socketFactory: ISocketFactory; attempts: () => number } {
  let attempts = 0;
  return {
    socketFactory: () => {
      attempts += 1;
      throw new Error('this test opens no connection');
    },
    attempts: () => attempts,
  };
}

function service(kafka: KafkaOptions): Runner {
  function handle(): void {}
  function ping(): string {
    return 'pong';
  }
  return new Runner({
    config: { serviceName: unique('insecure'), kafka },
    contexts: [{ routes: [
      new Route({ target: handle, entrypoint: new TopicListener({ topic: unique('topic') }) }),
      new Route({ target: ping, entrypoint: new KafkaRpcListener() }),
    ] }],
  });
}

const password = secret('p/@%-never-sent');
const sasls: Array<[string, KafkaOptions['sasl']]> = [
  ['SCRAM-SHA-256', { mechanism: 'scram-sha-256', username: 'svc', password }],
  ['PLAIN', { mechanism: 'plain', username: 'svc', password }],
  ['OAUTHBEARER', { mechanism: 'oauthbearer', tokenProvider: () => secret('token') }],
];

describe('SASL over plaintext to a broker beyond loopback', () => {
  it.each(sasls)('with %s is refused with InsecureCredentials by start, the first publish and the first call, before any connection', async (_name, sasl) => {
    const connections = counted();
    const kafka: KafkaOptions = { brokers: ['192.0.2.1:9092'], sasl, socketFactory: connections.socketFactory, retry: { retries: 1, initialRetryTime: 50 }, logLevel: 0 };
    const runner = service(kafka);
    const publisher = new KafkaPublisher({ kafka });
    const client = new KafkaRpcClient({ kafka });
    try {
      const failures = await Promise.all([
        runner.start().catch((error: unknown) => error),
        publisher.publish('anything', {}).catch((error: unknown) => error),
        client.call('anyone', 'ping', [], { timeoutMs: 1_000 }).catch((error: unknown) => error),
      ]);
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(InsecureCredentials);
        expect(failure).toBeInstanceOf(ConfigurationError);
        expect(String(failure)).toMatch(/Kafka at 192\.0\.2\.1: refusing to send .* over a plaintext connection/);
        expect(String(failure)).not.toContain('never-sent');
      }
      expect(connections.attempts()).toBe(0);
    } finally {
      await client.close();
      await publisher.close();
      await runner.stop({ timeoutMs: 1_000 });
    }
  });

  it('is refused over TLS that does not verify the broker (rejectUnauthorized: false in tls or in kafkajs ssl), before any connection', async () => {
    const connections = counted();
    const unverified: KafkaOptions[] = [
      { tls: { rejectUnauthorized: false } },
      { ssl: { rejectUnauthorized: false }, socketFactory: connections.socketFactory },
    ];
    for (const extra of unverified) {
      const publisher = new KafkaPublisher({ kafka: { brokers: ['192.0.2.1:9093'], sasl: sasls[0]![1], retry: { retries: 1, initialRetryTime: 50 }, connectionTimeout: 300, logLevel: 0, ...extra } });
      try {
        const failure = await publisher.publish('anything', {}).catch((error: unknown) => error);
        expect(failure).toBeInstanceOf(InsecureCredentials);
        expect(String(failure)).toContain('Kafka at 192.0.2.1: refusing to send SASL SCRAM-SHA-256 credentials');
      } finally {
        await publisher.close();
      }
    }
    expect(connections.attempts()).toBe(0);
  });

  it('is refused when any one of the brokers is beyond loopback', async () => {
    const publisher = new KafkaPublisher({ kafka: { brokers: ['127.0.0.1:9092', '192.0.2.1:9092'], sasl: sasls[0]![1], logLevel: 0 } });
    await expect(publisher.publish('anything', {})).rejects.toBeInstanceOf(InsecureCredentials);
  });

  it('goes ahead (and connects) with allowInsecure: true, or over TLS', async () => {
    for (const extra of [{ allowInsecure: true }, { ssl: true }] satisfies Partial<KafkaOptions>[]) {
      const connections = counted();
      const publisher = new KafkaPublisher({ kafka: { brokers: ['192.0.2.1:9092'], sasl: sasls[0]![1], socketFactory: connections.socketFactory, retry: { retries: 1, initialRetryTime: 50 }, logLevel: 0, ...extra } });
      const failure = await publisher.publish('anything', {}).catch((error: unknown) => error);
      expect(failure).not.toBeInstanceOf(ConfigurationError);
      expect(connections.attempts()).toBeGreaterThan(0);
    }
  });
});

describe('security options that contradict each other', () => {
  it('are refused with ConfigurationError before any connection', async () => {
    const connections = counted();
    const contradictions: KafkaOptions[] = [
      { tls: {}, ssl: true },
      { tls: {}, socketFactory: connections.socketFactory },
      { tls: { rejectUnathorized: false } as never },
      { sasl: { mechanism: 'scram-sha-512', username: 'svc' } as never },
      { sasl: { mechanism: 'plain', username: '', password } },
      { sasl: { mechanism: 'oauthbearer', tokenProvider: 'token' } as never },
    ];
    for (const options of contradictions) {
      // With tls the adapter makes the connections itself: a socket factory of the test's would contradict it.
      const counting = options.tls ? {} : { socketFactory: connections.socketFactory };
      const publisher = new KafkaPublisher({ kafka: { brokers: ['127.0.0.1:9092'], logLevel: 0, ...counting, ...options } });
      await expect(publisher.publish('anything', {})).rejects.toBeInstanceOf(ConfigurationError);
    }
    expect(connections.attempts()).toBe(0);
  });
});
