import { maxDelayMs } from './abortable-delay.ts';
import type { RetryState } from './meta.ts';

/** Gives the wait in milliseconds before the next retry; receives the retry state of the failed attempt. */
export type IntervalProvider = (state: RetryState) => number;

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
  return value;
}

/** The same wait before every retry. */
export function constantInterval(ms: number): IntervalProvider {
  nonNegative('interval', ms);
  return () => ms;
}

/** start, start + increment, start + 2 × increment... never more than max (default: the longest timer, about 24.8 days). */
export function linearInterval(options: { startMs: number; incrementMs: number; maxMs?: number }): IntervalProvider {
  const start = nonNegative('startMs', options.startMs);
  const increment = nonNegative('incrementMs', options.incrementMs);
  const max = Math.min(nonNegative('maxMs', options.maxMs ?? maxDelayMs), maxDelayMs);
  return ({ retryCount }) => Math.min(max, start + increment * retryCount);
}

/**
 * initial × multiplier^retryCount, capped at max, then spread by jitter: with jitter 0.2 the wait is
 * drawn uniformly from [80 %, 100 %] of that value, so retries of many messages do not align.
 */
export function exponentialInterval(options: {
  initialMs: number;
  multiplier?: number;
  maxMs?: number;
  jitter?: number;
  random?: () => number;
}): IntervalProvider {
  const initial = nonNegative('initialMs', options.initialMs);
  const multiplier = options.multiplier ?? 2;
  const max = nonNegative('maxMs', options.maxMs ?? 60_000);
  const jitter = options.jitter ?? 0;
  if (multiplier < 1) throw new RangeError(`multiplier must be >= 1, got ${multiplier}`);
  if (jitter < 0 || jitter > 1) throw new RangeError(`jitter must be within [0, 1], got ${jitter}`);
  const random = options.random ?? Math.random;
  return ({ retryCount }) => {
    const base = Math.min(max, initial * multiplier ** retryCount);
    return Math.round(base * (1 - jitter * random()));
  };
}
