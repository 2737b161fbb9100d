/** The failure-cost case's rule: every 100th id (0, 100, 200...) fails on its first attempt. */
export const failsFirstTime = (id: number): boolean => id % 100 === 0;

/** Thrown by a handler on the first attempt of a failing id. */
export class PlannedFailure extends Error {
  override readonly name = 'PlannedFailure';
}

/**
 * What every contestant of the failure-cost case calls from its handler with the message's id:
 * `attempt(id)` throws PlannedFailure on the first attempt of an id the rule fails, and otherwise
 * records the id as handled. `done` resolves once every id 0..count-1 was handled at least once; the
 * case then checks `distinct === count` and reports `duplicates` (ids handled successfully more than once).
 */
export class FailureLedger {
  readonly count: number;
  readonly done: Promise<void>;
  #resolve!: () => void;
  readonly #attempts: Uint8Array;
  readonly #handled: Uint8Array;
  readonly #fails: (id: number) => boolean;
  distinct = 0;
  duplicates = 0;
  failures = 0;
  /** Ids outside 0..count-1 (a message from another run): counted, never handled. */
  strays = 0;

  constructor(count: number, fails: (id: number) => boolean = failsFirstTime) {
    this.count = count;
    this.#fails = fails;
    this.#attempts = new Uint8Array(count);
    this.#handled = new Uint8Array(count);
    this.done = new Promise<void>((resolve) => (this.#resolve = resolve));
    if (count <= 0) this.#resolve();
  }

  /** How many ids the rule fails once: the retries a complete run needs. */
  get expectedFailures(): number {
    let n = 0;
    for (let id = 0; id < this.count; id += 1) if (this.#fails(id)) n += 1;
    return n;
  }

  attempt(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.count) {
      this.strays += 1;
      return;
    }
    const attempts = this.#attempts[id]!;
    this.#attempts[id] = Math.min(255, attempts + 1);
    if (attempts === 0 && this.#fails(id)) {
      this.failures += 1;
      throw new PlannedFailure(`planned failure of message ${id} (first attempt)`);
    }
    if (this.#handled[id]) {
      this.duplicates += 1;
      return;
    }
    this.#handled[id] = 1;
    this.distinct += 1;
    if (this.distinct === this.count) this.#resolve();
  }

  /** Up to `limit` ids not handled yet, for the error of an incomplete run. */
  missing(limit = 10): number[] {
    const ids: number[] = [];
    for (let id = 0; id < this.count && ids.length < limit; id += 1) if (!this.#handled[id]) ids.push(id);
    return ids;
  }
}
