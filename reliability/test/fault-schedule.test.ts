import { describe, expect, it } from 'vitest';
import { fullFaults, scheduleFaults, shortFaults, type Fault } from '../src/fault-schedule.ts';
import { Prng } from '../src/prng.ts';

const lasts = (fault: Fault): number => (fault.kind === 'cut' ? fault.durationMs : fault.kind === 'kill' ? fault.downMs : 0);

describe('fault schedule', () => {
  it('is the same for the same seed and differs for another', () => {
    const a = scheduleFaults(new Prng(42), { faults: fullFaults, publishMs: 60_000 });
    expect(scheduleFaults(new Prng(42), { faults: fullFaults, publishMs: 60_000 })).toEqual(a);
    expect(scheduleFaults(new Prng(43), { faults: fullFaults, publishMs: 60_000 })).not.toEqual(a);
  });

  it('holds every fault once, in time order, never overlapping', () => {
    for (let seed = 0; seed < 200; seed += 1) {
      for (const faults of [fullFaults, shortFaults]) {
        const schedule = scheduleFaults(new Prng(seed), { faults, publishMs: 25_000 });
        expect(schedule.map((f) => f.kind).sort()).toEqual([...faults].sort());
        schedule.slice(1).forEach((fault, i) => expect(fault.atMs).toBeGreaterThanOrEqual(schedule[i]!.atMs + lasts(schedule[i]!) + 3_000));
      }
    }
  });

  it('cuts for 10 s and restarts a killed consumer within 0.5–2 s', () => {
    const schedule = scheduleFaults(new Prng(7), { faults: fullFaults, publishMs: 60_000 });
    expect(schedule.find((f) => f.kind === 'cut')).toMatchObject({ durationMs: 10_000 });
    for (const kill of schedule.filter((f) => f.kind === 'kill')) {
      expect(kill.downMs).toBeGreaterThanOrEqual(500);
      expect(kill.downMs).toBeLessThan(2_000);
    }
  });
});
