import { createHash } from 'node:crypto';
import type { Config } from './config.ts';
import { ConfigurationError } from './errors.ts';
import type { Headers } from './meta.ts';

/**
 * How a message the service failed to settle comes back: after `delayMs`, doubling each time up to
 * `maxDelayMs`, at most `limit` times; then it is dead-lettered with reason `give-back-limit`. Set
 * with the config key `giveBack`; defaults 1 s, 30 s and 5.
 */
export interface GiveBackPolicy {
  readonly delayMs: number;
  readonly maxDelayMs: number;
  readonly limit: number;
}

export const defaultGiveBackPolicy: GiveBackPolicy = Object.freeze({ delayMs: 1_000, maxDelayMs: 30_000, limit: 5 });

/** The give-back policy of a config (key `giveBack`), validated. */
export function giveBackPolicyOf(config: Config): GiveBackPolicy {
  const given = (config['giveBack'] ?? {}) as Partial<GiveBackPolicy>;
  const policy = { ...defaultGiveBackPolicy, ...given };
  for (const key of ['delayMs', 'maxDelayMs', 'limit'] as const) {
    const value = policy[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ConfigurationError(`config.giveBack.${key} must be a finite number >= 0, got ${String(value)}`);
    }
  }
  return policy;
}

/** The wait before the `count`-th hand-back (1-based) under `policy`. */
export function giveBackDelay(policy: GiveBackPolicy, count: number): number {
  return Math.min(policy.maxDelayMs, policy.delayMs * 2 ** Math.max(0, count - 1));
}

/**
 * How often each message was handed back because the service failed to settle it, by message
 * identity. Bounded: past `capacity` entries the least recently counted one is forgotten, and an
 * entry not counted for `ttlMs` (the message went to another instance, say) is forgotten too, so a
 * flood of failing messages cannot grow it without limit.
 */
export class GiveBackLedger {
  readonly capacity: number;
  readonly ttlMs: number;
  /** Oldest count first: each increment moves its entry to the end. */
  readonly #counts = new Map<string, { count: number; at: number }>();

  constructor(capacity = 10_000, ttlMs = 3_600_000) {
    this.capacity = capacity;
    this.ttlMs = ttlMs;
  }

  /** How many messages it counts (stale ones dropped first). */
  get size(): number {
    this.#prune(Date.now());
    return this.#counts.size;
  }

  /** Counts one more hand-back of `key`; returns the count. */
  increment(key: string, now = Date.now()): number {
    this.#prune(now);
    const count = (this.#counts.get(key)?.count ?? 0) + 1;
    this.#counts.delete(key);
    this.#counts.set(key, { count, at: now });
    if (this.#counts.size > this.capacity) this.#counts.delete(this.#counts.keys().next().value as string);
    return count;
  }

  /** Forgets a message once it is settled. */
  forget(key: string): void {
    this.#counts.delete(key);
  }

  #prune(now: number): void {
    for (const [key, entry] of this.#counts) {
      if (now - entry.at < this.ttlMs) return;
      this.#counts.delete(key);
    }
  }
}

/** An identity for a message that has none from its broker: a digest of its channel, headers and body. */
export function messageFingerprint(channel: string, headers: Headers, body: Uint8Array): string {
  const hash = createHash('sha256').update(channel).update('\u0000');
  for (const name of Object.keys(headers).sort()) hash.update(name).update('\u0000').update(headers[name] ?? '').update('\u0000');
  return hash.update(body).digest('base64url');
}
