import { ExtensionIsStopped } from './errors.ts';

/** The longest wait a Node.js timer honours (about 24.8 days); longer ones would fire after 1 ms. */
export const maxDelayMs = 2_147_483_647;

/** A wait in milliseconds a timer can honour: NaN and negatives become 0, anything longer the cap. */
export function clampDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(Math.round(ms), maxDelayMs);
}

/**
 * Resolves after `ms` (clamped with clampDelay), or rejects as soon as `signal` aborts: with the
 * signal's reason when it is an Error, else with ExtensionIsStopped. Leaves no timer behind.
 */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const stopped = (): Error => (signal?.reason instanceof Error ? signal.reason : new ExtensionIsStopped('wait'));
    if (signal?.aborted) {
      reject(stopped());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(stopped());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, clampDelay(ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits until `work` settles or `ms` passed, whichever comes first; true when it settled in time.
 * Never rejects, and leaves no timer behind.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), clampDelay(ms));
  });
  try {
    return await Promise.race([work.then(() => true as const, () => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
