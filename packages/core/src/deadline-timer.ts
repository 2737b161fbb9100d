/** The longest delay setTimeout takes (a longer one fires at once): a later deadline is looked at again then. */
const maxTimerMs = 2_147_483_647;

/**
 * One timer for many deadlines, on the monotonic clock (`performance.now()`, so a wall-clock step
 * moves none of them): it is armed for the earliest deadline scheduled and then calls `expire(now)`,
 * which ends whatever is due and returns the next deadline, if any; the timer is armed for it again,
 * never sooner than `granularityMs` from now, so deadlines close together end in one sweep.
 */
export class DeadlineTimer {
  readonly #expire: (now: number) => number | undefined;
  readonly #granularityMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #at = Infinity;

  constructor(expire: (now: number) => number | undefined, granularityMs = 5) {
    this.#expire = expire;
    this.#granularityMs = granularityMs;
  }

  /** Makes sure the timer fires by `due` (a `performance.now()` time). */
  schedule(due: number): void {
    if (due < this.#at) this.#arm(due);
  }

  /** Nothing waits any more: the timer stops and holds no process open. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Infinity;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#at = at;
    this.#timer = setTimeout(() => this.#fire(), Math.min(maxTimerMs, Math.max(1, at - performance.now())));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#at = Infinity;
    const now = performance.now();
    const next = this.#expire(now);
    if (next !== undefined) this.#arm(Math.max(next, now + this.#granularityMs));
  }
}
