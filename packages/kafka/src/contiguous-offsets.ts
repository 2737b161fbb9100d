/**
 * Tracks the offsets of one partition handed to workers, in fetch order, and tells which offset may
 * be committed: only past the contiguous prefix of finished messages, never past one still running
 * (a crash then replays from the first unfinished message).
 */
export class ContiguousOffsets {
  readonly #pending: bigint[] = [];
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
    while (this.#pending.length > 0 && this.#finished.has(this.#pending[0]!)) {
      advancedTo = this.#pending.shift()!;
      this.#finished.delete(advancedTo);
    }
    return advancedTo === undefined ? undefined : String(advancedTo + 1n);
  }

  /** The first offset handed out and not finished, if any. */
  get firstPending(): string | undefined {
    const first = this.#pending[0];
    return first === undefined ? undefined : String(first);
  }

  get pendingCount(): number {
    return this.#pending.length;
  }
}
