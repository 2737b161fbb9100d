import { randomUUID } from 'node:crypto';
import { Route, Runner } from '@micro-framework/core';
import { recordingObserver, staysQuiet, waitFor, type RecordedEvent, type TcpProxy } from '@micro-framework/conformance';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TopicListener, brokersFromEnv } from '../src/index.ts';
import { proxiedKafka, watchReadiness } from './proxied-kafka.ts';

// When a TopicListener reports its connection lost (and not ready): a real cut, through a TCP proxy
// on the local broker's proxied listener, and the slow calls and rebalances that are not one.
const kafka = new Kafka({ brokers: brokersFromEnv(), logLevel: logLevel.NOTHING });
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
const runners: Runner[] = [];
const releases: Array<() => void> = [];
let proxy: TcpProxy;
let brokers: string[];

beforeAll(async () => {
  ({ proxy, brokers } = await proxiedKafka());
  await producer.connect();
});
afterEach(async () => {
  proxy.restore();
  for (const release of releases.splice(0)) release();
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 2_000 })));
});
afterAll(async () => {
  await producer.disconnect();
  await proxy.close();
});

/** Work a handler does for `ms`: the call under test is slow, nothing waits on it to synchronise. */
function work(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A service whose one TopicListener route runs `handler`, reached through the proxy; its events recorded. */
function service(topic: string, serviceName: string, handler: (value: string) => Promise<void> | void, partitions = 1) {
  const { observer, events } = recordingObserver();
  const handled: string[] = [];
  const handle = async (payload: { value: string }): Promise<void> => {
    await handler(payload.value);
    handled.push(payload.value);
  };
  const listener = new TopicListener({ topic, partitions });
  const runner = new Runner({
    config: { serviceName, maxWorkers: 4, kafka: { brokers, logLevel: logLevel.NOTHING } },
    contexts: [{ routes: [new Route({ target: handle, entrypoint: listener })] }],
    observers: [observer],
  });
  runners.push(runner);
  return { runner, listener, events, handled };
}

function named(events: RecordedEvent[], name: RecordedEvent['name']): RecordedEvent[] {
  return events.filter((recorded) => recorded.name === name);
}

async function send(topic: string, value: string, partition?: number): Promise<void> {
  await producer.send({ topic, acks: -1, messages: [{ value: JSON.stringify({ value }), partition }] });
}

describe('TopicListener connection health', () => {
  it('a handler taking 7 s on one record is no lost connection: ready throughout, no connectionLost', async () => {
    const topic = `slow-${randomUUID()}`;
    const { runner, listener, events, handled } = service(topic, `svc-${randomUUID().slice(0, 8)}`, (value) => (value === 'slow' ? work(7_000) : undefined));
    await runner.start();
    const readiness = watchReadiness(() => listener.readiness());
    try {
      await send(topic, 'slow');
      await waitFor(() => handled.includes('slow'), 'the slow record', 30_000);
      // The batch ended: the consumer fetches again; still nothing to report.
      const quiet = await staysQuiet(() => readiness.reasons.length > 0 || named(events, 'connectionLost').length > 0, 2_000);
      expect(quiet, `not ready: ${readiness.reasons.join('; ')}`).toBe(true);
      await send(topic, 'after');
      await waitFor(() => handled.includes('after'), 'a record fetched after the slow one', 30_000);
    } finally {
      readiness.stop();
    }
    expect(readiness.reasons).toEqual([]);
    expect(named(events, 'connectionLost')).toEqual([]);
  }, 60_000);

  it('a real cut of an idle consumer is reported lost (not ready), then restored (ready), and it consumes again', async () => {
    const topic = `cut-${randomUUID()}`;
    const { runner, listener, events, handled } = service(topic, `svc-${randomUUID().slice(0, 8)}`, () => undefined);
    await runner.start();
    expect(listener.readiness()).toBeUndefined();
    proxy.cut();
    try {
      await waitFor(() => named(events, 'connectionLost').length >= 1 && listener.readiness() !== undefined, 'the connection reported lost', 20_000);
    } finally {
      proxy.restore();
    }
    expect(named(events, 'connectionLost')[0]!.event).toMatchObject({ adapter: 'kafka', broker: brokers.join(',') });
    await waitFor(() => named(events, 'connectionRestored').length >= 1 && listener.readiness() === undefined, 'the connection restored', 60_000);
    await send(topic, 'after the cut');
    await waitFor(() => handled.includes('after the cut'), 'a record after the cut', 60_000);
    expect(named(events, 'connectionLost')).toHaveLength(1);
  }, 120_000);

  it('a handler stuck in a call does not hide a real cut: lost while cut, restored after', async () => {
    const topic = `stuck-cut-${randomUUID()}`;
    let started = false;
    const stuck = new Promise<void>((resolve) => releases.push(resolve));
    const { runner, listener, events, handled } = service(topic, `svc-${randomUUID().slice(0, 8)}`, (value) => {
      if (value !== 'stuck') return undefined;
      started = true;
      return stuck;
    });
    await runner.start();
    await send(topic, 'stuck');
    await waitFor(() => started, 'the stuck call', 30_000);
    proxy.cut();
    try {
      await waitFor(() => named(events, 'connectionLost').length >= 1 && listener.readiness() !== undefined, 'the connection reported lost', 20_000);
    } finally {
      proxy.restore();
    }
    await waitFor(() => named(events, 'connectionRestored').length >= 1 && listener.readiness() === undefined, 'the connection restored', 60_000);
    for (const release of releases.splice(0)) release();
    await waitFor(() => handled.includes('stuck'), 'the stuck call finished', 10_000);
  }, 120_000);

  it('a rebalance that holds an idle member for longer than 5 s is no lost connection', async () => {
    const topic = `long-rebalance-${randomUUID()}`;
    const serviceName = `svc-${randomUUID().slice(0, 8)}`;
    let busy: string | undefined;
    const member = (name: string) => service(topic, serviceName, async (value) => {
      if (value !== 'slow') return;
      busy = name;
      await work(9_000);
    }, 2);
    const members = { one: member('one'), two: member('two') };
    await members.one.runner.start();
    await members.two.runner.start();
    await send(topic, 'slow', 0);
    await waitFor(() => busy !== undefined, 'the slow call', 30_000);
    const idle = busy === 'one' ? members.two : members.one;
    const readiness = watchReadiness(() => idle.listener.readiness());
    const three = member('three');
    const joining = performance.now();
    try {
      // The group re-forms only once the busy member ends its batch and rejoins: the idle member waits in its join.
      await three.runner.start();
      expect(performance.now() - joining).toBeGreaterThan(5_000);
      await waitFor(() => handled(members).includes('slow'), 'the slow call finished', 30_000);
      const quiet = await staysQuiet(() => readiness.reasons.length > 0, 2_000);
      expect(quiet, `not ready: ${readiness.reasons.join('; ')}`).toBe(true);
    } finally {
      readiness.stop();
    }
    expect(readiness.reasons).toEqual([]);
    for (const { events } of [members.one, members.two, three]) expect(named(events, 'connectionLost')).toEqual([]);
  }, 90_000);
});

function handled(members: Record<string, { handled: string[] }>): string[] {
  return Object.values(members).flatMap((member) => member.handled);
}
