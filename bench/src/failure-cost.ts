import type { FailureContestant } from './case.ts';
import { FailureLedger } from './failure-ledger.ts';

/** The retry interval every contestant of the failure-cost case asks for where it can (BENCH_RETRY_INTERVAL_MS, default 100). */
export const retryIntervalMs = Number(process.env['BENCH_RETRY_INTERVAL_MS'] ?? 100);

/** One run of a failure-cost contestant: elapsed ms and what its ledger saw. */
export interface FailureRun {
  readonly ms: number;
  readonly failures: number;
  readonly duplicates: number;
  readonly strays: number;
}

/** Thrown when a contestant did not handle every id once within the time allowed. */
export class IncompleteFailureRun extends Error {
  override readonly name = 'IncompleteFailureRun';
}

/**
 * Starts the contestant on `channel` (filled beforehand with ids 0..count-1) and times it until every
 * id was handled successfully; then stops it. Throws IncompleteFailureRun when, after `timeoutMs`, the
 * distinct ids handled are not all `count` of them: a message the contestant's retry lost.
 */
export async function timeFailureRun(contestant: FailureContestant, channel: string, count: number, timeoutMs: number): Promise<FailureRun> {
  const ledger = new FailureLedger(count);
  const started = performance.now();
  const service = await contestant.start(channel, ledger);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)));
  const late = await Promise.race([ledger.done.then(() => false), timedOut]);
  clearTimeout(timer);
  const ms = performance.now() - started;
  await service.stop();
  if (late || ledger.distinct !== count) {
    throw new IncompleteFailureRun(
      `${contestant.name}: ${ledger.distinct.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} distinct ids handled after ${(timeoutMs / 1_000).toFixed(0)} s ` +
        `(${ledger.failures} planned failures thrown, ${ledger.duplicates} duplicates; not handled, first ones: ${ledger.missing().join(', ')})`,
    );
  }
  return { ms, failures: ledger.failures, duplicates: ledger.duplicates, strays: ledger.strays };
}
