import { EventEmitter } from 'node:events';
import { Telemetry } from '@micro-framework/core';
import { recordingObserver, staysQuiet, waitFor, type RecordedEvent } from '@micro-framework/conformance';
import type { Consumer } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsumerHealth } from '../src/consumer-health.ts';

// The rules of ConsumerHealth on a scripted consumer, with short allowances; the real broker cases
// (a cut, a slow call, a long rebalance) are in connection-health.test.ts.
const names = ['REQUEST', 'CONNECT', 'REBALANCING', 'GROUP_JOIN', 'STOP', 'DISCONNECT', 'CRASH'] as const;
const healths: ConsumerHealth[] = [];

afterEach(() => {
  for (const health of healths.splice(0)) health.stop();
});

/** A consumer whose kafkajs events the test emits. */
function scriptedConsumer() {
  const emitter = new EventEmitter();
  const events = Object.fromEntries(names.map((name) => [name, name]));
  const consumer = {
    events,
    on: (name: string, listener: (event: unknown) => void) => {
      emitter.on(name, listener);
      return () => emitter.off(name, listener);
    },
  } as unknown as Consumer;
  return { consumer, emit: (name: (typeof names)[number], payload: unknown = {}) => emitter.emit(name, { payload }) };
}

function watched(silenceMs: number, joinSilenceMs: number) {
  const { observer, events } = recordingObserver();
  const health = new ConsumerHealth({ name: 'consumer of orders', broker: 'b:9092', telemetry: new Telemetry([observer]), silenceMs, joinSilenceMs });
  healths.push(health);
  const { consumer, emit } = scriptedConsumer();
  health.follow(consumer);
  return { health, events, emit };
}

const count = (events: RecordedEvent[], name: RecordedEvent['name']): number => events.filter((recorded) => recorded.name === name).length;

describe('ConsumerHealth', () => {
  it('reports a silence past the allowance as lost (not ready), and the next answer as restored', async () => {
    const { health, events, emit } = watched(300, 60_000);
    emit('GROUP_JOIN');
    expect(health.readiness()).toBeUndefined();
    await waitFor(() => count(events, 'connectionLost') === 1, 'the connection reported lost', 5_000);
    expect(health.readiness()).toMatch(/^no answer from Kafka for \d+ s$/);
    expect(events[0]!.event).toMatchObject({ adapter: 'kafka', broker: 'b:9092', error: { name: 'KafkaSilence' } });
    emit('REQUEST');
    expect(health.readiness()).toBeUndefined();
    expect(count(events, 'connectionRestored')).toBe(1);
  });

  it('allows a group join its longer allowance, and judges at the short one again once joined', async () => {
    const { health, events, emit } = watched(300, 60_000);
    emit('GROUP_JOIN');
    emit('REBALANCING');
    expect(await staysQuiet(() => health.readiness() !== undefined || count(events, 'connectionLost') > 0, 1_500)).toBe(true);
    emit('GROUP_JOIN');
    await waitFor(() => count(events, 'connectionLost') === 1, 'the connection reported lost once joined', 5_000);
  });

  it('keeps the reason of a crash (disconnected after it) until the consumer connects again', () => {
    const { health, emit } = watched(300, 60_000);
    emit('GROUP_JOIN');
    emit('STOP');
    expect(health.readiness()).toBe('consumer of orders stopped');
    emit('CRASH', { error: new Error('gave up'), restart: true });
    emit('DISCONNECT');
    expect(health.readiness()).toBe('consumer of orders crashed (Error: gave up), kafkajs restarts it');
    emit('CONNECT');
    expect(health.readiness()).toBeUndefined();
  });

  it('does not report a stopped consumer, which asks Kafka nothing, as a lost connection', async () => {
    const { health, events, emit } = watched(300, 60_000);
    emit('GROUP_JOIN');
    emit('STOP');
    expect(await staysQuiet(() => count(events, 'connectionLost') > 0, 1_500)).toBe(true);
    expect(health.readiness()).toBe('consumer of orders stopped');
  });

  it('ignores the events of a consumer it no longer follows', () => {
    const { health, emit } = watched(300, 60_000);
    health.follow(scriptedConsumer().consumer);
    emit('CRASH', { error: new Error('old'), restart: false });
    expect(health.readiness()).toBeUndefined();
  });
});
