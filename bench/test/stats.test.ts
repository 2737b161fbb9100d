import { describe, expect, it } from 'vitest';
import { explainPeerLead } from '../src/limits.ts';
import { addRatios, behindPeers, figure, markdown, shortfalls } from '../src/report.ts';
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
    const figures = [figure({ ...base, contestant: 'client (raw)' }, [100]), figure({ ...base, contestant: '@micro-framework/x' }, [80]), figure({ ...base, contestant: 'Peer' }, [70])];
    addRatios(figures);
    expect(figures[1]?.ratioToRaw).toBeCloseTo(0.8);
    expect(shortfalls(figures).map((f) => f.contestant)).toEqual(['@micro-framework/x']);
    expect(markdown(figures, { machine: 'm' }, ['n'])).toContain('| B | consume (msg/s) | @micro-framework/x | 80.00 | 80.00–80.00 | 0.80× | s |');
  });

  it('names every peer framework ahead of ours, for throughput and for latency', () => {
    const rate = { broker: 'B', measure: 'consume', unit: 'msg/s', settings: 's', higherIsBetter: true };
    const latency = { broker: 'B', measure: 'p50', unit: 'ms', settings: 's', higherIsBetter: false };
    const figures = [
      figure({ ...rate, contestant: 'client (raw)' }, [200]),
      figure({ ...rate, contestant: '@micro-framework/x' }, [100]),
      figure({ ...rate, contestant: 'Peer A' }, [150]),
      figure({ ...rate, contestant: 'Peer B' }, [90]),
      figure({ ...latency, contestant: '@micro-framework/x' }, [2]),
      figure({ ...latency, contestant: 'Peer A' }, [3]),
      figure({ ...latency, contestant: 'Peer B' }, [1]),
    ];
    expect(behindPeers(figures).map(({ ours, peer }) => `${ours.measure}: ${peer.contestant}`)).toEqual(['consume: Peer A', 'p50: Peer B']);
  });

  it('says when a peer lead is within the spread of the rounds', () => {
    const rate = { broker: 'Kafka', measure: 'RPC sequential p99', unit: 'ms', settings: 's', higherIsBetter: false };
    const ours = figure({ ...rate, contestant: '@micro-framework/kafka' }, [4, 5, 7]);
    expect(explainPeerLead({ ours, peer: figure({ ...rate, contestant: 'Peer' }, [3.5, 3.7, 5.4]) })).toContain('within the spread');
    expect(explainPeerLead({ ours, peer: figure({ ...rate, contestant: 'Peer' }, [1, 2, 3]) })).not.toContain('within the spread');
  });
});
