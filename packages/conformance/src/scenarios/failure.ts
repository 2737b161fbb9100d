import { Backoff, DeadLetterHeader, type BackoffOptions, type Route, type Worker } from '@micro-framework/core';
import type { ConformanceAdapter, DeadLetterRecord } from '@micro-framework/core/testing';
import { describe, expect } from 'vitest';
import type { Harness } from '../harness.ts';
import { staysQuiet, waitFor } from '../poll.ts';
import { scenario } from '../scenario.ts';

const utf8 = new TextDecoder();

/** The delayed backoff where the adapter has one, else the in-process backoff. */
function anyBackoff(h: Harness, options: BackoffOptions): Backoff {
  return h.adapter.capabilities.delayedRetry && h.adapter.createDelayedBackoff ? h.adapter.createDelayedBackoff(options) : new Backoff(options);
}

function bodyOf(record: DeadLetterRecord): Record<string, unknown> {
  return JSON.parse(utf8.decode(record.body)) as Record<string, unknown>;
}

/** Header values any broker carries: no CR or LF, and bounded. */
function expectSafeHeaders(record: DeadLetterRecord): void {
  for (const [name, value] of Object.entries(record.headers)) {
    expect(value, `header ${name}`).not.toMatch(/[\r\n]/);
    expect(value.length, `length of header ${name}`).toBeLessThanOrEqual(4_096);
  }
}

/** A backoff whose retry the broker refuses, as when the retry cannot be published. */
class RefusedRetryBackoff extends Backoff {
  override async retry(_route: Route, _entryId: unknown, _worker: Worker): Promise<Worker | null> {
    throw new Error('retry refused by the broker');
  }
}

/** Scenarios 29, 30, 32, 34, 36 and 42: what bad input, hostile errors, stops and failed settlements do. */
export function failureScenarios(adapter: ConformanceAdapter): void {
  describe('failure paths', () => {
    scenario(adapter, '29 throwing payload filter: dead-lettered with reason filter, bounded work, the rest flows', ['deadLetter'], async (h) => {
      let poisonRuns = 0;
      const spec = h.spec('filter-throws', {
        payloadFilter: (payload) => {
          const message = payload as { order: { total: number } | null; sentinel?: boolean };
          if (message.sentinel) return true;
          if (message.order === null) poisonRuns += 1;
          return message.order!.total > 0;
        },
      });
      await h.startService(spec.serviceName, [h.listenerRoute({ spec })]);
      await h.publishJson(spec.channel, { id: 'poison', order: null });
      for (let i = 0; i < 5; i += 1) await h.publishJson(spec.channel, { id: i, order: { total: i + 1 } });
      await waitFor(() => h.calls.length >= 5, 'the 5 good messages');
      const [dead] = await h.deadLetters(spec, 1);
      expect(bodyOf(dead!)).toEqual({ id: 'poison', order: null });
      expect(dead!.headers[DeadLetterHeader.reason]).toBe('filter');
      expect(dead!.headers[DeadLetterHeader.errorName]).toBe('TypeError');
      expectSafeHeaders(dead!);
      expect(await staysQuiet(() => poisonRuns > 3 || h.calls.length > 5, 1_000)).toBe(true);
      expect(poisonRuns).toBeGreaterThanOrEqual(1);
      expect(await adapter.readDeadLetters!(spec)).toHaveLength(1);
      if (adapter.capabilities.durable) await h.expectNothingLeft(spec);
    });

    scenario(adapter, '42 too-large message: dead-lettered undecoded with reason too-large, the consumer goes on', ['deadLetter'], async (h) => {
      const spec = h.spec('too-large');
      await h.startService(spec.serviceName, [h.listenerRoute({ spec })], 10, { maxPayloadBytes: 1_024 });
      // Not JSON at all: a decode would make it a `decode` dead letter, so `too-large` proves it was never decoded.
      const huge = new Uint8Array(64 * 1_024).fill(0x7b);
      await h.adapter.publish(spec.channel, { body: huge });
      const limitSized = JSON.stringify({ id: 'at-limit', pad: '' });
      const atLimit = { id: 'at-limit', pad: 'x'.repeat(1_024 - new TextEncoder().encode(limitSized).byteLength) };
      await h.publishJson(spec.channel, atLimit);
      for (let i = 0; i < 3; i += 1) await h.publishJson(spec.channel, { id: i });
      await waitFor(() => h.calls.length >= 4, 'the message at the limit and the 3 small ones');
      const [dead] = await h.deadLetters(spec, 1);
      expect(dead!.body).toEqual(huge);
      expect(dead!.headers[DeadLetterHeader.reason]).toBe('too-large');
      expect(dead!.headers[DeadLetterHeader.errorName]).toBe('PayloadTooLarge');
      expect(dead!.headers[DeadLetterHeader.errorMessage]).toContain('65536 bytes');
      expectSafeHeaders(dead!);
      expect(await staysQuiet(() => h.calls.length > 4, 500)).toBe(true);
      expect(h.calls.map((call) => (call.payload as { id: unknown }).id).sort()).toEqual([0, 1, 2, 'at-limit'].sort());
      expect(await adapter.readDeadLetters!(spec)).toHaveLength(1);
      if (adapter.capabilities.durable) await h.expectNothingLeft(spec);
    });

    scenario(adapter, '30 hostile errors: multi-line, huge and non-Error throws are retried, then dead-lettered with safe headers', ['deadLetter'], async (h) => {
      const spec = h.spec('hostile');
      const crlf = 'payment declined\n  at gateway: card expired\r\n  code 51';
      const throwers: Record<string, () => never> = {
        crlf: () => { throw new Error(crlf); },
        huge: () => { throw new Error('x'.repeat(100_000)); },
        name: () => { throw Object.assign(new Error('renamed'), { name: 'Card\r\nDeclined' }); },
        string: () => { throw 'a plain string'; },
        bigint: () => { throw 10n; },
        cyclic: () => { const value: Record<string, unknown> = { code: 7 }; value['self'] = value; throw value; },
        undefined: () => { throw undefined; },
        null: () => { throw null; },
        proxy: () => {
          const trap = (): never => { throw new Error('trapped'); };
          throw new Proxy({}, { get: trap, getPrototypeOf: trap, ownKeys: trap, has: trap, getOwnPropertyDescriptor: trap });
        },
      };
      const handler = (payload: unknown) => throwers[(payload as { kind: string }).kind]!();
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, handler, backoff: anyBackoff(h, { maxRetries: 1, interval: 50 }) })]);
      const kinds = Object.keys(throwers);
      for (const kind of kinds) await h.publishJson(spec.channel, { kind });
      const dead = await h.deadLetters(spec, kinds.length);
      expect(await staysQuiet(() => h.calls.length > kinds.length * 2, 1_000)).toBe(true);
      const byKind = new Map(dead.map((record) => [bodyOf(record)['kind'] as string, record]));
      expect([...byKind.keys()].sort()).toEqual([...kinds].sort());
      for (const kind of kinds) {
        const calls = h.callsFor((call) => (call.payload as { kind: string }).kind === kind);
        expect(calls.map((call) => call.meta.retry.retryCount), `calls of ${kind}`).toEqual([0, 1]);
        expect(calls[1]!.meta.retry.lastErrorMessage ?? '', `retry state of ${kind}`).not.toMatch(/[\r\n]/);
        const record = byKind.get(kind)!;
        expectSafeHeaders(record);
        expect(record.headers[DeadLetterHeader.reason]).toBe('exhausted');
        expect(record.headers[DeadLetterHeader.attempts]).toBe('2');
        expect(record.headers[DeadLetterHeader.errorName], `error name of ${kind}`).toMatch(/\S/);
      }
      const message = (kind: string): string => byKind.get(kind)!.headers[DeadLetterHeader.errorMessage] ?? '';
      expect(message('crlf')).toBe('payment declined\\n  at gateway: card expired\\r\\n  code 51');
      expect(message('huge').startsWith('x'.repeat(1_000))).toBe(true);
      expect(byKind.get('name')!.headers[DeadLetterHeader.errorName]).toBe('Card\\r\\nDeclined');
      expect(message('string')).toBe('a plain string');
      expect(message('bigint')).toContain('10');
      expect(message('cyclic')).toContain('code');
      expect(message('undefined')).toBe('undefined');
      expect(message('null')).toBe('null');
    });

    scenario(adapter, '32 stop with a backlog: no call starts after stop began, nothing is lost, no storm of hand-backs', ['durable', 'competingConsumers'], async (h) => {
      const serviceName = h.unique('svc-backlog');
      const specs = ['a', 'b', 'c'].map((label) => ({ channel: h.unique(`backlog-${label}`), serviceName }));
      const perChannel = 1_000;
      const maxWorkers = 10;
      const routes = (instance: string, handler?: () => Promise<void>) => specs.map((spec) => h.listenerRoute({ spec, instance, handler }));
      // The queues (consumer groups, durable consumers) exist before the backlog is published.
      const warm = await h.startService(serviceName, routes('warm'), maxWorkers);
      await warm.stop();
      for (const spec of specs) {
        for (let i = 0; i < perChannel; i += 50) {
          await Promise.all(Array.from({ length: 50 }, (_, j) => h.publishJson(spec.channel, { channel: spec.channel, i: i + j })));
        }
      }
      const busy = () => new Promise<void>((resolve) => setTimeout(resolve, 10));
      const first = await h.startService(serviceName, routes('first', busy), maxWorkers);
      await waitFor(() => h.calls.length >= 200, '200 calls before the stop', 60_000);
      const receivedBeforeStop = h.deliveries;
      const stopBegan = performance.now();
      await first.stop({ timeoutMs: 20_000 });
      const firstCalls = h.callsFor((call) => call.instance === 'first');
      expect(firstCalls.filter((call) => call.at >= stopBegan), 'calls started after stop began').toHaveLength(0);
      expect(firstCalls.every((call) => call.end !== undefined && call.end <= performance.now())).toBe(true);
      // Every delivery of the first instance ran, or was handed back once: what the broker had handed
      // over when the stop began, plus what it pushed before the cancel took effect (a prefetch each).
      expect(h.deliveries, 'deliveries to the stopping instance').toBeLessThanOrEqual(receivedBeforeStop + specs.length * maxWorkers);
      await h.startService(serviceName, routes('second'), maxWorkers);
      const handled = () => new Set(h.calls.map((call) => JSON.stringify(call.payload)));
      await waitFor(() => handled().size >= specs.length * perChannel, 'every message of the backlog handled', 120_000);
      const total = h.deliveries;
      // No storm: beyond one delivery per message, only what was handed over but unfinished at the stop.
      expect(total, 'deliveries in all').toBeLessThanOrEqual(specs.length * perChannel + (receivedBeforeStop - firstCalls.length) + specs.length * maxWorkers);
    }, 240_000);

    scenario(adapter, '34 one key at a time: two messages of one key never run at once', ['orderedPerKey'], async (h) => {
      const spec = h.spec('one-key');
      const handler = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, handler })], 8);
      for (let seq = 0; seq < 200; seq += 1) {
        const key = `k${seq % 4}`;
        await h.publishJson(spec.channel, { key, seq }, { key });
      }
      await waitFor(() => h.calls.filter((call) => call.end !== undefined).length >= 200, '200 finished calls');
      const byKey = new Map<string, Array<{ at: number; end: number }>>();
      for (const call of h.calls) {
        const { key } = call.payload as { key: string };
        byKey.set(key, [...(byKey.get(key) ?? []), { at: call.at, end: call.end! }]);
      }
      for (const [key, runs] of byKey) {
        runs.sort((x, y) => x.at - y.at);
        for (let i = 1; i < runs.length; i += 1) expect(runs[i]!.at, `overlap on ${key}`).toBeGreaterThanOrEqual(runs[i - 1]!.end);
      }
    });

    scenario(adapter, '36 failed settlement: handed back after a delay, a bounded number of times, then dead-lettered', ['deadLetter'], async (h) => {
      const spec = h.spec('refused');
      const giveBack = { delayMs: 200, limit: 2 };
      const backoff = new RefusedRetryBackoff({ maxRetries: 3, interval: 10 });
      const handler = () => { throw new Error('charge failed'); };
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, handler, backoff })], 10, { giveBack });
      await h.publishJson(spec.channel, { id: 1 });
      const [dead] = await h.deadLetters(spec, 1);
      expect(dead!.headers[DeadLetterHeader.reason]).toBe('give-back-limit');
      expect(dead!.headers[DeadLetterHeader.errorMessage]).toBe('retry refused by the broker');
      expect(await staysQuiet(() => h.calls.length > giveBack.limit + 1, 1_000)).toBe(true);
      expect(h.calls.length).toBeGreaterThanOrEqual(1);
      for (let i = 1; i < h.calls.length; i += 1) {
        expect(h.calls[i]!.at - h.calls[i - 1]!.at, 'a hand-back waits before the message comes back').toBeGreaterThanOrEqual(giveBack.delayMs - 1);
      }
      expect(await adapter.readDeadLetters!(spec)).toHaveLength(1);
      if (adapter.capabilities.durable) await h.expectNothingLeft(spec);
    });
  });
}
