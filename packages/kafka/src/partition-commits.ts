/**
 * The commits of one partition, coalesced: while a commit is on its way, later advances only raise
 * the offset the next one writes, so a fast partition does not queue one commit per record. With a
 * minimum interval, a commit also waits until that long after the previous one began (the offset it
 * writes is the latest asked by then); `settled()` does not wait for the interval. A commit that fails
 * is not retried: a later advance commits past it, and a crash replays from the last one that succeeded.
 */
export class PartitionCommits {
  readonly #commit: (offset: string) => Promise<void>;
  readonly #minIntervalMs: number;
  #wanted: string | undefined;
  #committing: Promise<void> | undefined;
  /** When the last commit began (performance.now()); -Infinity before the first. */
  #lastBegan = -Infinity;
  #timer: NodeJS.Timeout | undefined;

  /**
   * `commit(offset)` writes the committed offset of the partition for `offset`, the latest one asked
   * (the next record to read, or the last finished one: the owner's choice, passed through as is).
   * `minIntervalMs` (default 0) is the least time from one commit's start to the next one's, but
   * for settled().
   */
  constructor(commit: (offset: string) => Promise<void>, minIntervalMs = 0) {
    this.#commit = commit;
    this.#minIntervalMs = minIntervalMs;
  }

  /** Asks for the partition to be committed up to `offset` (as the owner reads it: see the constructor). */
  advance(offset: string): void {
    this.#wanted = offset;
    void this.#flush();
  }

  /** Commits what was asked at once (not waiting for the interval); resolves once all of it was committed (or failed). */
  async settled(): Promise<void> {
    for (;;) {
      if (this.#timer) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
      if (!this.#committing && this.#wanted === undefined) return;
      await this.#flush(true);
    }
  }

  /**
   * Starts the commit of the latest offset asked, unless one is on its way (it resolves with that one)
   * or, but `now`, the interval since the last one began has not passed (a timer starts it then).
   */
  #flush(now = false): Promise<void> {
    if (this.#committing) return this.#committing;
    const offset = this.#wanted;
    // A timer already waits out the interval (it commits the latest offset asked by then).
    if (offset === undefined || (this.#timer && !now)) return Promise.resolve();
    const wait = now ? 0 : this.#lastBegan + this.#minIntervalMs - performance.now();
    if (wait > 0) {
      // Fires at the interval by the timers' clock; a hair early by performance.now() is early enough.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.#flush(true);
      }, Math.ceil(wait));
      // A pending commit does not keep the process alive: an exit replays from the last commit.
      this.#timer.unref();
      return Promise.resolve();
    }
    this.#wanted = undefined;
    this.#lastBegan = performance.now();
    let commit: Promise<void>;
    try {
      commit = this.#commit(offset);
    } catch (error) {
      commit = Promise.reject(error as Error);
    }
    const committing = commit
      .catch(() => undefined)
      .then(() => {
        this.#committing = undefined;
        // Asked while it was on its way: next after the interval (settled() does not wait for it).
        if (this.#wanted !== undefined) void this.#flush();
      });
    this.#committing = committing;
    return committing;
  }
}
