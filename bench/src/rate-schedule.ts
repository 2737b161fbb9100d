/**
 * A fixed-rate publishing schedule by absolute time: message n (0-based) is due at
 * `start + n × 1000 / rate` ms, whatever happened before, so a late tick never shifts the later ones.
 * `take(now)` says how many to send now: every message due by `now` not sent yet, but never more than
 * `maxBatch` at once, so a publisher that fell behind (a long GC pause, a busy core) catches up at a
 * bounded pace instead of in one burst; the messages still owed are its backlog.
 */
export class RateSchedule {
  readonly ratePerSecond: number;
  readonly startMs: number;
  readonly maxBatch: number;
  /** Messages taken so far. */
  sent = 0;
  /** The largest backlog (messages due but not taken) seen right after a take. */
  maxBacklog = 0;

  constructor(options: { ratePerSecond: number; startMs: number; maxBatch?: number }) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) throw new RangeError(`ratePerSecond must be a positive number, got ${options.ratePerSecond}`);
    this.ratePerSecond = options.ratePerSecond;
    this.startMs = options.startMs;
    // Default: at most 5 ms worth of messages in one go.
    this.maxBatch = Math.max(1, options.maxBatch ?? Math.ceil((options.ratePerSecond * 5) / 1_000));
  }

  /** Messages due from the start up to `nowMs` (inclusive of one due exactly at `nowMs`). */
  dueBy(nowMs: number): number {
    if (nowMs < this.startMs) return 0;
    return Math.floor(((nowMs - this.startMs) * this.ratePerSecond) / 1_000 + 1e-9) + 1;
  }

  /** How many to send at `nowMs`; counts them as sent and records the backlog left. */
  take(nowMs: number): number {
    const owed = this.dueBy(nowMs) - this.sent;
    const count = Math.max(0, Math.min(owed, this.maxBatch));
    this.sent += count;
    this.maxBacklog = Math.max(this.maxBacklog, owed - count);
    return count;
  }

  /** Messages due by `nowMs` and not taken yet. */
  backlog(nowMs: number): number {
    return Math.max(0, this.dueBy(nowMs) - this.sent);
  }

  /** When the next message not taken yet is due (ms, same clock as startMs). */
  nextDueMs(): number {
    return this.startMs + (this.sent * 1_000) / this.ratePerSecond;
  }

  /** The largest backlog seen, in milliseconds of schedule. */
  maxLagMs(): number {
    return (this.maxBacklog * 1_000) / this.ratePerSecond;
  }
}
