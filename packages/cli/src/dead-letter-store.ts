import type { DeadLetterEntry } from './dead-letters.ts';

/**
 * A broker's dead-letter destination as `dlq` uses it. `replay` republishes each entry to its
 * original destination with retry state reset, and removes it from the dead letters only after the
 * broker confirmed the republish; it stops at the first failure, leaving the rest where they are.
 */
export interface DeadLetterStore {
  /** The oldest `limit` entries, without removing any. */
  list(limit: number): Promise<DeadLetterEntry[]>;
  /** Replays up to `limit` entries, telling `onReplayed` where each went; resolves with how many were replayed. */
  replay(limit: number, onReplayed: (entry: DeadLetterEntry, to: string) => void): Promise<number>;
  /** Removes every entry; resolves with how many there were (when the broker tells). */
  purge(): Promise<number | undefined>;
  close(): Promise<void>;
}
