/**
 * Bounds how many records a listener has handed on (to key chains and workers) and not finished, so a
 * fetched batch is handed on as workers free up instead of all at once: the records waiting for a
 * worker stay plain kafkajs records rather than closures and promises, and a backlog costs no memory
 * beyond one fetch.
 */
export class DispatchGate {
  readonly limit: number;
  #taken = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Records handed on and not finished. */
  get taken(): number {
    return this.#taken;
  }

  /** Takes a place when one is free (true), without waiting. */
  tryTake(): boolean {
    if (this.#taken >= this.limit) return false;
    this.#taken += 1;
    return true;
  }

  /** Resolves once a place is taken; places go to waiters in the order they asked. */
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Gives a place back: to the longest waiter, if any. Call exactly once per place taken. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#taken -= 1;
  }
}
