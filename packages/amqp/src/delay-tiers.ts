/**
 * Per-message TTL only expires at the head of a queue, so a short delay queued behind a long one would
 * wait for it. Each delay therefore gets a queue of its own ("tier") whose queue TTL is that delay.
 * Delays are rounded UP to a tier (never earlier than asked): to 10 ms under 1 s, 100 ms under 10 s,
 * 1 s under a minute, 10 s beyond, so jittered intervals share a bounded number of queues.
 */
export function delayTierMs(delayMs: number): number {
  const ms = Math.max(1, Math.ceil(delayMs));
  const step = ms < 1_000 ? 10 : ms < 10_000 ? 100 : ms < 60_000 ? 1_000 : 10_000;
  return Math.ceil(ms / step) * step;
}

/** `<queue>.retry.<ms>ms`: the delay queue that returns messages to `queue` after `tierMs`. */
export function delayTierQueueName(queue: string, tierMs: number): string {
  return `${queue}.retry.${tierMs}ms`;
}
