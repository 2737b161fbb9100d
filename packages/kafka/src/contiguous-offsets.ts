/**
 * Tracks the offsets of one partition handed to workers, in fetch order, and tells which offset may
 * be committed: only past the contiguous prefix of finished messages, never past one still running
 * (a crash then replays from the first unfinished message).
 */
export class ContiguousOffsets {
  /** Offsets handed out, in order, as kafkajs gives them; those before `#head` are finished and committed past. */
  #pending: string[] = [];
  #head = 0;
  readonly #finished = new Set<string>();

  /** Records that `offset` was handed out (offsets must come in increasing order, written in canonical decimal as kafkajs does). */
  track(offset: string): void {
    this.#pending.push(offset);
  }

  /**
   * Marks `offset` finished. Returns the offset to commit (last contiguous finished + 1) when the
   * prefix advanced, else undefined.
   */
  finish(offset: string): string | undefined {
    this.#finished.add(offset);
    let advancedTo: string | undefined;
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
    return advancedTo === undefined ? undefined : nextOffset(advancedTo);
  }

  /** The first offset handed out and not finished, if any. */
  get firstPending(): string | undefined {
    return this.#pending[this.#head];
  }

  get pendingCount(): number {
    return this.#pending.length - this.#head;
  }
}

/** `offset + 1` in decimal: plain number arithmetic while exact (up to 15 digits), BigInt beyond. */
function nextOffset(offset: string): string {
  return offset.length < 16 ? String(Number(offset) + 1) : String(BigInt(offset) + 1n);
}
