import { randomUUID } from 'node:crypto';
import { MetaDependency, Route, Runner, inject, type Meta } from '@micro-framework/core';
import { staysQuiet, waitFor } from '@micro-framework/conformance';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TopicListener, brokersFromEnv } from '../src/index.ts';

// Offsets, order and rebalancing against the local Kafka broker (tools/kafka/kafka.mjs).
const kafka = new Kafka({ brokers: brokersFromEnv(), logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
const runners: Runner[] = [];
const releases: Array<() => void> = [];

beforeAll(async () => {
  await Promise.all([admin.connect(), producer.connect()]);
});
afterEach(async () => {
  for (const release of releases.splice(0)) release();
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 2_000 })));
});
afterAll(async () => {
  await Promise.all([admin.disconnect(), producer.disconnect()]);
});

interface Seen { value: string; key: string; meta: Meta; instance: string; at: number; done?: number }

function service(topic: string, serviceName: string, instance: string, seen: Seen[], handler: (value: string) => Promise<void> | void, maxWorkers = 8, partitions = 1, commitIntervalMs?: number) {
  const handle = inject({ meta: new MetaDependency() }, async function handle({ meta }, payload: { value: string }) {
    const entry: Seen = { value: payload.value, key: String(meta['key']), meta, instance, at: performance.now() };
    seen.push(entry);
    await handler(payload.value);
    entry.done = performance.now();
  });
  const runner = new Runner({
    config: { serviceName, maxWorkers, kafka: { brokers: brokersFromEnv(), logLevel: logLevel.NOTHING } },
    contexts: [{ routes: [new Route({ target: handle, entrypoint: new TopicListener({ topic, partitions, sessionTimeoutMs: 6_000, ...(commitIntervalMs === undefined ? {} : { commitIntervalMs }) }) })] }],
  });
  runners.push(runner);
  return runner;
}

async function send(topic: string, records: Array<{ key: string; value: string }>): Promise<void> {
  await producer.send({ topic, acks: -1, messages: records.map(({ key, value }) => ({ key, value: JSON.stringify({ value }) })) });
}

describe('TopicListener', () => {
  it('commits only the contiguous finished prefix: after a crash C and D come back, A and B do not', async () => {
    const topic = `offsets-${randomUUID()}`;
    const serviceName = `svc-${randomUUID().slice(0, 8)}`;
    const seen: Seen[] = [];
    const never = new Promise<void>((resolve) => releases.push(resolve));
    const first = service(topic, serviceName, 'first', seen, (value) => (value === 'C' ? never : undefined));
    await first.start();
    await send(topic, ['A', 'B', 'C', 'D'].map((value) => ({ key: value, value })));
    await waitFor(() => ['A', 'B', 'D'].every((v) => seen.some((s) => s.value === v && s.done)) && seen.some((s) => s.value === 'C'), 'A, B, D finished and C running');
    await first.stop({ timeoutMs: 200 }); // C is abandoned, as if the process had died
    const [committed] = await admin.fetchOffsets({ groupId: `${topic}__${serviceName}.handle`, topics: [topic] });
    expect(committed?.partitions[0]?.offset).toBe('2');

    const second = service(topic, serviceName, 'second', seen, () => undefined);
    await second.start();
    await waitFor(() => seen.filter((s) => s.instance === 'second').length >= 2, 'C and D again', 30_000);
    expect(await staysQuiet(() => seen.filter((s) => s.instance === 'second').length > 2, 1_000)).toBe(true);
    const again = seen.filter((s) => s.instance === 'second');
    expect(again.map((s) => s.value).sort()).toEqual(['C', 'D']);
    expect(again.every((s) => s.meta.redelivered === true)).toBe(true);
  });

  it('waits out commitIntervalMs between the commits of a batch: its end and a stop commit what finished at once', async () => {
    const topic = `interval-${randomUUID()}`;
    const serviceName = `svc-${randomUUID().slice(0, 8)}`;
    const groupId = `${topic}__${serviceName}.handle`;
    const committed = async () => (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions[0]?.offset;
    const seen: Seen[] = [];
    const hold = new Promise<void>((resolve) => releases.push(resolve));
    const runner = service(topic, serviceName, 'first', seen, (value) => (value === 'F' ? hold : undefined), 8, 1, 60_000);
    await runner.start();
    // A batch whose records all finish: its end commits past them without waiting a minute.
    await send(topic, ['A', 'B', 'C'].map((value) => ({ key: value, value })));
    await waitFor(async () => (await committed()) === '3', 'A, B and C committed at the end of their batch');
    // D and E finish while F never does: the stop gives up on F and commits D and E at once.
    // D and E share a key, so E finishes after D.
    await send(topic, [{ key: 'DE', value: 'D' }, { key: 'DE', value: 'E' }, { key: 'F', value: 'F' }]);
    await waitFor(() => ['D', 'E'].every((v) => seen.some((s) => s.value === v && s.done)) && seen.some((s) => s.value === 'F'), 'D and E finished, F running');
    // The first record a batch finishes is committed at once; E, after it, waits out the interval.
    await waitFor(async () => (await committed()) === '4', 'D committed');
    const quietUntil = performance.now() + 1_000;
    while (performance.now() < quietUntil) expect(await committed()).toBe('4');
    await runner.stop({ timeoutMs: 200 });
    expect(await committed()).toBe('5');
  });

  it('refuses a commitIntervalMs that is not a number of ms', () => {
    for (const commitIntervalMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, 60_001]) {
      expect(() => new TopicListener({ topic: 't', commitIntervalMs })).toThrow(/commitIntervalMs/);
    }
  });

  it('runs keys concurrently while each key stays in order', async () => {
    const topic = `order-${randomUUID()}`;
    const seen: Seen[] = [];
    let active = 0;
    let peak = 0;
    const runner = service(topic, `svc-${randomUUID().slice(0, 8)}`, 'one', seen, async () => {
      active += 1;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 15));
      active -= 1;
    });
    await runner.start();
    const records = Array.from({ length: 80 }, (_, i) => ({ key: `k${i % 4}`, value: String(i) }));
    await send(topic, records);
    await waitFor(() => seen.filter((s) => s.done).length === 80, '80 finished');
    for (const key of ['k0', 'k1', 'k2', 'k3']) {
      const ofKey = seen.filter((s) => s.key === key);
      expect(ofKey.map((s) => Number(s.value))).toEqual([...ofKey.map((s) => Number(s.value))].sort((a, b) => a - b));
      for (let i = 1; i < ofKey.length; i += 1) expect(ofKey[i]!.at).toBeGreaterThanOrEqual(ofKey[i - 1]!.done!);
    }
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(4);
  });

  it('hands a fetched backlog to workers as they free up: at most twice maxWorkers records at once', async () => {
    const topic = `backlog-${randomUUID()}`;
    const seen: Seen[] = [];
    const gate = { open: false };
    const opened = new Promise<void>((resolve) => releases.push(resolve));
    const listener = new TopicListener({ topic, sessionTimeoutMs: 6_000 });
    const handle = inject({ meta: new MetaDependency() }, async function handle({ meta }, payload: { value: string }) {
      seen.push({ value: payload.value, key: String(meta['key']), meta, instance: 'one', at: performance.now() });
      if (!gate.open) await opened;
    });
    const runner = new Runner({
      config: { serviceName: `svc-${randomUUID().slice(0, 8)}`, maxWorkers: 3, kafka: { brokers: brokersFromEnv(), logLevel: logLevel.NOTHING } },
      contexts: [{ routes: [new Route({ target: handle, entrypoint: listener })] }],
    });
    runners.push(runner);
    await runner.start();
    // Distinct keys: nothing waits for its key, only for a worker.
    await send(topic, Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: String(i) })));
    await waitFor(() => seen.length === 3 && listener.dispatched === 6, 'three running and three more handed on');
    expect(await staysQuiet(() => listener.dispatched > 6 || seen.length > 3, 500)).toBe(true);
    gate.open = true;
    releases.shift()?.();
    await waitFor(() => new Set(seen.map((s) => s.value)).size === 200, 'all 200 handled');
    await waitFor(() => listener.dispatched === 0, 'nothing handed on any more');
  });

  it('lets other keys go on while one key waits behind a record that does not finish', async () => {
    const topic = `slow-key-${randomUUID()}`;
    const seen: Seen[] = [];
    const stuck = new Promise<void>((resolve) => releases.push(resolve));
    const runner = service(topic, `svc-${randomUUID().slice(0, 8)}`, 'one', seen, (value) => (value.startsWith('slow') ? stuck : undefined), 2);
    await runner.start();
    // Five records of one key first (the first never finishes while the test looks), then twenty other keys.
    await send(topic, [
      ...Array.from({ length: 5 }, (_, i) => ({ key: 'slow', value: `slow-${i}` })),
      ...Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `other-${i}` })),
    ]);
    await waitFor(() => seen.filter((s) => s.value.startsWith('other') && s.done).length === 20, 'the twenty other keys finished');
    expect(seen.filter((s) => s.value.startsWith('slow')).map((s) => s.value)).toEqual(['slow-0']);
    releases.shift()?.();
    await waitFor(() => seen.filter((s) => s.value.startsWith('slow') && s.done).length === 5, 'the slow key finished in order');
    expect(seen.filter((s) => s.value.startsWith('slow')).map((s) => s.value)).toEqual(['slow-0', 'slow-1', 'slow-2', 'slow-3', 'slow-4']);
  });

  it('tells keys apart by their bytes: keys that are not UTF-8 and read alike still run apart, each in order', async () => {
    const topic = `byte-keys-${randomUUID()}`;
    const seen: Seen[] = [];
    const stuck = new Promise<void>((resolve) => releases.push(resolve));
    const runner = service(topic, `svc-${randomUUID().slice(0, 8)}`, 'one', seen, (value) => (value.startsWith('ff') ? stuck : undefined), 4);
    await runner.start();
    // 0xff and 0xfe both read as U+FFFD in UTF-8, and the text key "\uFFFD" reads alike too: three keys.
    const keys: Array<[string, Buffer]> = [['ff', Buffer.from([0xff])], ['fe', Buffer.from([0xfe])], ['text', Buffer.from('\uFFFD')]];
    await producer.send({
      topic,
      acks: -1,
      messages: [0, 1, 2].flatMap((i) => keys.map(([name, key]) => ({ key, value: JSON.stringify({ value: `${name}-${i}` }) }))),
    });
    await waitFor(() => seen.filter((s) => !s.value.startsWith('ff') && s.done).length === 6, 'the other two keys finished');
    expect(seen.filter((s) => s.value.startsWith('ff')).map((s) => s.value)).toEqual(['ff-0']);
    for (const name of ['fe', 'text']) expect(seen.filter((s) => s.value.startsWith(name)).map((s) => s.value)).toEqual([0, 1, 2].map((i) => `${name}-${i}`));
    expect(seen.find((s) => s.value === 'fe-0')?.key).toBe('\uFFFD');
    releases.shift()?.();
    await waitFor(() => seen.filter((s) => s.value.startsWith('ff') && s.done).length === 3, 'the stuck key finished in order');
    expect(seen.filter((s) => s.value.startsWith('ff')).map((s) => s.value)).toEqual(['ff-0', 'ff-1', 'ff-2']);
  });

  it('loses nothing when a second instance joins and the group rebalances', async () => {
    const topic = `rebalance-${randomUUID()}`;
    const serviceName = `svc-${randomUUID().slice(0, 8)}`;
    const seen: Seen[] = [];
    const slow = () => new Promise<void>((resolve) => setTimeout(resolve, 25));
    const one = service(topic, serviceName, 'one', seen, slow, 4, 4);
    await one.start();
    await send(topic, Array.from({ length: 400 }, (_, i) => ({ key: `k${i % 16}`, value: String(i) })));
    await waitFor(() => seen.length >= 20, 'the first calls');
    const two = service(topic, serviceName, 'two', seen, slow, 4, 4);
    await two.start();
    await waitFor(() => new Set(seen.filter((s) => s.done).map((s) => s.value)).size === 400, 'all 400 handled', 60_000);
    expect(seen.some((s) => s.instance === 'two')).toBe(true);
  });
});
