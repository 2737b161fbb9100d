import { randomUUID } from 'node:crypto';
import { BackoffContext, MetaDependency, Route, Runner, inject, type Meta, type RetryState } from '@micro-framework/core';
import { staysQuiet, waitFor } from '@micro-framework/conformance';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KafkaBackoff, TopicListener, brokersFromEnv, sharedKafkaClient } from '../src/index.ts';

// Retries, rebalances and crashes of the Kafka listener against the local broker (tools/kafka/kafka.mjs).
const kafka = new Kafka({ brokers: brokersFromEnv(), logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
const runners: Runner[] = [];

beforeAll(async () => {
  await Promise.all([admin.connect(), producer.connect()]);
});
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 2_000 })));
});
afterAll(async () => {
  await Promise.all([admin.disconnect(), producer.disconnect()]);
});

interface Call { id: string; retry: RetryState; meta: Meta; at: number; instance: string }

/** A service with one TopicListener route whose target records each call and runs `handler`. */
function service(topic: string, serviceName: string, instance: string, calls: Call[], options: { handler?: (call: Call) => void; backoff?: KafkaBackoff; partitions?: number } = {}) {
  const handle = inject({ meta: new MetaDependency(), retry: new BackoffContext() }, function handle({ meta, retry }, payload: { id: string }) {
    const call = { id: payload.id, retry, meta, at: performance.now(), instance };
    calls.push(call);
    options.handler?.(call);
  });
  const listener = new TopicListener({ topic, partitions: options.partitions ?? 1, sessionTimeoutMs: 6_000 });
  const runner = new Runner({
    config: { serviceName, maxWorkers: 8, kafka: { brokers: brokersFromEnv(), logLevel: logLevel.NOTHING } },
    contexts: [{ routes: [new Route({ target: handle, entrypoint: listener, backoff: options.backoff })] }],
  });
  runners.push(runner);
  return { runner, listener };
}

async function send(topic: string, ...ids: string[]): Promise<void> {
  await producer.send({ topic, acks: -1, messages: ids.map((id) => ({ key: id, value: JSON.stringify({ id }) })) });
}

describe('retries on Kafka', () => {
  it('a 200 ms retry runs on time even when a 60 s retry was scheduled before it', async () => {
    const topic = `retry-order-${randomUUID()}`;
    const calls: Call[] = [];
    const backoff = new KafkaBackoff({ maxRetries: 1, interval: () => 0 });
    backoff.getInterval = (worker) => ((worker.args[0] as { id: string }).id === 'slow' ? 60_000 : 200);
    const { runner, listener } = service(topic, `svc-${randomUUID().slice(0, 8)}`, 'one', calls, {
      backoff,
      handler: (call) => {
        if (call.retry.retryCount === 0) throw new Error(`first attempt of ${call.id}`);
      },
    });
    await runner.start();
    await send(topic, 'slow');
    await waitFor(() => listener.heldRetries === 1, 'the 60 s retry held', 30_000);
    await send(topic, 'fast');
    await waitFor(() => calls.some((call) => call.id === 'fast' && call.retry.retryCount === 1), 'the 200 ms retry', 10_000);
    const fast = calls.filter((call) => call.id === 'fast');
    expect(fast[1]!.at - fast[0]!.at).toBeGreaterThanOrEqual(199);
    expect(calls.filter((call) => call.id === 'slow')).toHaveLength(1);
  });

  it('releases the retries it holds when the group rebalances: the group goes on, the retry runs when due', async () => {
    const topic = `retry-rebalance-${randomUUID()}`;
    const serviceName = `svc-${randomUUID().slice(0, 8)}`;
    const calls: Call[] = [];
    const backoff = () => new KafkaBackoff({ maxRetries: 1, interval: 15_000 });
    const handler = (call: Call) => {
      if (call.id === 'held' && call.retry.retryCount === 0) throw new Error('retry me in 15 s');
    };
    const one = service(topic, serviceName, 'one', calls, { backoff: backoff(), handler, partitions: 2 });
    await one.runner.start();
    await send(topic, 'held');
    await waitFor(() => one.listener.heldRetries === 1, 'the retry held by the first instance', 30_000);
    const heldSince = performance.now();
    const two = service(topic, serviceName, 'two', calls, { backoff: backoff(), handler, partitions: 2 });
    await two.runner.start();
    // Both partitions keep flowing during the 15 s the retry waits: nobody sits on a blocked batch.
    const ids = Array.from({ length: 20 }, (_, i) => `fresh-${i}`);
    await send(topic, ...ids);
    await waitFor(() => ids.every((id) => calls.some((call) => call.id === id)), 'fresh records after the rebalance', 30_000);
    // The rebalance did not wait for the held retry: the second instance got partitions and worked.
    expect(calls.some((call) => call.instance === 'two' && call.id.startsWith('fresh-'))).toBe(true);
    expect(performance.now() - heldSince).toBeLessThan(14_000);
    await waitFor(() => calls.some((call) => call.id === 'held' && call.retry.retryCount === 1), 'the retry, once due', 40_000);
    // Released, not kept running in a stale batch: the retry runs once, by the partition's owner.
    expect(await staysQuiet(() => calls.filter((call) => call.id === 'held' && call.retry.retryCount === 1).length > 1, 3_000)).toBe(true);
  }, 90_000);
  it('holds at most maxHeldRetries in memory: past it the retry partition pauses, and every retry still runs', async () => {
    const topic = `retry-bound-${randomUUID()}`;
    const calls: Call[] = [];
    const handle = inject({ retry: new BackoffContext() }, function handle({ retry }, payload: { id: string }) {
      calls.push({ id: payload.id, retry, meta: {} as Meta, at: performance.now(), instance: 'one' });
      if (retry.retryCount === 0) throw new Error('later');
    });
    const listener = new TopicListener({ topic, maxHeldRetries: 5, sessionTimeoutMs: 6_000 });
    const runner = new Runner({
      config: { serviceName: `svc-${randomUUID().slice(0, 8)}`, maxWorkers: 8, kafka: { brokers: brokersFromEnv(), logLevel: logLevel.NOTHING } },
      contexts: [{ routes: [new Route({ target: handle, entrypoint: listener, backoff: new KafkaBackoff({ maxRetries: 1, interval: 1_500 }) })] }],
    });
    runners.push(runner);
    await runner.start();
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, listener.heldRetries)), 5);
    const ids = Array.from({ length: 30 }, (_, i) => `r${i}`);
    await send(topic, ...ids);
    await waitFor(() => ids.every((id) => calls.some((call) => call.id === id && call.retry.retryCount === 1)), 'every retry', 60_000);
    clearInterval(watch);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(5);
  }, 90_000);
});

describe('consumer crashes on Kafka', () => {
  /** Starts a service and returns the CRASH listeners of the consumers its listener creates. */
  async function crashable(topic: string) {
    const calls: Call[] = [];
    const { runner, listener } = service(topic, `svc-${randomUUID().slice(0, 8)}`, 'one', calls);
    const consumers: Consumer[] = [];
    const crashListeners: Array<(event: unknown) => void> = [];
    const originalBind = listener.bind.bind(listener);
    listener.bind = (boundRunner, context) => {
      originalBind(boundRunner, context);
      void sharedKafkaClient(context).then((client) => {
        const create = client.kafka.consumer.bind(client.kafka);
        client.kafka.consumer = (config) => {
          const consumer = create(config);
          consumers.push(consumer);
          const on = consumer.on.bind(consumer);
          consumer.on = ((event: string, handler: (event: unknown) => void) => {
            if (event === consumer.events.CRASH) crashListeners.push(handler);
            return on(event as never, handler as never);
          }) as Consumer['on'];
          return consumer;
        };
      });
    };
    await runner.start();
    await send(topic, 'first');
    await waitFor(() => calls.length === 1, 'the first record');
    /** What kafkajs emits when it gives a consumer up without restarting it. */
    const crash = () => crashListeners.at(-1)!({ type: 'consumer.crash', payload: { error: new Error('gave up'), groupId: listener.groupId, restart: false } });
    return { calls, runner, listener, consumers, crash };
  }

  it('replaces a consumer kafkajs gave up on, and consumes on', async () => {
    const topic = `crash-${randomUUID()}`;
    const { calls, consumers, crash } = await crashable(topic);
    crash();
    await waitFor(() => consumers.length === 2, 'a new consumer', 20_000);
    await send(topic, 'after');
    await waitFor(() => calls.some((call) => call.id === 'after'), 'the record sent after the crash', 30_000);
  });

  it('a stop while a replacement is pending starts no consumer after it: the group is left empty', async () => {
    const topic = `crash-stop-${randomUUID()}`;
    const { runner, listener, consumers, crash } = await crashable(topic);
    crash();
    await runner.stop({ timeoutMs: 2_000 });
    const created = consumers.length;
    // Longer than the pending replacement's delay: no consumer is created once stop resolved.
    expect(await staysQuiet(() => consumers.length > created, 2_500)).toBe(true);
    const { groups } = await admin.describeGroups([listener.groupId]);
    expect(groups[0]?.members ?? []).toHaveLength(0);
  });
});
