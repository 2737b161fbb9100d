import { ExtensionIsStopped } from './errors.ts';

/** A counting semaphore with FIFO waiters and in-flight metrics. */
export class ConcurrencyLimiter {
  readonly limit: number;
  #active = 0;
  #peak = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  get active(): number {
    return this.#active;
  }

  /** Highest number of simultaneous holders seen so far. */
  get peak(): number {
    return this.#peak;
  }

  /** How many calls wait for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Runs fn when a slot is free; the slot is released when fn settles, whatever the outcome. When
   * `signal` is aborted before fn could start (at once, or while waiting for a slot), fn never runs
   * and the call rejects with the signal's reason (ExtensionIsStopped by default).
   */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const waiting = this.acquire(signal);
    if (waiting) await waiting;
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /**
   * Takes a slot for the caller, who must `release()` it once done: undefined when one was free (taken
   * at once), else a promise resolved once a slot was handed over. Throws (or the promise rejects)
   * with the signal's reason when `signal` is aborted first; no slot is held then. What `run` does
   * around its fn, without a closure per call.
   */
  acquire(signal?: AbortSignal): Promise<void> | undefined {
    if (signal?.aborted) throw refusal(signal);
    if (this.#active >= this.limit) return this.#slot(signal).then(this.#granted);
    this.#active += 1;
    if (this.#active > this.#peak) this.#peak = this.#active;
    return undefined;
  }

  /** Gives back a slot taken by `acquire`: to the oldest waiter, else free. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#active -= 1;
  }

  readonly #granted = (): void => {
    if (this.#active > this.#peak) this.#peak = this.#active;
  };

  /** Waits until a holder hands its slot over; on abort, leaves the queue and rejects. */
  #slot(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const granted = (): void => {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) {
          // The slot came with the abort: pass it on rather than start.
          const next = this.#waiters.shift();
          if (next) next();
          else this.#active -= 1;
          reject(refusal(signal));
        } else resolve();
      };
      const onAbort = (): void => {
        const index = this.#waiters.indexOf(granted);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(refusal(signal!));
      };
      this.#waiters.push(granted);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function refusal(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new ExtensionIsStopped('work');
}
