import { describe, expect, it } from 'vitest';
import { addRatios, figure, markdown, shortfalls } from '../src/report.ts';
import { percentile, summarize } from '../src/stats.ts';

describe('bench statistics', () => {
  it('summarizes medians and ranges, and nearest-rank percentiles', () => {
    expect(summarize([3, 1, 2])).toMatchObject({ median: 2, min: 1, max: 3 });
    expect(summarize([4, 1, 2, 3]).median).toBe(2.5);
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 99)).toBe(99);
    expect(() => summarize([])).toThrow(RangeError);
  });

  it('computes ratios to the raw client and names shortfalls', () => {
    const base = { broker: 'B', measure: 'consume', unit: 'msg/s', settings: 's', higherIsBetter: true };
    const figures = [figure({ ...base, contestant: 'client (raw)' }, [100]), figure({ ...base, contestant: 'ours' }, [80])];
    addRatios(figures);
    expect(figures[1]?.ratioToRaw).toBeCloseTo(0.8);
    expect(shortfalls(figures).map((f) => f.contestant)).toEqual(['ours']);
    expect(markdown(figures, { machine: 'm' }, ['n'])).toContain('| B | consume (msg/s) | ours | 80.00 | 80.00–80.00 | 0.80× | s |');
  });
});
