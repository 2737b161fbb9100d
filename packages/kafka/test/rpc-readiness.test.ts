import { randomUUID } from 'node:crypto';
import { Route, Runner } from '@micro-framework/core';
import { recordingObserver, waitFor, type RecordedEvent, type TcpProxy } from '@micro-framework/conformance';
import { logLevel, type Consumer, type ConsumerRunConfig } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KafkaRpcClient, KafkaRpcListener, brokersFromEnv, sharedKafkaClient } from '../src/index.ts';
import { proxiedKafka, watchReadiness } from './proxied-kafka.ts';

// Readiness and connection events of an RPC route on Kafka: they follow the server's request consumer.
const runners: Runner[] = [];
const client = new KafkaRpcClient({ kafka: { brokers: brokersFromEnv(), logLevel: logLevel.NOTHING } });
let proxy: TcpProxy;
let brokers: string[];

beforeAll(async () => {
  ({ proxy, brokers } = await proxiedKafka());
});
afterEach(async () => {
  proxy.restore();
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 2_000 })));
});
afterAll(async () => {
  await client.close();
  await proxy.close();
});

function echo(value: string): string {
  return value;
}

/**
 * A service with one RPC route (reached through the proxy) whose events are recorded. It keeps the
 * request consumers its server creates; `crashNext` makes the next batch throw a TypeError, which
 * kafkajs does not retry: it gives the consumer up for real (a crash it does not restart).
 */
function rpcService(serviceName: string) {
  const { observer, events } = recordingObserver();
  const listener = new KafkaRpcListener();
  const consumers: Consumer[] = [];
  const faults = { crashNext: false };
  const bind = listener.bind.bind(listener);
  listener.bind = (runner, context) => {
    bind(runner, context);
    // Runs before the listener's setup gets the shared client, so before the server's consumer exists.
    void sharedKafkaClient(context).then((kafkaClient) => {
      const create = kafkaClient.kafka.consumer.bind(kafkaClient.kafka);
      kafkaClient.kafka.consumer = (config) => {
        const consumer = create(config);
        consumers.push(consumer);
        const run = consumer.run.bind(consumer);
        consumer.run = (runConfig?: ConsumerRunConfig) =>
          run({
            ...runConfig,
            eachBatch: async (payload) => {
              if (faults.crashNext) {
                faults.crashNext = false;
                throw new TypeError('injected fault');
              }
              await runConfig!.eachBatch!(payload);
            },
          });
        return consumer;
      };
    });
  };
  const runner = new Runner({
    config: { serviceName, kafka: { brokers, logLevel: logLevel.NOTHING } },
    contexts: [{ routes: [new Route({ target: echo, entrypoint: listener })] }],
    observers: [observer],
  });
  runners.push(runner);
  return { runner, listener, events, consumers, faults };
}

function named(events: RecordedEvent[], name: RecordedEvent['name']): RecordedEvent[] {
  return events.filter((recorded) => recorded.name === name);
}

describe('Kafka RPC readiness', () => {
  it('is ready once started; a crash kafkajs gives up on is reported, not ready until the consumer is replaced, and the request is answered', async () => {
    const service = `rpc-crash-${randomUUID().slice(0, 8)}`;
    const { runner, listener, events, consumers, faults } = rpcService(service);
    await runner.start();
    expect(listener.readiness()).toBeUndefined();
    // A first answer commits the group's offset: the replacement resumes from it.
    await expect(client.call(service, 'echo', ['warm'], { timeoutMs: 30_000 })).resolves.toBe('warm');
    const readiness = watchReadiness(() => listener.readiness());
    try {
      faults.crashNext = true;
      const answer = client.call(service, 'echo', ['the crashing request'], { timeoutMs: 60_000 });
      answer.catch(() => undefined); // awaited below; a failure before that must not go unhandled
      await waitFor(() => readiness.reasons.length > 0, 'not ready after the crash', 30_000);
      await waitFor(() => named(events, 'consumerCrashed').length === 1, 'the crash reported', 10_000);
      expect(named(events, 'consumerCrashed')[0]!.event).toMatchObject({ error: { message: expect.stringContaining('injected fault') } });
      await expect(answer).resolves.toBe('the crashing request');
      await waitFor(() => named(events, 'consumerReplaced').length === 1 && listener.readiness() === undefined, 'ready again', 30_000);
    } finally {
      readiness.stop();
    }
    expect(consumers).toHaveLength(2);
  }, 120_000);

  it('is not ready once its request consumer stopped', async () => {
    const service = `rpc-stop-${randomUUID().slice(0, 8)}`;
    const { runner, listener, consumers } = rpcService(service);
    await runner.start();
    expect(listener.readiness()).toBeUndefined();
    await consumers.at(-1)!.stop();
    await waitFor(() => listener.readiness() !== undefined, 'not ready', 10_000);
    expect(listener.readiness()).toContain(`${service}.rpc`);
  });

  it('reports its connection lost (not ready) while Kafka is cut, restored (ready) after, and answers again', async () => {
    const service = `rpc-cut-${randomUUID().slice(0, 8)}`;
    const { runner, listener, events } = rpcService(service);
    await runner.start();
    await expect(client.call(service, 'echo', ['before'], { timeoutMs: 30_000 })).resolves.toBe('before');
    proxy.cut();
    try {
      await waitFor(() => named(events, 'connectionLost').length >= 1 && listener.readiness() !== undefined, 'the connection reported lost', 20_000);
    } finally {
      proxy.restore();
    }
    expect(named(events, 'connectionLost')[0]!.event).toMatchObject({ adapter: 'kafka', broker: brokers.join(',') });
    await waitFor(() => named(events, 'connectionRestored').length >= 1 && listener.readiness() === undefined, 'the connection restored', 60_000);
    await expect(client.call(service, 'echo', ['after'], { timeoutMs: 30_000 })).resolves.toBe('after');
  }, 120_000);
});
