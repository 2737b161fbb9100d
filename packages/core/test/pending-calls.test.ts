import { describe, expect, it } from 'vitest';
import { ConfigurationError, ExtensionIsStopped, PendingCalls, RpcTimeout } from '../src/index.ts';

describe('PendingCalls', () => {
  it('ends a call once: with its reply, and ignores a second reply for the same id', async () => {
    const pending = new PendingCalls();
    const reply = pending.wait('a', 'svc', 'x', 5_000);
    expect(pending.get('a')).toMatchObject({ service: 'svc', target: 'x' });
    expect(pending.settle('a', () => 42)).toBe(true);
    expect(pending.settle('a', () => 43)).toBe(false);
    await expect(reply).resolves.toBe(42);
    expect(pending.get('a')).toBeUndefined();
  });

  it('rejects with what the outcome throws or rejects with, and with RpcTimeout at the deadline', async () => {
    const pending = new PendingCalls();
    const thrown = pending.wait('a', 'svc', 'x', 5_000);
    pending.settle('a', () => {
      throw new Error('bad reply');
    });
    await expect(thrown).rejects.toThrow('bad reply');
    const rejected = pending.wait('b', 'svc', 'x', 5_000);
    pending.settle('b', async () => Promise.reject(new Error('not found')));
    await expect(rejected).rejects.toThrow('not found');
    const late = pending.wait('c', 'svc', 'slow', 20);
    await expect(late).rejects.toBeInstanceOf(RpcTimeout);
    expect(pending.settle('c', () => 1)).toBe(false);
  });

  it('rejectAll ends every waiting call with the closing error', async () => {
    const pending = new PendingCalls();
    const calls = [pending.wait('a', 's', 'x', 5_000), pending.wait('b', 's', 'y', 5_000)];
    pending.rejectAll(new ExtensionIsStopped('client'));
    for (const call of calls) await expect(call).rejects.toBeInstanceOf(ExtensionIsStopped);
    expect(pending.reject('a', new Error('again'))).toBe(false);
  });

  it('ends each call at its own deadline whatever order they were made in, and keeps waiting calls alive', async () => {
    const pending = new PendingCalls();
    const ended: string[] = [];
    const watch = (id: string, timeoutMs: number): Promise<unknown> => pending.wait(id, 's', id, timeoutMs).catch((error: unknown) => {
      expect(error).toBeInstanceOf(RpcTimeout);
      ended.push(id);
    });
    // In order first (one timeout for all), then a shorter one made later, then a longer one.
    const calls = [watch('a', 40), watch('b', 40), watch('c', 80), watch('short', 10), watch('long', 5_000)];
    await Promise.all(calls.slice(0, 4));
    expect(ended).toEqual(['short', 'a', 'b', 'c']);
    expect(pending.size).toBe(1);
    expect(pending.settle('long', () => 'reply')).toBe(true);
    await expect(calls[4]).resolves.toBe('reply');
    expect(pending.size).toBe(0);
  });

  it('waits out a timeout longer than a timer can hold (2^31 - 1 ms) instead of ending at once', async () => {
    const pending = new PendingCalls();
    let ended = false;
    const call = pending.wait('a', 's', 'x', 2 ** 31 + 1_000).catch(() => (ended = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ended).toBe(false);
    pending.rejectAll(new ExtensionIsStopped('client'));
    await call;
    expect(ended).toBe(true);
  });

  it('ends a thousand calls made at once with one timeout, each once', async () => {
    const pending = new PendingCalls();
    const outcomes = await Promise.allSettled(Array.from({ length: 1_000 }, (_, i) => pending.wait(String(i), 's', 'x', 20)));
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof RpcTimeout)).toBe(true);
    expect(pending.size).toBe(0);
  });

  it('refuses a timeout that is not a finite number >= 0 at once, rather than never ending the call', () => {
    const pending = new PendingCalls();
    for (const timeoutMs of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
      expect(() => pending.wait('a', 's', 'x', timeoutMs)).toThrow(ConfigurationError);
    }
    expect(pending.size).toBe(0);
  });
});
