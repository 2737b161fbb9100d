import { describe, expect, it } from 'vitest';
import { checkGoals, goalsSection, type Goal } from '../src/goals.ts';
import { performanceGoals } from '../src/performance-goals.ts';
import { figure } from '../src/report.ts';

const rate = { broker: 'B', measure: 'consume+ack 50,000', unit: 'msg/s', settings: 's', higherIsBetter: true };
const latency = { broker: 'B', measure: 'RPC sequential p99', unit: 'ms', settings: 's', higherIsBetter: false };

describe('performance goals', () => {
  it('checks factors of raw and of the best peer, throughput and latency', () => {
    const goals: Goal[] = [
      { broker: /^B$/, measure: /consume/, label: 'consume', conditions: [{ kind: 'raw', factor: 1 }, { kind: 'best peer', factor: 1.2 }], prevents: 'why consume' },
      { broker: /^B$/, measure: /p99/, label: 'p99', conditions: [{ kind: 'raw', factor: 1.5 }, { kind: 'best peer', factor: 1 }], prevents: 'why p99' },
    ];
    const figures = [
      figure({ ...rate, contestant: 'client (raw)' }, [100]),
      figure({ ...rate, contestant: '@micro-framework/x' }, [110]),
      figure({ ...rate, contestant: 'Peer A' }, [100]),
      figure({ ...rate, contestant: 'Peer B' }, [50]),
      figure({ ...latency, contestant: 'client (raw)' }, [2]),
      figure({ ...latency, contestant: '@micro-framework/x' }, [2]),
      figure({ ...latency, contestant: 'Peer A' }, [2]),
      figure({ ...latency, contestant: 'Peer B' }, [5]),
    ];
    const [consume, p99] = checkGoals(goals, figures);
    expect(consume?.conditions.map((c) => [c.needed, c.met, c.reference?.contestant])).toEqual([
      [100, true, 'client (raw)'],
      [120, false, 'Peer A'],
    ]);
    expect(consume?.conditions[1]?.share).toBeCloseTo(110 / 120);
    // Latency: the lowest peer is the best; "below every peer" is strict, so a tie is not met.
    expect(p99?.conditions.map((c) => [c.needed, c.met, c.reference?.contestant])).toEqual([
      [3, true, 'client (raw)'],
      [2, false, 'Peer A'],
    ]);
    const section = goalsSection([consume!, p99!]).join('\n');
    expect(section).toContain('| consume | ≥ 1.2× the best peer (Peer A 100, 100–100): ≥ 120 | 110 msg/s (110–110) | 92 % | no |');
    expect(section).toContain('| p99 | below the best peer (Peer A 2.00, 2.00–2.00): < 2.00 | 2.00 ms (2.00–2.00) | 100 % | no |');
    expect(section).toContain('- **consume**: why consume');
  });

  it('bounds memory absolutely and says what a run did not measure', () => {
    const memory = { broker: 'B', measure: 'peak RSS draining 200,000 (1 ms target, maxWorkers 100)', unit: 'MiB', settings: 's', higherIsBetter: false };
    const goals: Goal[] = [
      { broker: /^B$/, measure: /^peak RSS(?!.*semi-space)/, label: 'memory', conditions: [{ kind: 'at most', value: 200 }], prevents: 'why memory' },
      { broker: /^B$/, measure: /consume/, label: 'peers', conditions: [{ kind: 'best peer', factor: 1 }], prevents: 'why peers' },
      { broker: /^C$/, measure: /consume/, label: 'other broker', conditions: [{ kind: 'raw', factor: 1 }], prevents: '' },
    ];
    const figures = [
      figure({ ...memory, contestant: '@micro-framework (ours)' }, [250]),
      figure({ ...memory, measure: `${memory.measure.slice(0, -1)}, --max-semi-space-size=16)`, contestant: '@micro-framework (ours)' }, [150]),
      figure({ ...rate, contestant: '@micro-framework/x' }, [100]),
    ];
    const [bound, peers, other] = checkGoals(goals, figures);
    expect(bound?.conditions.map((c) => [c.ours, c.met, c.share])).toEqual([[250, false, 0.8]]);
    expect(peers?.missing).toMatch(/no peer figure/);
    expect(other?.missing).toBe('not measured in this run');
    expect(goalsSection([bound!, peers!, other!]).join('\n')).toContain('| other broker | – | not measured in this run | – | – |');
  });

  it('finds exactly one of our figures for each goal of issue #16 in the shape of a full run', () => {
    const brokers = ['RabbitMQ', 'NATS JetStream (RPC: NATS core)', 'Kafka'];
    const measures = [
      { measure: 'consume+ack 50,000', higherIsBetter: true },
      { measure: 'RPC sequential p99', higherIsBetter: false },
      { measure: 'RPC 64 in flight', higherIsBetter: true },
      { measure: 'peak RSS draining 200,000 (1 ms target, maxWorkers 100)', higherIsBetter: false },
      { measure: 'peak RSS draining 200,000 (1 ms target, maxWorkers 100, --max-semi-space-size=16)', higherIsBetter: false },
    ];
    const figures = brokers.flatMap((broker) =>
      measures.flatMap(({ measure, higherIsBetter }) =>
        ['client (raw)', '@micro-framework/y', 'Peer'].map((contestant) => figure({ broker, measure, unit: 'u', settings: 's', higherIsBetter, contestant }, [1])),
      ),
    );
    for (const goal of performanceGoals) {
      const ours = figures.filter((f) => goal.broker.test(f.broker) && goal.measure.test(f.measure) && f.contestant.startsWith('@micro-framework'));
      expect(ours.map((f) => f.measure), goal.label).toHaveLength(1);
      expect(goal.prevents.length, goal.label).toBeGreaterThan(0);
    }
    expect(performanceGoals).toHaveLength(7);
  });
});
