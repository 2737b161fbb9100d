import { describe, expect, it } from 'vitest';
import {
  Backoff,
  DecodeError,
  Worker,
  constantInterval,
  createMeta,
  exponentialInterval,
  linearInterval,
  mergeConfig,
  type RetryState,
} from '../src/index.ts';

const config = mergeConfig({ serviceName: 'unit' });
function failed(error: Error, retry: RetryState = { retryCount: 0 }): Worker {
  const worker = new Worker({ target: () => undefined, config, args: [], meta: createMeta({ retry }) });
  worker.exception = error;
  worker.finished = true;
  worker.finishedAt = 1_000;
  return worker;
}

describe('Backoff', () => {
  it('allows maxRetries retries, and none with maxRetries 0 (not unlimited)', () => {
    const backoff = new Backoff({ maxRetries: 2 });
    expect(backoff.canRetry(failed(new Error('x'), { retryCount: 0 }))).toBe(true);
    expect(backoff.canRetry(failed(new Error('x'), { retryCount: 1 }))).toBe(true);
    expect(backoff.canRetry(failed(new Error('x'), { retryCount: 2 }))).toBe(false);
    expect(new Backoff({ maxRetries: 0 }).canRetry(failed(new Error('x')))).toBe(false);
    expect(new Backoff({ maxRetries: Infinity }).canRetry(failed(new Error('x'), { retryCount: 1e6 }))).toBe(true);
  });

  it('never retries a successful worker or a decode error', () => {
    const ok = new Worker({ target: () => 1, config, args: [], meta: createMeta() });
    expect(new Backoff().canRetry(ok)).toBe(false);
    expect(new Backoff().canRetry(failed(new DecodeError('bad')))).toBe(false);
  });

  it('filters errors by class list or predicate', () => {
    class Transient extends Error {}
    expect(new Backoff({ retryOn: [Transient] }).canRetry(failed(new Transient()))).toBe(true);
    expect(new Backoff({ retryOn: [Transient] }).canRetry(failed(new Error()))).toBe(false);
    expect(new Backoff({ retryOn: (e) => e.message === 'again' }).canRetry(failed(new Error('again')))).toBe(true);
  });

  it('rejects invalid maxRetries', () => {
    expect(() => new Backoff({ maxRetries: -1 })).toThrow(RangeError);
    expect(() => new Backoff({ maxRetries: 1.5 })).toThrow(RangeError);
  });

  it('builds the next retry state from the failed worker', () => {
    const state = new Backoff().nextRetryState(failed(new TypeError('boom'), { retryCount: 1, firstErrorTime: 500 }), 2_000);
    expect(state).toEqual({ retryCount: 2, firstErrorTime: 500, lastRetryTime: 2_000, lastErrorName: 'TypeError', lastErrorMessage: 'boom' });
    expect(new Backoff().nextRetryState(failed(new Error('first')), 2_000).firstErrorTime).toBe(1_000);
  });

  it('takes the interval in milliseconds from a number or a provider given the retry state', () => {
    expect(new Backoff({ interval: 250 }).getInterval(failed(new Error()))).toBe(250);
    const byCount = new Backoff({ interval: ({ retryCount }) => (retryCount + 1) * 100 });
    expect(byCount.getInterval(failed(new Error(), { retryCount: 2 }))).toBe(300);
  });
});

describe('interval providers', () => {
  it('constant', () => {
    expect(constantInterval(5)({ retryCount: 9 })).toBe(5);
    expect(() => constantInterval(-1)).toThrow(RangeError);
  });

  it('linear grows by the increment up to max', () => {
    const linear = linearInterval({ startMs: 100, incrementMs: 50, maxMs: 180 });
    expect([0, 1, 2, 3].map((retryCount) => linear({ retryCount }))).toEqual([100, 150, 180, 180]);
  });

  it('exponential doubles up to the cap and jitter only shortens', () => {
    const exponential = exponentialInterval({ initialMs: 100, maxMs: 1_000 });
    expect([0, 1, 2, 3, 4].map((retryCount) => exponential({ retryCount }))).toEqual([100, 200, 400, 800, 1_000]);
    const jittered = exponentialInterval({ initialMs: 1_000, jitter: 0.5, random: () => 1 });
    expect(jittered({ retryCount: 0 })).toBe(500);
    expect(exponentialInterval({ initialMs: 1_000, jitter: 0.5, random: () => 0 })({ retryCount: 0 })).toBe(1_000);
    expect(() => exponentialInterval({ initialMs: 1, jitter: 2 })).toThrow(RangeError);
  });
});
