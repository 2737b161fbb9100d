import { clampDelay } from './abortable-delay.ts';
import { describeError, isRetryable } from './errors.ts';
import { constantInterval, type IntervalProvider } from './interval-providers.ts';
import type { RetryState } from './meta.ts';
import type { Route } from './route.ts';
import { safeHeaderValue } from './safe-header.ts';
import { summarizeError } from './telemetry.ts';
import type { Worker } from './worker.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => Error;

export interface BackoffOptions {
  /**
   * Retries after the first attempt. 0 means none (unlike the Python original, where 0 meant
   * unlimited); pass Infinity for unlimited. Default 3.
   */
  readonly maxRetries?: number;
  /** Milliseconds before each retry, or a provider of them. Default 1000. */
  readonly interval?: number | IntervalProvider;
  /** Error classes worth retrying (default: every Error), or a predicate. Non-retryable errors never are. */
  readonly retryOn?: readonly ErrorClass[] | ((error: Error) => boolean);
}

/**
 * Decides whether a failed call is tried again and when. This class retries in process: it waits the
 * interval, then runs the target again and returns the new worker. Broker-delayed backoffs
 * (DelayedBackoff and the adapters') schedule the retry on the broker and return null instead.
 */
export class Backoff {
  readonly maxRetries: number;
  readonly #interval: IntervalProvider;
  readonly #intervalOption: number | IntervalProvider;
  readonly #retryOn: (error: Error) => boolean;
  /** The classes of `retryOn` when given as classes: an error coming back from a worker thread or process is rebuilt as one of them. */
  readonly errorClasses: readonly ErrorClass[];

  constructor(options: BackoffOptions = {}) {
    const maxRetries = options.maxRetries ?? 3;
    if (!(maxRetries >= 0) || (Number.isFinite(maxRetries) && !Number.isInteger(maxRetries))) {
      throw new RangeError(`maxRetries must be a whole number >= 0 or Infinity, got ${maxRetries}`);
    }
    this.maxRetries = maxRetries;
    const interval = options.interval ?? 1000;
    this.#intervalOption = interval;
    this.#interval = typeof interval === 'number' ? constantInterval(interval) : interval;
    const retryOn = options.retryOn;
    this.errorClasses = Array.isArray(retryOn) ? [...(retryOn as readonly ErrorClass[])] : [];
    if (typeof retryOn === 'function') this.#retryOn = retryOn;
    else if (retryOn) this.#retryOn = (error) => retryOn.some((cls) => error instanceof cls);
    else this.#retryOn = () => true;
  }

  /** What the start-up summary shows of this backoff: its class, retries and interval (ms, or `custom`). */
  summary(): Record<string, unknown> {
    return {
      kind: this.constructor.name,
      maxRetries: Number.isFinite(this.maxRetries) ? this.maxRetries : 'unlimited',
      intervalMs: typeof this.#intervalOption === 'number' ? this.#intervalOption : 'custom',
    };
  }

  /** How many retries the worker's call may have. */
  getMaxRetries(_worker: Worker): number {
    return this.maxRetries;
  }

  /**
   * Milliseconds to wait before retrying the worker's failed call: never negative nor longer than a
   * timer can wait (see clampDelay), whatever the interval provider returned.
   */
  getInterval(worker: Worker): number {
    return clampDelay(this.#interval(worker.meta.retry));
  }

  /**
   * True when the worker failed with a retryable error of an accepted class and its retries are not
   * spent. Never throws.
   */
  canRetry(worker: Worker): boolean {
    const error = worker.exception;
    if (!error || !isRetryable(error)) return false;
    if (!this.#retryOn(error)) return false;
    return worker.meta.retry.retryCount < this.getMaxRetries(worker);
  }

  /**
   * The retry state the next attempt carries: count + 1, first error time kept, last error recorded
   * (name and message made safe for headers, see safeHeaderValue).
   */
  nextRetryState(worker: Worker, now = Date.now()): RetryState {
    const current = worker.meta.retry;
    const error = worker.exception ? describeError(worker.exception) : undefined;
    return {
      retryCount: current.retryCount + 1,
      firstErrorTime: current.firstErrorTime ?? worker.finishedAt ?? now,
      lastRetryTime: now,
      lastErrorName: error && safeHeaderValue(error.name),
      lastErrorMessage: error && safeHeaderValue(error.message),
    };
  }

  /**
   * Retries the worker's call once. Resolves to the retried worker, or null when the retry was handed
   * to the broker (the entrypoint may then ack the original). Rejects with ExtensionIsStopped when the
   * route stops during the wait: the entrypoint gives the message back.
   */
  async retry<D>(route: Route<D>, entryId: D, worker: Worker): Promise<Worker | null> {
    const next = this.nextRetryState(worker);
    const delayMs = this.getInterval(worker);
    return this.executeRetry(route, entryId, worker, next, delayMs);
  }

  /**
   * Reports the retry as scheduled (`retryScheduled`): call it once the retry is certain to happen
   * (the wait begins, or the broker accepted the delayed copy), never for one that was refused.
   */
  protected reportRetryScheduled(route: Route<unknown>, worker: Worker, retry: RetryState, delayMs: number): void {
    if (!route.isBound) return;
    route.runner.telemetry.emit('retryScheduled', { ...route.labels, attempt: retry.retryCount, delayMs, error: summarizeError(worker.exception) });
  }

  /** Waits `intervalMs` in process, then runs a new worker with the next retry state. */
  protected async executeRetry<D>(
    route: Route<D>,
    entryId: D,
    worker: Worker,
    retry: RetryState,
    intervalMs: number,
  ): Promise<Worker | null> {
    this.reportRetryScheduled(route as Route<unknown>, worker, retry, intervalMs);
    await route.wait(intervalMs);
    const next = await route.getWorkerInstance(worker.args, { ...worker.meta, retry });
    return route.runWorker(entryId, next);
  }
}

/**
 * A backoff that hands the retry to the broker: it asks the route's entrypoint to deliver the
 * message again after the interval, carrying the next retry state, and returns null. The entrypoint
 * must implement `scheduleRetry` (the adapters' listeners do).
 */
export class DelayedBackoff extends Backoff {
  protected override async executeRetry<D>(
    route: Route<D>,
    entryId: D,
    worker: Worker,
    retry: RetryState,
    intervalMs: number,
  ): Promise<Worker | null> {
    await route.entrypoint.scheduleRetry(entryId, retry, intervalMs);
    this.reportRetryScheduled(route as Route<unknown>, worker, retry, intervalMs);
    return null;
  }
}
