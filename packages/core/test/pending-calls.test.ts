import { describe, expect, it } from 'vitest';
import { ExtensionIsStopped, PendingCalls, RpcTimeout } from '../src/index.ts';

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
});
