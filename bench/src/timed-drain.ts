import type { DrainContestant } from './case.ts';
import { Counter } from './counter.ts';

/**
 * A drain contestant whose `start` brings up a service that hits the counter once per message; the
 * time runs from before the start until the last message, then the service stops.
 */
export function timedDrain(name: string, settings: string, start: (counter: Counter) => Promise<{ stop(): Promise<unknown> }>): DrainContestant {
  return {
    name,
    settings,
    async drain(count) {
      const started = performance.now();
      const counter = new Counter(count);
      const service = await start(counter);
      await counter.done;
      const elapsed = performance.now() - started;
      await service.stop();
      return elapsed;
    },
  };
}
