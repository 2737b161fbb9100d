import { nextOffset } from './next-offset.ts';

/**
 * Tracks the offsets of one partition handed to workers, in fetch order, and tells which offset may
 * be committed: only past the contiguous prefix of finished messages, never past one still running
 * (a crash then replays from the first unfinished message).
 */
export class ContiguousOffsets {
  /** Offsets handed out, in order, as kafkajs gives them; those before `#head` are finished and committed past. */
  #pending: string[] = [];
  /** Whether the offset at the same index of `#pending` is finished. */
  #finished: boolean[] = [];
  #head = 0;
  /** Offsets dropped from the front of `#pending` so far: the position of `#pending[0]`. */
  #dropped = 0;

  /**
   * Records that `offset` was handed out (offsets must come in increasing order, written in canonical
   * decimal as kafkajs does). Returns its position, for finishAt.
   */
  track(offset: string): number {
    this.#pending.push(offset);
    this.#finished.push(false);
    return this.#dropped + this.#pending.length - 1;
  }

  /**
   * Marks `offset` finished. Returns the offset to commit (last contiguous finished + 1) when the
   * prefix advanced, else undefined.
   */
  finish(offset: string): string | undefined {
    const index = this.#indexOf(offset);
    const last = index === -1 ? undefined : this.#finishIndex(index);
    return last === undefined ? undefined : nextOffset(last);
  }

  /**
   * finish, for the offset track returned `position` for (no search), answering the last offset of
   * the contiguous finished prefix when it advanced (commit nextOffset of it), else undefined.
   */
  finishAt(position: number): string | undefined {
    const index = position - this.#dropped;
    return index < this.#head || index >= this.#pending.length ? undefined : this.#finishIndex(index);
  }

  /** The first offset handed out and not finished, if any. */
  get firstPending(): string | undefined {
    return this.#pending[this.#head];
  }

  get pendingCount(): number {
    return this.#pending.length - this.#head;
  }

  /** Marks the offset at `index` finished; answers the last offset of the finished prefix when it advanced. */
  #finishIndex(index: number): string | undefined {
    this.#finished[index] = true;
    if (index !== this.#head) return undefined;
    let head = this.#head;
    const length = this.#pending.length;
    while (head < length && this.#finished[head]) head += 1;
    const advancedTo = this.#pending[head - 1]!;
    this.#head = head;
    // Drop the finished prefix now and then rather than shifting the arrays once per offset.
    if (head > 1_024 && head * 2 > length) {
      this.#pending = this.#pending.slice(head);
      this.#finished = this.#finished.slice(head);
      this.#dropped += head;
      this.#head = 0;
    }
    return advancedTo;
  }

  /** Where `offset` is among the unfinished-prefix-onwards offsets, or -1 (binary search: they increase). */
  #indexOf(offset: string): number {
    let low = this.#head;
    let high = this.#pending.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const order = compareOffsets(this.#pending[middle]!, offset);
      if (order === 0) return middle;
      if (order < 0) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }
}

/** Orders canonical decimal offsets: a shorter one is smaller, equal lengths compare as text. */
function compareOffsets(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
