/**
 * The commits of one partition, coalesced: while a commit is on its way, later advances only raise
 * the offset the next one writes, so a fast partition does not queue one commit per record. A commit
 * that fails is not retried: a later advance commits past it, and a crash replays from the last one
 * that succeeded.
 */
export class PartitionCommits {
  readonly #commit: (offset: string) => Promise<void>;
  #wanted: string | undefined;
  #committing: Promise<void> | undefined;

  /**
   * `commit(offset)` writes the committed offset of the partition for `offset`, the latest one asked
   * (the next record to read, or the last finished one: the owner's choice, passed through as is).
   */
  constructor(commit: (offset: string) => Promise<void>) {
    this.#commit = commit;
  }

  /** Asks for the partition to be committed up to `offset` (as the owner reads it: see the constructor). */
  advance(offset: string): void {
    this.#wanted = offset;
    void this.#flush();
  }

  /** Resolves once every advance asked so far was committed (or failed). */
  async settled(): Promise<void> {
    while (this.#committing || this.#wanted !== undefined) await this.#flush();
  }

  #flush(): Promise<void> {
    this.#committing ??= (async () => {
      while (this.#wanted !== undefined) {
        const offset = this.#wanted;
        this.#wanted = undefined;
        await this.#commit(offset).catch(() => undefined);
      }
      this.#committing = undefined;
    })();
    return this.#committing;
  }
}
