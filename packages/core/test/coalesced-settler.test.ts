import { describe, expect, it } from 'vitest';
import { CoalescedSettler } from '../src/coalesced-settler.ts';

describe('CoalescedSettler', () => {
  it('runs the actions of one event-loop turn together, in order, after that turn', async () => {
    const settler = new CoalescedSettler();
    const acked: number[] = [];
    for (const id of [1, 2, 3]) settler.defer(() => acked.push(id));
    expect(acked).toEqual([]);
    expect(settler.pending).toBe(3);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(acked).toEqual([1, 2, 3]);
    expect(settler.pending).toBe(0);
  });

  it('flush() runs what is pending at once, and an action that throws does not stop the others', () => {
    const settler = new CoalescedSettler();
    const acked: string[] = [];
    settler.defer(() => acked.push('a'));
    settler.defer(() => {
      throw new Error('channel closed');
    });
    settler.defer(() => acked.push('c'));
    settler.flush();
    expect(acked).toEqual(['a', 'c']);
    settler.flush();
    expect(acked).toEqual(['a', 'c']);
  });
});
