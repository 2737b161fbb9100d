/**
 * Tracks the offsets of one partition handed to workers, in fetch order, and tells which offset may
 * be committed: only past the contiguous prefix of finished messages, never past one still running
 * (a crash then replays from the first unfinished message).
 */
export class ContiguousOffsets {
  /** Offsets handed out, in order; those before `#head` are finished and committed past. */
  #pending: bigint[] = [];
  #head = 0;
  readonly #finished = new Set<bigint>();

  /** Records that `offset` was handed out (offsets must come in increasing order). */
  track(offset: string): void {
    this.#pending.push(BigInt(offset));
  }

  /**
   * Marks `offset` finished. Returns the offset to commit (last contiguous finished + 1) when the
   * prefix advanced, else undefined.
   */
  finish(offset: string): string | undefined {
    this.#finished.add(BigInt(offset));
    let advancedTo: bigint | undefined;
    while (this.#head < this.#pending.length && this.#finished.has(this.#pending[this.#head]!)) {
      advancedTo = this.#pending[this.#head]!;
      this.#head += 1;
      this.#finished.delete(advancedTo);
    }
    // Drop the finished prefix now and then rather than shifting the array once per offset.
    if (this.#head > 1_024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
    return advancedTo === undefined ? undefined : String(advancedTo + 1n);
  }

  /** The first offset handed out and not finished, if any. */
  get firstPending(): string | undefined {
    const first = this.#pending[this.#head];
    return first === undefined ? undefined : String(first);
  }

  get pendingCount(): number {
    return this.#pending.length - this.#head;
  }
}
