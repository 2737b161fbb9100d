import type { Prng } from './prng.ts';

/**
 * One fault of a run:
 * - `kill`: SIGKILL of the consumer process, started again after `downMs`;
 * - `restart-broker`: the broker stops and starts again;
 * - `cut`: the network between the service and the broker is cut for `durationMs` (TCP proxy);
 * - `graceful`: the consumer is stopped with SIGTERM (its runner drains) and started again.
 */
export type Fault =
  | { readonly kind: 'kill'; readonly atMs: number; readonly downMs: number }
  | { readonly kind: 'restart-broker'; readonly atMs: number }
  | { readonly kind: 'cut'; readonly atMs: number; readonly durationMs: number }
  | { readonly kind: 'graceful'; readonly atMs: number };

export type FaultKind = Fault['kind'];

/** The full run's faults (issue #13) and the short run's (CI). */
export const fullFaults: readonly FaultKind[] = ['kill', 'kill', 'restart-broker', 'restart-broker', 'cut', 'graceful'];
export const shortFaults: readonly FaultKind[] = ['kill', 'restart-broker', 'cut'];

export interface ScheduleOptions {
  readonly faults: readonly FaultKind[];
  /** How long publishing is planned to last; faults fall inside it where they fit. */
  readonly publishMs: number;
  /** Length of the network cut; default 10 s. */
  readonly cutMs?: number;
  /** Least quiet time between the expected end of one fault and the next; default 3 s. */
  readonly minGapMs?: number;
}

/** Roughly how long a fault lasts (restarts included): used only to space the schedule. */
function expectedMs(fault: Fault): number {
  switch (fault.kind) {
    case 'kill':
      return fault.downMs + 2_000;
    case 'restart-broker':
      return 3_000;
    case 'cut':
      return fault.durationMs;
    case 'graceful':
      return 5_000;
  }
}

/**
 * Draws the order of the faults and their start times (ms after publishing began) from the PRNG.
 * Faults never overlap: each starts at least `minGapMs` after the previous one is expected to end,
 * and the slack left in the publishing window is spread at random between them. If they do not fit
 * in the window they run back to back past its end (while the backlog drains).
 */
export function scheduleFaults(prng: Prng, options: ScheduleOptions): Fault[] {
  const cutMs = options.cutMs ?? 10_000;
  const minGapMs = options.minGapMs ?? 3_000;
  const drafts: Fault[] = prng.shuffle(options.faults).map((kind) => {
    switch (kind) {
      case 'kill':
        return { kind, atMs: 0, downMs: Math.round(prng.between(500, 2_000)) };
      case 'cut':
        return { kind, atMs: 0, durationMs: cutMs };
      default:
        return { kind, atMs: 0 };
    }
  });
  const start = Math.round(options.publishMs * 0.05);
  const needed = drafts.reduce((sum, fault) => sum + expectedMs(fault) + minGapMs, 0);
  const slack = Math.max(0, options.publishMs - start - needed);
  const weights = drafts.map(() => prng.next());
  const total = weights.reduce((sum, w) => sum + w, 0) || 1;
  let at = start;
  return drafts.map((fault, index) => {
    at += Math.round((slack * weights[index]!) / total);
    const placed = { ...fault, atMs: at };
    at += expectedMs(fault) + minGapMs;
    return placed;
  });
}

/** A fault in words, for the progress log and the results. */
export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case 'kill':
      return `SIGKILL the consumer, restart it ${fault.downMs} ms later`;
    case 'restart-broker':
      return 'restart the broker';
    case 'cut':
      return `cut the network for ${fault.durationMs / 1_000} s`;
    case 'graceful':
      return 'stop the consumer gracefully (SIGTERM) and start it again';
  }
}
