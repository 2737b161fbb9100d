import { afterEach, describe, expect, it, vi } from 'vitest';
import { PartitionCommits } from '../src/partition-commits.ts';
import { ContiguousOffsets, defaultGroupId, deadLetterTopicName, headersFromKafka, retryTopicName } from '../src/index.ts';

describe('ContiguousOffsets', () => {
  it('commits only past the contiguous prefix of finished offsets', () => {
    const offsets = new ContiguousOffsets();
    for (const offset of ['10', '11', '12', '13']) offsets.track(offset);
    expect(offsets.finish('11')).toBeUndefined();
    expect(offsets.finish('13')).toBeUndefined();
    expect(offsets.firstPending).toBe('10');
    expect(offsets.finish('10')).toBe('12');
    expect(offsets.firstPending).toBe('12');
    expect(offsets.finish('12')).toBe('14');
    expect(offsets.pendingCount).toBe(0);
  });

  it('keeps the prefix right over thousands of offsets finished out of order', () => {
    const offsets = new ContiguousOffsets();
    for (let offset = 0; offset < 5_000; offset += 1) offsets.track(String(offset));
    // Finish pairs in reverse order: each odd offset first (no advance), then its even one.
    for (let offset = 0; offset < 4_000; offset += 2) {
      expect(offsets.finish(String(offset + 1))).toBeUndefined();
      expect(offsets.finish(String(offset))).toBe(String(offset + 2));
    }
    expect(offsets.firstPending).toBe('4000');
    expect(offsets.pendingCount).toBe(1_000);
    expect(offsets.finish('4001')).toBeUndefined();
    expect(offsets.finish('4000')).toBe('4002');
  });

  it('finishes by position as by offset, past the dropped prefix, answering the last finished offset', () => {
    const byOffset = new ContiguousOffsets();
    const byPosition = new ContiguousOffsets();
    const positions: number[] = [];
    for (let offset = 100; offset < 5_100; offset += 1) {
      byOffset.track(String(offset));
      positions.push(byPosition.track(String(offset)));
    }
    expect(positions[0]).toBe(0);
    expect(positions[4_999]).toBe(4_999);
    // Pairs in reverse order, as above; the arrays are compacted along the way.
    for (let i = 0; i < 4_000; i += 2) {
      expect(byPosition.finishAt(positions[i + 1]!)).toBeUndefined();
      expect(byOffset.finish(String(100 + i + 1))).toBeUndefined();
      expect(byPosition.finishAt(positions[i]!)).toBe(String(100 + i + 1));
      expect(byOffset.finish(String(100 + i))).toBe(String(100 + i + 2));
    }
    // Already finished, or never handed out: nothing moves.
    expect(byPosition.finishAt(positions[10]!)).toBeUndefined();
    expect(byPosition.finishAt(9_999)).toBeUndefined();
    expect(byOffset.finish('110')).toBeUndefined();
    expect(byOffset.finish('99999')).toBeUndefined();
    expect(byPosition.firstPending).toBe('4100');
    expect(byOffset.firstPending).toBe('4100');
    expect(byPosition.pendingCount).toBe(1_000);
    expect(byPosition.track('5100')).toBe(5_000);
  });

  it('commits exactly past offsets beyond 2^53, where numbers lose precision', () => {
    const offsets = new ContiguousOffsets();
    for (const offset of ['999999999999999', '1000000000000000', '9007199254740992', '9007199254740993']) offsets.track(offset);
    expect(offsets.finish('999999999999999')).toBe('1000000000000000');
    expect(offsets.finish('1000000000000000')).toBe('1000000000000001');
    expect(offsets.finish('9007199254740992')).toBe('9007199254740993');
    expect(offsets.finish('9007199254740993')).toBe('9007199254740994');
  });
});

describe('PartitionCommits', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  /** A commit function that records offsets and answers when `answer()` is called. */
  function recorder() {
    const committed: string[] = [];
    const answers: Array<() => void> = [];
    const commit = (offset: string): Promise<void> => {
      committed.push(offset);
      return new Promise((resolve) => answers.push(resolve));
    };
    return { committed, commit, answer: () => answers.splice(0).forEach((resolve) => resolve()) };
  }

  it('coalesces the advances made while a commit is on its way into one commit of the latest', async () => {
    const { committed, commit, answer } = recorder();
    const commits = new PartitionCommits(commit);
    commits.advance('1');
    commits.advance('2');
    commits.advance('3');
    expect(committed).toEqual(['1']);
    answer();
    await vi.waitFor(() => expect(committed).toEqual(['1', '3']));
    answer();
    await commits.settled();
    expect(committed).toEqual(['1', '3']);
  });

  it('commits at most once per interval while records finish, the latest offset each time; settled() does not wait', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { committed, commit, answer } = recorder();
    const commits = new PartitionCommits(commit, 100);
    commits.advance('1');
    expect(committed).toEqual(['1']);
    answer();
    await vi.advanceTimersByTimeAsync(10);
    commits.advance('2');
    commits.advance('3');
    await vi.advanceTimersByTimeAsync(80);
    expect(committed).toEqual(['1']);
    await vi.advanceTimersByTimeAsync(10);
    expect(committed).toEqual(['1', '3']);
    // Asked while that commit is on its way: waits out the interval after it began.
    commits.advance('4');
    answer();
    await vi.advanceTimersByTimeAsync(50);
    expect(committed).toEqual(['1', '3']);
    commits.advance('5');
    const settled = commits.settled();
    await vi.advanceTimersByTimeAsync(0);
    expect(committed).toEqual(['1', '3', '5']);
    answer();
    await settled;
    // Nothing left over fires later.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(committed).toEqual(['1', '3', '5']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('commits when its timer fires, even a little before the interval by performance.now(), and goes on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let now = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const { committed, commit, answer } = recorder();
    const commits = new PartitionCommits(commit, 100);
    commits.advance('1');
    answer();
    await vi.advanceTimersByTimeAsync(0);
    now = 10;
    commits.advance('2');
    // The timer's clock and performance.now() disagree by half a millisecond.
    now = 99.5;
    await vi.advanceTimersByTimeAsync(89);
    expect(committed).toEqual(['1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(committed).toEqual(['1', '2']);
    answer();
    commits.advance('3');
    const settled = commits.settled();
    await vi.advanceTimersByTimeAsync(0);
    answer();
    await settled;
    expect(committed).toEqual(['1', '2', '3']);
  });
});

describe('names and headers', () => {
  it('name groups like RabbitMQ queues, and retry/dead-letter topics after the group', () => {
    const group = defaultGroupId('orders', 'billing', 'charge');
    expect(group).toBe('orders__billing.charge');
    expect(retryTopicName(group)).toBe('orders__billing.charge.retry');
    expect(deadLetterTopicName(group)).toBe('orders__billing.charge.dlt');
  });

  it('read Kafka headers as UTF-8 strings, last value of a repeated header', () => {
    expect(headersFromKafka({ a: Buffer.from('é'), b: 'x', c: [Buffer.from('1'), Buffer.from('2')], d: undefined })).toEqual({ a: 'é', b: 'x', c: '2' });
  });
});
