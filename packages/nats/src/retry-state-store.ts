import { initialRetryState, type RetryState } from '@micro-framework/core';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

/** The KV bucket holding the retry state of messages waiting for a delayed redelivery. */
export const retryStateBucket = 'micro-framework-retry-state';

/**
 * A nak with a delay cannot carry headers, so the retry state (count, first error time, last error)
 * of a message waiting for redelivery is kept in a JetStream KV bucket under
 * `<stream>.<consumer>.<stream sequence>`: it survives restarts and is seen by every instance. Entries
 * are removed once the message is settled and expire after a week in any case.
 */
export class RetryStateStore {
  readonly #js: JetStreamClient;
  #opened: Promise<KV> | undefined;

  /** Opens the bucket now; a failure is forgotten, and the next use tries again. */
  constructor(js: JetStreamClient) {
    this.#js = js;
    this.#bucket().catch(() => undefined);
  }

  /** The bucket, created or opened on first use (again after a failure). */
  #bucket(): Promise<KV> {
    this.#opened ??= new Kvm(this.#js).create(retryStateBucket, { history: 1, ttl: 7 * 24 * 3_600_000 }).catch((error: unknown) => {
      this.#opened = undefined;
      throw error;
    });
    return this.#opened;
  }

  static key(stream: string, consumer: string, sequence: number): string {
    return `${stream}.${consumer}.${sequence}`;
  }

  /** The stored state, or undefined (first delivery, or never retried). */
  async get(key: string): Promise<RetryState | undefined> {
    const entry = await (await this.#bucket()).get(key);
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined;
    try {
      const state = entry.json<RetryState>();
      return typeof state.retryCount === 'number' ? state : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores the state; resolves once JetStream acknowledged it. */
  async put(key: string, state: RetryState): Promise<void> {
    await (await this.#bucket()).put(key, JSON.stringify({ ...initialRetryState, ...state }));
  }

  /** Forgets a settled message's state (best effort: the TTL removes it otherwise). */
  async delete(key: string): Promise<void> {
    await (await this.#bucket()).purge(key).catch(() => undefined);
  }
}
