import { RpcTimeout } from './errors.ts';

/** Who an RPC call waiting for its reply went to, and by when it must end. */
export interface PendingCall {
  readonly service: string;
  readonly target: string;
  /** Epoch ms at which the call ends with RpcTimeout. */
  readonly deadline: number;
}

interface Waiting extends PendingCall {
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * The calls of one RPC client that wait for their replies, by correlation id. Each call ends exactly
 * once: with its reply, with an error, with RpcTimeout at its deadline, or when the client closes.
 * A reply for an id no longer waiting (late, or unknown) is ignored.
 */
export class PendingCalls {
  readonly #calls = new Map<string, Waiting>();

  /**
   * Registers call `id` to `service`.`target`; the promise resolves with its reply or rejects with its
   * error, or with RpcTimeout after `timeoutMs`. It is observed at once, so a call that ends before the
   * caller awaits it is never an unhandled rejection.
   */
  wait(id: string, service: string, target: string, timeoutMs: number): Promise<unknown> {
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(new RpcTimeout(service, target, timeoutMs));
      }, timeoutMs);
      this.#calls.set(id, { service, target, deadline: Date.now() + timeoutMs, resolve, reject, timer });
    });
    reply.catch(() => undefined);
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
      Promise.resolve(outcome(call)).then(call.resolve, call.reject);
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

  #take(id: string): Waiting | undefined {
    const call = this.#calls.get(id);
    if (!call) return undefined;
    this.#calls.delete(id);
    clearTimeout(call.timer);
    return call;
  }
}
