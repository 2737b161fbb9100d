import { randomUUID } from 'node:crypto';
import { Route, Runner, workerTarget, type WorkerMode } from '@micro-framework/core';
import { Kafka, logLevel } from 'kafkajs';
import { attemptCounter, cpuBoundTarget, waitFor, type AttemptCounter } from '@micro-framework/conformance';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KafkaRpcClient, KafkaRpcListener, TopicListener, brokersFromEnv, createTopicsAndWait } from '../src/index.ts';

// Issue #14 on Kafka: a target that burns the CPU for 10 s, longer than the consumer group's 6 s
// session timeout. In thread and process mode the burn runs elsewhere: the member keeps its session
// (no rebalance: the record runs once and its offset is committed), and an RPC target of the same
// service keeps answering. In async mode (the default) the same route stalls the service: the group
// drops the member, the commit fails, and the record runs again; which is why the other modes exist.
const burnMs = 10_000;
const sessionTimeoutMs = 6_000;
const fixtures = cpuBoundTarget;
const brokers = brokersFromEnv();
const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  await admin.connect();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(async () => {
  await admin.disconnect();
});

/** Sends one record asking for a burn, from a producer of its own (a deleted topic stays in a kafkajs producer's metadata and fails its later sends). */
async function publishBurn(topic: string, once = false): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ value: JSON.stringify({ ms: burnMs, once }) }] });
  } finally {
    await producer.disconnect();
  }
}

async function startService(mode: WorkerMode): Promise<{ service: string; topic: string; seen: AttemptCounter; runner: Runner }> {
  const service = `cpu-${mode}-${randomUUID().slice(0, 8)}`;
  const topic = `cpu-${randomUUID()}`;
  await createTopicsAndWait(admin, [{ topic, numPartitions: 1 }]);
  const seen = attemptCounter((event) => event.route.endsWith('.burn'));
  const runner = new Runner({
    config: { serviceName: service, kafka: { brokers, logLevel: logLevel.NOTHING } },
    observers: [seen],
    contexts: [
      { config: { workerMode: mode, maxWorkers: 1 }, routes: [new Route({ target: workerTarget(fixtures, 'burn'), entrypoint: new TopicListener({ topic, sessionTimeoutMs }) })] },
      { routes: [new Route({ target: function ping() { return 'pong'; }, entrypoint: new KafkaRpcListener({ name: 'ping' }) })] },
    ],
  });
  await runner.start();
  cleanups.push(() => admin.deleteTopics({ topics: [topic] }));
  cleanups.push(() => runner.stop({ timeoutMs: burnMs + 2_000 }));
  return { service, topic, seen, runner };
}

describe.each(['thread', 'process'] as const)('workerMode %s on Kafka with a 6 s session timeout', (mode) => {
  it('a 10 s CPU-bound call keeps the group member and an RPC target of the same service answering', async () => {
    const { service, topic, seen, runner } = await startService(mode);
    const client = new KafkaRpcClient({ kafka: { brokers, logLevel: logLevel.NOTHING } });
    cleanups.push(() => client.close());
    await expect(client.call(service, 'ping', [], { timeoutMs: 20_000 })).resolves.toBe('pong');

    await publishBurn(topic);
    await waitFor(() => seen.begun === 1, 'the burn to start', 20_000);
    const answers: string[] = [];
    while (seen.ended === 0) answers.push(await client.call(service, 'ping', [], { timeoutMs: 2_000 }).then(String, (error: Error) => error.name));
    expect(answers.length).toBeGreaterThan(10);
    expect(new Set(answers)).toEqual(new Set(['pong']));

    // The record ran once and its offset was committed: the member kept its session throughout.
    await runner.stop({ timeoutMs: 5_000 });
    const [committed] = await admin.fetchOffsets({ groupId: `${topic}__${service}.burn`, topics: [topic] });
    expect(committed?.partitions[0]?.offset).toBe('1');
    expect(seen.begun).toBe(1);
  }, 90_000);
});

describe('workerMode async on Kafka with a 6 s session timeout (why the other modes exist)', () => {
  it('a 10 s CPU-bound call stalls the service: the group drops the member and the record runs again', async () => {
    const { topic, seen } = await startService('async');
    // Burns once: the record that comes back then finishes, and the service can stop.
    await publishBurn(topic, true);
    await waitFor(() => seen.begun >= 2, 'the record to run again', 60_000);
  }, 120_000);
});
