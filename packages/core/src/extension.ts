import { ConfigurationError } from './errors.ts';
import type { Runner } from './runner.ts';
import type { RunnerContext } from './runner-context.ts';

/** Options of a stop: how long in-flight work may take before it is abandoned (not acked). */
export interface StopOptions {
  readonly timeoutMs?: number;
}

export const defaultStopTimeoutMs = 30_000;

/**
 * A part of a service with a lifecycle. The runner binds every extension to its context, then calls
 * setup, then start, in order; stop runs in reverse order.
 */
export abstract class Extension {
  #runner: Runner | undefined;
  #context: RunnerContext | undefined;

  /** Attaches the extension to its runner and context. Called once, before setup. */
  bind(runner: Runner, context: RunnerContext): void {
    this.#runner = runner;
    this.#context = context;
  }

  get runner(): Runner {
    if (!this.#runner) throw new ConfigurationError(`${this.constructor.name} is not bound to a runner`);
    return this.#runner;
  }

  get context(): RunnerContext {
    if (!this.#context) throw new ConfigurationError(`${this.constructor.name} is not bound to a context`);
    return this.#context;
  }

  get isBound(): boolean {
    return this.#context !== undefined;
  }

  /** Prepares resources (declare topology, open connections). May throw: the runner does not start. */
  async setup(): Promise<void> {}

  /** Begins accepting work. May throw: the runner stops what it had started. */
  async start(): Promise<void> {}

  /**
   * Stops taking new work (cancel a consumer, unsubscribe, stop fetching) without waiting for work in
   * flight. The runner calls it on every extension before it stops any: no consumer keeps taking
   * messages only to hand them back. Idempotent.
   */
  async stopIntake(): Promise<void> {}

  /** Commands a graceful stop: refuse new work, let in-flight work finish (up to the timeout), release. */
  async stop(_options?: StopOptions): Promise<void> {}
}
