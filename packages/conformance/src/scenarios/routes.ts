import { Backoff, DeadLetterHeader, NonRetryableError, type Route, type Worker } from '@micro-framework/core';
import type { ConformanceAdapter } from '@micro-framework/core/testing';
import { describe, expect } from 'vitest';
import type { Harness } from '../harness.ts';
import { staysQuiet, waitFor } from '../poll.ts';
import { scenario } from '../scenario.ts';

class TransientError extends Error {
  override name = 'TransientError';
}

/** Records what runBackoff returned for each failed call. */
function recordBackoffResults(route: Route): Array<Worker | null> {
  const results: Array<Worker | null> = [];
  const original = route.runBackoff.bind(route);
  route.runBackoff = async (entryId, worker) => {
    const result = await original(entryId, worker);
    results.push(result);
    return result;
  };
  return results;
}

/** The delayed backoff where the adapter has one, else the in-process backoff. */
function anyBackoff(h: Harness, options: ConstructorParameters<typeof Backoff>[0]): Backoff {
  return h.adapter.capabilities.delayedRetry && h.adapter.createDelayedBackoff
    ? h.adapter.createDelayedBackoff(options ?? {})
    : new Backoff(options);
}

/** Scenarios 8–17: the seed's route, worker, backoff and callback semantics over a real channel. */
export function routeScenarios(adapter: ConformanceAdapter): void {
  describe('routes, workers, backoff, callbacks', () => {
    scenario(adapter, '8 translators: run in order before the target; a translator error is a decode error', ['deadLetter'], async (h) => {
      const spec = h.spec('translators');
      const step = (name: string) => ({
        translate: (args: readonly unknown[]) => {
          const payload = args[0] as { steps: string[]; bad?: boolean };
          if (payload.bad) throw new Error(`translator ${name} refused`);
          return [{ ...payload, steps: [...payload.steps, name] }];
        },
      });
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, translators: [step('a'), step('b')] })]);
      await h.publishJson(spec.channel, { steps: [], bad: true });
      await h.publishJson(spec.channel, { steps: [] });
      await waitFor(() => h.calls.length >= 1, 'the good call');
      expect(h.calls[0]?.payload).toEqual({ steps: ['a', 'b'] });
      const [dead] = await h.deadLetters(spec, 1);
      expect(dead?.headers[DeadLetterHeader.reason]).toBe('decode');
      expect(dead?.headers[DeadLetterHeader.errorName]).toBe('DecodeError');
      expect(h.calls).toHaveLength(1);
    });

    scenario(adapter, '9 concurrency limit: never more than maxWorkers at once, nothing redelivered', [], async (h) => {
      const spec = h.spec('concurrency');
      let active = 0;
      let peak = 0;
      const handler = async () => {
        active += 1;
        peak = Math.max(peak, active);
        await new Promise((resolve) => setTimeout(resolve, 300));
        active -= 1;
      };
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, handler })], 4);
      for (let i = 0; i < 40; i += 1) await h.publishJson(spec.channel, { i });
      await waitFor(() => h.calls.length >= 40 && active === 0, '40 finished calls');
      expect(peak).toBe(4);
      expect(await staysQuiet(() => h.calls.length > 40, 500)).toBe(true);
      expect(h.calls.some((c) => c.meta.redelivered === true)).toBe(false);
    });

    scenario(adapter, '10 in-process backoff: fails twice, succeeds on the third call, acked once', [], async (h) => {
      const spec = h.spec('inproc');
      const handler = () => {
        if (h.calls.length < 3) throw new TransientError(`attempt ${h.calls.length}`);
      };
      const route = h.listenerRoute({ spec, handler, backoff: new Backoff({ maxRetries: 3, interval: 100 }) });
      await h.startService(spec.serviceName, [route]);
      await h.publishJson(spec.channel, { id: 1 });
      await waitFor(() => h.calls.length >= 3, '3 calls');
      expect(await staysQuiet(() => h.calls.length > 3, 700)).toBe(true);
      const times = h.calls.map((c) => c.at);
      for (let i = 1; i < times.length; i += 1) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(99);
      expect(h.calls.map((c) => c.meta.retry.retryCount)).toEqual([0, 1, 2]);
      if (adapter.capabilities.durable) await h.expectNothingLeft(spec);
    });

    scenario(adapter, '11 broker-delayed backoff: intervals honoured, count reaches the target, original acked', ['delayedRetry'], async (h) => {
      const spec = h.spec('delayed');
      const intervals = [200, 400, 800];
      const backoff = h.adapter.createDelayedBackoff!({ maxRetries: 3, interval: ({ retryCount }) => intervals[retryCount] ?? 800 });
      const handler = () => {
        if (h.calls.length <= 3) throw new TransientError(`attempt ${h.calls.length}`);
      };
      const route = h.listenerRoute({ spec, handler, backoff });
      const backoffResults = recordBackoffResults(route);
      await h.startService(spec.serviceName, [route]);
      await h.publishJson(spec.channel, { id: 1 });
      await waitFor(() => h.calls.length >= 4, '4 calls');
      expect(await staysQuiet(() => h.calls.length > 4, 1_000)).toBe(true);
      expect(h.calls.map((c) => c.meta.retry.retryCount)).toEqual([0, 1, 2, 3]);
      for (let i = 1; i < 4; i += 1) {
        const gap = h.calls[i]!.at - h.calls[i - 1]!.at;
        expect(gap).toBeGreaterThanOrEqual(intervals[i - 1]! - 1);
        expect(gap).toBeLessThanOrEqual(intervals[i - 1]! + 2_000);
      }
      expect(h.calls[3]?.meta.retry.lastErrorName).toBe('TransientError');
      expect(backoffResults).toEqual([null, null, null]);
      if (adapter.capabilities.durable) await h.expectNothingLeft(spec);
    });

    scenario(adapter, '12 retry survives restart: a waiting retry runs in the next instance with its count', ['delayedRetry', 'durable'], async (h) => {
      const spec = h.spec('restart-retry');
      const backoff = () => h.adapter.createDelayedBackoff!({ maxRetries: 2, interval: 1_500 });
      let scheduled = 0;
      const failing = await h.startService(spec.serviceName, [
        h.listenerRoute({ spec, instance: 'first', backoff: backoff(), handler: () => { throw new TransientError('first attempt'); } }),
      ], 10, {}, [{ retryScheduled: () => void (scheduled += 1) }]);
      await h.publishJson(spec.channel, { id: 1 });
      // Stopped once the broker holds the retry (not merely once the attempt began: a stop before the
      // retry is scheduled hands the message back instead, a fresh delivery for the next instance).
      await waitFor(() => scheduled >= 1, 'the retry to be scheduled');
      await failing.stop();
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, instance: 'second', backoff: backoff() })]);
      await waitFor(() => h.callsFor((c) => c.instance === 'second').length >= 1, 'the retry in the new instance', 30_000);
      const retried = h.callsFor((c) => c.instance === 'second');
      expect(retried[0]?.meta.retry.retryCount).toBe(1);
      expect(retried[0]?.meta.retry.lastErrorMessage).toBe('first attempt');
      expect(await staysQuiet(() => h.calls.length > 2, 500)).toBe(true);
    });

    scenario(adapter, '13 exception filter: an error class outside the backoff list is not retried', [], async (h) => {
      const spec = h.spec('exfilter');
      const backoff = anyBackoff(h, { maxRetries: 3, interval: 50, retryOn: [TransientError] });
      let callbacks = 0;
      await h.startService(spec.serviceName, [
        h.listenerRoute({ spec, backoff, handler: () => { throw new TypeError('not transient'); }, callback: () => { callbacks += 1; } }),
      ]);
      await h.publishJson(spec.channel, { id: 1 });
      await waitFor(() => callbacks === 1, 'the callback');
      expect(await staysQuiet(() => h.calls.length > 1 || callbacks > 1, 700)).toBe(true);
      expect(h.calls).toHaveLength(1);
    });

    scenario(adapter, '14 callback route: runs once with translated args and the error; its result is the outcome', [], async (h) => {
      const spec = h.spec('callback');
      const callbackArgs: unknown[][] = [];
      const translate = { translate: (args: readonly unknown[]) => [{ ...(args[0] as object), translated: true }] };
      const backoff = anyBackoff(h, { maxRetries: 2, interval: 50 });
      await h.startService(spec.serviceName, [
        h.listenerRoute({
          spec,
          backoff,
          translators: [translate],
          handler: () => { throw new TransientError('always'); },
          callback: (...args) => { callbackArgs.push(args); return 'compensated'; },
        }),
      ]);
      await h.publishJson(spec.channel, { id: 7 });
      await waitFor(() => callbackArgs.length >= 1, 'the callback');
      expect(await staysQuiet(() => callbackArgs.length > 1 || h.calls.length > 3, 700)).toBe(true);
      expect(h.calls).toHaveLength(3);
      expect(callbackArgs[0]?.[0]).toEqual({ id: 7, translated: true });
      expect(callbackArgs[0]?.[1]).toMatchObject({ name: 'TransientError', message: 'always' });
      // In a worker mode the error crosses from a worker, and keeps its class only if the service names
      // it (retryOn, workerErrorClasses); this route names none.
      if (!h.workerMode) expect(callbackArgs[0]?.[1]).toBeInstanceOf(TransientError);
      if (adapter.capabilities.deadLetter) expect(await adapter.readDeadLetters!(spec)).toHaveLength(0);
      if (adapter.capabilities.durable) await h.expectNothingLeft(spec);
    });

    scenario(adapter, '15 dead letter: exhausted retries without callback leave exactly one described copy', ['deadLetter'], async (h) => {
      const spec = h.spec('deadletter');
      const backoff = anyBackoff(h, { maxRetries: 2, interval: 50 });
      const started = Date.now();
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, backoff, handler: () => { throw new TransientError('gave up'); } })]);
      await h.publishJson(spec.channel, { id: 9 }, { headers: { trace: 'abc' } });
      const [dead] = await h.deadLetters(spec, 1);
      expect(await staysQuiet(() => h.calls.length > 3, 700)).toBe(true);
      expect(await adapter.readDeadLetters!(spec)).toHaveLength(1);
      expect(h.calls).toHaveLength(3);
      expect(JSON.parse(new TextDecoder().decode(dead!.body))).toEqual({ id: 9 });
      const headers = dead!.headers;
      expect(headers['trace']).toBe('abc');
      expect(headers[DeadLetterHeader.reason]).toBe('exhausted');
      expect(headers[DeadLetterHeader.originalChannel]).toContain(spec.channel);
      expect(headers[DeadLetterHeader.attempts]).toBe('3');
      expect(headers[DeadLetterHeader.errorName]).toBe('TransientError');
      expect(headers[DeadLetterHeader.errorMessage]).toBe('gave up');
      const first = Number(headers[DeadLetterHeader.firstFailureTime]);
      const last = Number(headers[DeadLetterHeader.lastFailureTime]);
      expect(first).toBeGreaterThanOrEqual(started);
      expect(last).toBeGreaterThanOrEqual(first);
      if (adapter.capabilities.durable) await h.expectNothingLeft(spec);
    });

    scenario(adapter, '16 poison message: invalid JSON is dead-lettered with reason decode, the rest flows', ['deadLetter'], async (h) => {
      const spec = h.spec('poison');
      await h.startService(spec.serviceName, [h.listenerRoute({ spec })]);
      await adapter.publish(spec.channel, { body: new TextEncoder().encode('{"unterminated": '), headers: { kind: 'bad' } });
      for (let i = 0; i < 10; i += 1) await h.publishJson(spec.channel, { i });
      await waitFor(() => h.calls.length >= 10, '10 good calls');
      const [dead] = await h.deadLetters(spec, 1);
      expect(dead?.headers[DeadLetterHeader.reason]).toBe('decode');
      expect(dead?.headers['kind']).toBe('bad');
      expect(new TextDecoder().decode(dead!.body)).toBe('{"unterminated": ');
      expect(await staysQuiet(() => h.calls.length > 10, 300)).toBe(true);
    });

    scenario(adapter, '17 non-retryable error: one call, then the dead letter', ['deadLetter'], async (h) => {
      const spec = h.spec('nonretry');
      const backoff = anyBackoff(h, { maxRetries: 5, interval: 50 });
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, backoff, handler: () => { throw new NonRetryableError('invalid order'); } })]);
      await h.publishJson(spec.channel, { id: 3 });
      const [dead] = await h.deadLetters(spec, 1);
      expect(dead?.headers[DeadLetterHeader.reason]).toBe('non-retryable');
      expect(dead?.headers[DeadLetterHeader.attempts]).toBe('1');
      expect(await staysQuiet(() => h.calls.length > 1, 500)).toBe(true);
    });
  });
}
