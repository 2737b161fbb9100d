import { describe, expect, it, vi } from 'vitest';
import type { FailureContestant } from '../src/case.ts';
import { IncompleteFailureRun, timeFailureRun } from '../src/failure-cost.ts';
import { FailureLedger, PlannedFailure, failsFirstTime } from '../src/failure-ledger.ts';
import { LatencyHistogram } from '../src/latency-histogram.ts';
import { pendingSet } from '../src/pending.ts';
import { RateSchedule } from '../src/rate-schedule.ts';
import { addRatios, figure, isFailureCost, markdown } from '../src/report.ts';
import { rssTrend, slope } from '../src/rss-trend.ts';
import type { SustainedResult } from '../src/sustained.ts';

describe('RateSchedule', () => {
  it('makes message n due at start + n / rate, by absolute time', () => {
    const schedule = new RateSchedule({ ratePerSecond: 1_000, startMs: 10_000 });
    expect(schedule.dueBy(9_999)).toBe(0);
    expect(schedule.dueBy(10_000)).toBe(1);
    expect(schedule.dueBy(10_000.999)).toBe(1);
    expect(schedule.dueBy(10_001)).toBe(2);
    expect(schedule.dueBy(11_000)).toBe(1_001);
    expect(schedule.take(10_000)).toBe(1);
    expect(schedule.nextDueMs()).toBe(10_001);
  });

  it('keeps the rate over many ticks whatever their spacing, since each take counts from the start', () => {
    const schedule = new RateSchedule({ ratePerSecond: 700, startMs: 0 });
    // Ticks at irregular times (a timer firing late or early) still add up to the same total.
    let now = 0;
    const jitter = [0.3, 1.7, 0.9, 2.4, 1.1];
    for (let i = 0; now < 10_000; i += 1) {
      schedule.take(now);
      now += jitter[i % jitter.length]!;
    }
    schedule.take(9_999.999);
    expect(schedule.sent).toBe(schedule.dueBy(9_999.999));
    expect(schedule.sent).toBe(7_000);
    expect(schedule.maxBacklog).toBe(0);
  });

  it('catches up at most maxBatch at a time after a stall, and records the backlog', () => {
    const schedule = new RateSchedule({ ratePerSecond: 10_000, startMs: 0 });
    expect(schedule.maxBatch).toBe(50);
    expect(schedule.take(0)).toBe(1);
    // A 100 ms stall: 1,000 messages due, only 50 go at once.
    expect(schedule.take(100)).toBe(50);
    expect(schedule.backlog(100)).toBe(1_001 - 51);
    expect(schedule.maxBacklog).toBe(950);
    expect(schedule.maxLagMs()).toBe(95);
    // The next one is already due: the publisher does not wait while behind.
    expect(schedule.nextDueMs()).toBeLessThan(100);
  });

  it('refuses a rate that is not a positive number', () => {
    expect(() => new RateSchedule({ ratePerSecond: 0, startMs: 0 })).toThrow(RangeError);
    expect(() => new RateSchedule({ ratePerSecond: Number.NaN, startMs: 0 })).toThrow(RangeError);
  });
});

describe('rssTrend', () => {
  const mib = 2 ** 20;
  const samples = (values: number[], everyMs = 5_000) => values.map((v, i) => ({ atMs: i * everyMs, rss: v * mib }));

  it('fits a least-squares slope', () => {
    expect(slope([[0, 1], [1, 3], [2, 5]])).toBeCloseTo(2);
    expect(slope([[0, 1]])).toBe(0);
    expect(slope([[1, 1], [1, 5]])).toBe(0);
  });

  it('reports start, min, max and end, and no growth when the second half is flat', () => {
    // Warm-up growth in the first half, then a plateau with GC noise.
    const trend = rssTrend(samples([100, 130, 150, 160, 158, 162, 157, 161, 159, 160]));
    expect(trend).toMatchObject({ samples: 10, startMiB: 100, minMiB: 100, maxMiB: 162, endMiB: 160, grows: false });
    expect(Math.abs(trend.secondHalfSlopeMiBPerMinute)).toBeLessThan(5);
    expect(trend.secondHalfRise).toBeLessThan(0.05);
  });

  it('flags a second half that keeps rising', () => {
    const trend = rssTrend(samples([100, 110, 120, 130, 140, 150, 160, 170, 180, 190]));
    // 10 MiB per 5 s sample = 120 MiB/min.
    expect(trend.secondHalfSlopeMiBPerMinute).toBeCloseTo(120);
    expect(trend.grows).toBe(true);
  });

  it('takes one sample, and refuses none', () => {
    expect(rssTrend(samples([42]))).toMatchObject({ startMiB: 42, endMiB: 42, secondHalfSlopeMiBPerMinute: 0, grows: false });
    expect(() => rssTrend([])).toThrow(RangeError);
  });
});

describe('LatencyHistogram', () => {
  it('gives nearest-rank percentiles within 1 %', () => {
    const histogram = new LatencyHistogram();
    for (let i = 1; i <= 10_000; i += 1) histogram.record(i / 100);
    expect(histogram.count).toBe(10_000);
    expect(histogram.percentile(50)).toBeGreaterThanOrEqual(50);
    expect(histogram.percentile(50)).toBeLessThanOrEqual(50 * 1.01);
    expect(histogram.percentile(99.9)).toBeGreaterThanOrEqual(99.9);
    expect(histogram.percentile(99.9)).toBeLessThanOrEqual(99.9 * 1.01);
    expect(histogram.percentile(100)).toBe(100);
  });

  it('counts negative values (clocks disagreeing) in the first bucket', () => {
    const histogram = new LatencyHistogram();
    histogram.record(-0.5);
    histogram.record(2);
    expect(histogram.negatives).toBe(1);
    expect(histogram.percentile(50)).toBeLessThanOrEqual(0.001);
    expect(() => new LatencyHistogram().percentile(50)).toThrow(RangeError);
  });
});

describe('FailureLedger', () => {
  it('fails every 100th id on its first attempt only, and resolves once every id was handled', async () => {
    const ledger = new FailureLedger(250);
    expect(ledger.expectedFailures).toBe(3);
    expect([0, 100, 200, 1, 99].map(failsFirstTime)).toEqual([true, true, true, false, false]);
    for (let id = 0; id < 250; id += 1) {
      if (failsFirstTime(id)) expect(() => ledger.attempt(id)).toThrow(PlannedFailure);
      else ledger.attempt(id);
    }
    expect(ledger.distinct).toBe(247);
    expect(ledger.missing()).toEqual([0, 100, 200]);
    let done = false;
    void ledger.done.then(() => (done = true));
    for (const id of [0, 100, 200]) ledger.attempt(id);
    await ledger.done;
    expect(done).toBe(true);
    expect(ledger).toMatchObject({ distinct: 250, failures: 3, duplicates: 0 });
  });

  it('counts a success handled twice as a duplicate and an unknown id as a stray', () => {
    const ledger = new FailureLedger(10, () => false);
    ledger.attempt(3);
    ledger.attempt(3);
    ledger.attempt(42);
    ledger.attempt(-1);
    expect(ledger).toMatchObject({ distinct: 1, duplicates: 1, strays: 2 });
  });
});

describe('pendingSet', () => {
  it('settles once every tracked promise did, keeping only those in flight', async () => {
    const pending = pendingSet();
    let release!: () => void;
    pending.add(new Promise<void>((resolve) => (release = resolve)));
    pending.add(Promise.resolve());
    await Promise.resolve();
    await Promise.resolve();
    expect(pending.size).toBe(1);
    let settled = false;
    const settling = pending.settle().then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    release();
    await settling;
    expect(pending.size).toBe(0);
  });

  it('rejects with the first failure', async () => {
    const pending = pendingSet();
    pending.add(Promise.reject(new Error('first')));
    pending.add(Promise.reject(new Error('second')));
    await expect(pending.settle()).rejects.toThrow('first');
  });
});

describe('results sections', () => {
  it('puts the failure-cost figures and the sustained results in sections of their own', () => {
    const failure = { broker: 'B', measure: 'failure cost 5,000, 1 % fail once', unit: 's', settings: 's', higherIsBetter: false };
    const figures = [
      figure({ broker: 'B', measure: 'consume', unit: 'msg/s', settings: 's', higherIsBetter: true, contestant: 'client (raw)' }, [100]),
      figure({ ...failure, contestant: 'client (raw)' }, [1]),
      figure({ ...failure, contestant: '@micro-framework/x' }, [1.5]),
    ];
    addRatios(figures);
    expect(isFailureCost(figures[1]!)).toBe(true);
    const rss = rssTrend([{ atMs: 0, rss: 100 * 2 ** 20 }, { atMs: 5_000, rss: 101 * 2 ** 20 }]);
    const sustained: SustainedResult = {
      broker: 'B', contestant: '@micro-framework (ours)', settings: 'set', seconds: 20, targetRate: 1_000, rateSource: 'configured', published: 20_000,
      achievedRate: 999.9, maxLagMs: 250, behind: true, received: 20_000, duplicates: 0, catchUpMs: 40,
      latency: { count: 20_000, p50: 1.5, p99: 4, p999: 9, max: 12, negatives: 0 }, rss, rssSamples: [[0, 100], [5, 101]],
    };
    const text = markdown(figures, { machine: 'm' }, [], [sustained]);
    const [main, rest] = text.split('## Failure cost');
    expect(main).toContain('| B | consume (msg/s) | client (raw) |');
    expect(main).not.toContain('failure cost');
    expect(rest).toContain('| B | failure cost 5,000, 1 % fail once (s) | @micro-framework/x | 1.50 | 1.50–1.50 | 1.50× | s |');
    expect(rest).toContain('## Sustained load');
    expect(rest).toContain('| B | 1,000 (configured) | 1,000 (behind schedule, up to 250 ms) | 20,000 in 20 s | 1.50 / 4.00 / 9.00 / 12.00 | 0.04 | 100 / 100 / 101 / 101 |');
    expect(rest).toContain('- B: 0: 100, 5: 101');
  });
});

describe('timeFailureRun', () => {
  /** A contestant handling ids 0..count-1 once each, retrying a failure only when `retries` says so. */
  const contestant = (count: number, retries: boolean): FailureContestant => ({
    name: retries ? 'retrying' : 'dropping',
    settings: '',
    async start(_channel, ledger) {
      for (let id = 0; id < count; id += 1) {
        try {
          ledger.attempt(id);
        } catch (error) {
          if (!(error instanceof PlannedFailure)) throw error;
          if (retries) ledger.attempt(id);
        }
      }
      return { stop: async () => undefined };
    },
  });

  it('times a contestant until every id was handled', async () => {
    const run = await timeFailureRun(contestant(500, true), 'c', 500, 60_000);
    expect(run).toMatchObject({ failures: 5, duplicates: 0, strays: 0 });
  });

  it('fails a contestant that lost a message, naming the ids it never handled', async () => {
    vi.useFakeTimers();
    try {
      const running = timeFailureRun(contestant(500, false), 'c', 500, 1_000);
      const failed = expect(running).rejects.toThrow(/dropping: 495 of 500 distinct ids handled after 1 s .*first ones: 0, 100, 200, 300, 400/);
      await vi.advanceTimersByTimeAsync(1_000);
      await failed;
      await expect(running).rejects.toBeInstanceOf(IncompleteFailureRun);
    } finally {
      vi.useRealTimers();
    }
  });
});
