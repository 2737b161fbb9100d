import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { Route, Runner, Secret } from '@micro-framework/core';
import { secretProbe, waitFor } from '@micro-framework/conformance';
import { describe, expect, it } from 'vitest';
import { KafkaClientExtension, KafkaPublisher, KafkaRpcClient, KafkaRpcListener, TopicListener, kafkaClientKey, type KafkaOptions } from '../src/index.ts';

// A SASL password must never reach a log line or an error message. tools/kafka/kafka.mjs gives the
// test broker a SASL_PLAINTEXT listener (PLAIN, user svc) next to the plain one.
const saslPort = Number((process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',')[0]!.split(':')[1] ?? 9092) + 4;
const secret = process.env['KAFKA_SASL_PASSWORD'] ?? 'kafka-test-secret-5b1e9c';
const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
const sasl = (password: string): KafkaOptions => ({
  brokers: [`127.0.0.1:${saslPort}`],
  sasl: { mechanism: 'plain', username: 'svc', password },
  retry: { retries: 1, initialRetryTime: 100 },
  logLevel: 0,
});

describe('secrets', () => {
  it('appear in no log line and no error message through failures and a refused login', async () => {
    const { logger, keep, messages, leaks } = secretProbe();
    let calls = 0;
    function handleSecretly(): void {
      calls += 1;
      throw new Error('always fails');
    }
    function ping(): string {
      return 'pong';
    }
    const topic = unique('secret-topic');
    const service = unique('secretive');
    const runner = new Runner({
      config: { serviceName: service, kafka: sasl(secret), logger },
      contexts: [{ routes: [
        new Route({ target: handleSecretly, entrypoint: new TopicListener({ topic }) }),
        new Route({ target: ping, entrypoint: new KafkaRpcListener() }),
      ] }],
    });
    await runner.start();
    const publisher = new KafkaPublisher({ kafka: sasl(secret) });
    await publisher.publish(topic, {});
    await waitFor(() => calls === 1, 'the failing call', 60_000);
    const client = new KafkaRpcClient({ kafka: sasl(secret) });
    expect(await client.call(service, 'ping', [], { timeoutMs: 30_000 })).toBe('pong');
    await client.call(unique('nobody'), 'ping', [], { timeoutMs: 2_000 }).catch(keep);
    await client.close();
    await publisher.close();
    await runner.stop({ timeoutMs: 5_000 });
    const wrong = sasl(`${secret}-wrong`);
    await new KafkaPublisher({ kafka: wrong }).publish(topic, {}).catch(keep);
    const refused = new Runner({ config: { serviceName: unique('refused'), kafka: wrong, logger }, contexts: [{ routes: [new Route({ target: ping, entrypoint: new KafkaRpcListener() })] }] });
    await refused.start().catch(keep);

    expect(messages.join('\n')).toMatch(/SASL|[Aa]uthentication/);
    expect(leaks(secret)).toEqual([]);
  }, 120_000);
});

describe('the client routes of one context share', () => {
  it('is shared only by routes with the same options: a route with another SASL password gets its own (and is refused)', async () => {
    function handleRightly(): void {}
    function handleWrongly(): void {}
    const runner = new Runner({
      config: { serviceName: unique('shared'), kafka: sasl(secret) },
      contexts: [{ routes: [
        new Route({ target: handleRightly, entrypoint: new TopicListener({ topic: unique('right-topic') }) }),
        new Route({ target: handleWrongly, entrypoint: new TopicListener({ topic: unique('wrong-topic'), kafka: sasl(`${secret}-wrong`) }) }),
      ] }],
    });
    await expect(runner.start()).rejects.toThrow(/SASL|authenticat/i);
  });
});

describe('secrets wrapped in Secret', () => {
  const password = `p/@%-${randomUUID()}`;
  const key = `-----BEGIN PRIVATE KEY-----\n${randomUUID()}\n-----END PRIVATE KEY-----\n`;
  const options = (): KafkaOptions => ({
    brokers: [`127.0.0.1:${saslPort}`],
    tls: { key: new Secret(key), passphrase: new Secret(password) },
    sasl: { mechanism: 'scram-sha-512', username: 'svc', password: new Secret(password) },
  });

  it('show *** in util.inspect and JSON of a config, and nowhere in the client built from it', () => {
    const config = { serviceName: 'shown', kafka: options() };
    for (const text of [inspect(config, { depth: null }), JSON.stringify(config)]) {
      expect(text).toContain('***');
      expect(text).not.toContain(password);
      expect(text).not.toContain(key.split('\n')[1]);
    }
    // The kafkajs settings the adapter builds hold the password behind a hidden getter only.
    const client = new KafkaClientExtension(options());
    for (const text of [inspect(client, { depth: 6 }), inspect(client.security.config, { depth: null }), JSON.stringify(client.security.config)]) {
      expect(text).not.toContain(password);
    }
  });

  it('count by value in the client key: equal options share one client, the key shows no secret', () => {
    const key1 = kafkaClientKey(options());
    expect(kafkaClientKey(options())).toBe(key1);
    expect(kafkaClientKey({ ...options(), sasl: { mechanism: 'scram-sha-512', username: 'svc', password: new Secret(`${password}-other`) } })).not.toBe(key1);
    expect(key1).not.toContain(password);
  });
});

describe('secrets given as plain strings', () => {
  const password = `plain/@%-${randomUUID()}`;
  const accessKey = `aws-secret-${randomUUID()}`;
  const passphrase = `pass-${randomUUID()}`;
  /** Every way a live client may be printed: inspect with hidden fields and getters called, and JSON. */
  const dumps = (value: unknown): string[] => [
    inspect(value, { depth: 20 }),
    inspect(value, { depth: 20, showHidden: true, getters: true }),
    JSON.stringify(value, (_key, field: unknown) => (typeof field === 'bigint' ? String(field) : field)) ?? '',
  ];

  it('appear in no dump of a live client (its options and kafkajs settings), for SASL PLAIN/SCRAM, kafkajs pass-through SASL and a TLS passphrase', () => {
    const cases: Array<[KafkaOptions, string[]]> = [
      [{ brokers: [`127.0.0.1:${saslPort}`], sasl: { mechanism: 'scram-sha-256', username: 'svc', password } }, [password]],
      [{ brokers: [`127.0.0.1:${saslPort}`], sasl: { mechanism: 'plain', username: 'svc', password }, tls: { passphrase } }, [password, passphrase]],
      [{ brokers: ['127.0.0.1:1'], ssl: true, sasl: { mechanism: 'aws', authorizationIdentity: 'id', accessKeyId: 'AKIA', secretAccessKey: accessKey } }, [accessKey]],
    ];
    for (const [options, secrets] of cases) {
      const client = new KafkaClientExtension(options);
      for (const text of [...dumps(client), ...dumps(client.options), ...dumps(client.security.config)]) {
        for (const hidden of secrets) expect(text).not.toContain(hidden);
      }
      // The user name and mechanism stay visible: the dumps are still of use.
      expect(inspect(client.options)).toMatch(/mechanism/);
    }
  });
});
