import type { DeadLetterCopy } from './delivery-outcome.ts';

/** What became of a delivery once core's decision was carried out. */
export type SettledAction = 'acked' | 'retry-scheduled' | 'dead-lettered' | 'given-back' | 'dropped';

/**
 * How an entrypoint carries out core's decisions on its broker: it maps each one to its protocol and
 * decides nothing itself. Core calls exactly one of ack / giveBack per delivery (after deadLetter
 * when there is a dead letter), and only once the route finished.
 */
export interface Settlement<D> {
  /**
   * Who waits before a delayed hand-back: `broker` — giveBack passes `delayMs` to the broker (a nak
   * delay); `process` — core waits the delay (cut short by a stop), then calls giveBack with 0;
   * `none` — the protocol cannot hand a message back (at most once): it is dropped, or dead-lettered
   * when the service failed to settle it.
   */
  readonly giveBackDelay: 'broker' | 'process' | 'none';
  /** Done: ack, commit. If it throws (the channel is gone), the broker delivers the message again. */
  ack(delivery: D): void | Promise<void>;
  /**
   * Stores the dead-letter copy; resolves only once the broker confirmed it. A rejection makes core
   * hand the message back after a delay, so a dead letter is never lost.
   */
  deadLetter(delivery: D, copy: DeadLetterCopy): Promise<void>;
  /** Returns the message to the broker for another delivery, after `delayMs` (0: at once). */
  giveBack(delivery: D, delayMs: number): void | Promise<void>;
}
