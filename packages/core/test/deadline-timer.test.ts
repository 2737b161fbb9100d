import { describe, expect, it } from 'vitest';
import { DeadlineTimer } from '../src/index.ts';

describe('DeadlineTimer', () => {
  it('fires for the earliest deadline scheduled, then for the next one expire returns', async () => {
    const fired: number[] = [];
    const start = performance.now();
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const deadlines = [start + 40, start + 10];
    const timer = new DeadlineTimer((now) => {
      fired.push(now);
      const left = deadlines.filter((due) => due > now).sort((a, b) => a - b);
      if (left.length === 0) done();
      return left[0];
    });
    for (const due of deadlines) timer.schedule(due);
    await finished;
    // Node's timers may fire a millisecond or two before performance.now() reaches the deadline; expire
    // then returns the same deadline again and the timer comes back a few ms later (never a busy loop).
    expect(fired[0]!).toBeGreaterThanOrEqual(start + 5);
    expect(fired[0]!).toBeLessThan(start + 40);
    expect(fired.at(-1)!).toBeGreaterThanOrEqual(start + 40);
    for (let i = 1; i < fired.length; i += 1) expect(fired[i]! - fired[i - 1]!).toBeGreaterThanOrEqual(2);
  });

  it('stops for good on clear(): what was scheduled never fires', async () => {
    let fired = 0;
    const timer = new DeadlineTimer(() => {
      fired += 1;
      return undefined;
    });
    timer.schedule(performance.now() + 5);
    timer.clear();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fired).toBe(0);
  });
});
