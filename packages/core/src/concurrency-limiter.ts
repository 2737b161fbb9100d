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

  /** Runs fn when a slot is free; the slot is released when fn settles, whatever the outcome. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    else this.#active += 1;
    this.#peak = Math.max(this.#peak, this.#active);
    try {
      return await fn();
    } finally {
      const next = this.#waiters.shift();
      if (next) next();
      else this.#active -= 1;
    }
  }
}
