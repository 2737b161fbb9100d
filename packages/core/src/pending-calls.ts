import { DeadlineTimer } from './deadline-timer.ts';
import { ConfigurationError, RpcTimeout } from './errors.ts';

/** Who an RPC call waiting for its reply went to, and by when it must end. */
export interface PendingCall {
  readonly service: string;
  readonly target: string;
  /** Epoch ms at which the call ends with RpcTimeout. */
  readonly deadline: number;
}

interface Waiting extends PendingCall {
  readonly timeoutMs: number;
  /** The deadline on the monotonic clock (performance.now()): a wall-clock step moves no timeout. */
  readonly due: number;
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The calls of one RPC client that wait for their replies, by correlation id. Each call ends exactly
 * once: with its reply, with an error, with RpcTimeout at its deadline, or when the client closes.
 * A reply for an id no longer waiting (late, or unknown) is ignored. One timer serves every call (not
 * one per call): it is armed for the earliest deadline and, when it fires, ends the calls past theirs;
 * while calls made in deadline order are the only ones waiting (one timeout for all, the usual case),
 * it looks only at the expired ones.
 */
export class PendingCalls {
  readonly #calls = new Map<string, Waiting>();
  readonly #timer = new DeadlineTimer((now) => this.#expire(now));
  /** The latest deadline registered, and whether every call waiting was registered in deadline order. */
  #lastDue = -Infinity;
  #inOrder = true;

  /**
   * Registers call `id` to `service`.`target`; the promise resolves with its reply or rejects with its
   * error, or with RpcTimeout after `timeoutMs`. It is observed at once, so a call that ends before the
   * caller awaits it is never an unhandled rejection. Throws ConfigurationError when `timeoutMs` is not
   * a finite number >= 0 (NaN from a missing setting, say), before anything is sent.
   */
  wait(id: string, service: string, target: string, timeoutMs: number): Promise<unknown> {
    if (!(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      throw new ConfigurationError(`the timeout of RPC ${service}.${target} must be a finite number of ms >= 0, got ${timeoutMs}`);
    }
    const due = performance.now() + timeoutMs;
    const reply = new Promise<unknown>((resolve, reject) => {
      this.#calls.set(id, { service, target, deadline: Date.now() + timeoutMs, due, timeoutMs, resolve, reject });
    });
    reply.catch(() => undefined);
    if (due < this.#lastDue) this.#inOrder = false;
    else this.#lastDue = due;
    this.#timer.schedule(due);
    return reply;
  }

  /** The call `id`, if it still waits. */
  get(id: string): PendingCall | undefined {
    return this.#calls.get(id);
  }

  /**
   * Ends call `id` now (its timeout no longer runs) with what `outcome` returns or resolves to, or
   * with what it throws or rejects with. Returns false, without calling `outcome`, when no such call waits.
   */
  settle(id: string, outcome: (call: PendingCall) => unknown): boolean {
    const call = this.#take(id);
    if (!call) return false;
    try {
      // Resolving with a promise adopts it: its rejection rejects the call.
      call.resolve(outcome(call));
    } catch (error) {
      call.reject(error);
    }
    return true;
  }

  /** Ends call `id` with `error`; false when no such call waits. */
  reject(id: string, error: unknown): boolean {
    const call = this.#take(id);
    call?.reject(error);
    return call !== undefined;
  }

  /** Ends every waiting call with `error` (the client is closing). */
  rejectAll(error: unknown): void {
    for (const id of [...this.#calls.keys()]) this.reject(id, error);
  }

  /** How many calls wait. */
  get size(): number {
    return this.#calls.size;
  }

  #take(id: string): Waiting | undefined {
    const call = this.#calls.get(id);
    if (!call) return undefined;
    this.#calls.delete(id);
    if (this.#calls.size === 0) this.#idle();
    return call;
  }

  /** Nothing waits: no timer holds the process open, and the order starts afresh. */
  #idle(): void {
    this.#timer.clear();
    this.#lastDue = -Infinity;
    this.#inOrder = true;
  }

  /** Ends the calls past their deadline with RpcTimeout, in the order they were made; returns the earliest deadline left. */
  #expire(now: number): number | undefined {
    let next: number | undefined;
    for (const [id, call] of this.#calls) {
      if (call.due <= now) {
        this.#calls.delete(id);
        call.reject(new RpcTimeout(call.service, call.target, call.timeoutMs));
      } else {
        if (next === undefined || call.due < next) next = call.due;
        // Registered in deadline order: every call after this one ends later still.
        if (this.#inOrder) break;
      }
    }
    if (this.#calls.size === 0) this.#idle();
    return next;
  }
}
