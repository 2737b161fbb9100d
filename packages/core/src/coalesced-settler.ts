/**
 * Runs settle actions (acks) together, once per event-loop turn, so that a broker client sends many of
 * them in one socket write instead of one write each. An ack still happens only after its route
 * finished; it is merely sent with the others that finished in the same turn.
 */
export class CoalescedSettler {
  #pending: Array<() => void> = [];
  #scheduled: ReturnType<typeof setImmediate> | undefined;

  /** Queues `action`; it runs at the end of the current event-loop turn, or at the next flush(). */
  defer(action: () => void): void {
    this.#pending.push(action);
    this.#scheduled ??= setImmediate(() => this.flush());
  }

  /**
   * Runs every queued action now, in the order they were queued. An action that throws (its channel
   * closed, say) does not stop the others; call this before closing what the actions use.
   */
  flush(): void {
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const actions = this.#pending;
    this.#pending = [];
    for (const action of actions) {
      try {
        action();
      } catch {
        // The connection or channel is gone: the broker redelivers what was not settled.
      }
    }
  }

  /** How many actions wait for the next flush. */
  get pending(): number {
    return this.#pending.length;
  }
}
