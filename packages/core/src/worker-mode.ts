import type { Config } from './config.ts';
import { ConfigurationError } from './errors.ts';

/**
 * Where a context's targets run: `async` on the event loop (the default), `thread` in a pool of
 * worker threads (Piscina), `process` in a pool of child processes. The pool has `maxWorkers` threads
 * or processes.
 */
export type WorkerMode = 'async' | 'thread' | 'process';

export const workerModes: readonly WorkerMode[] = ['async', 'thread', 'process'];

/** A context's worker-mode settings, read from its config. */
export interface WorkerModeSettings {
  readonly mode: WorkerMode;
  /** A call running longer fails with WorkerTimeout and its thread or process is replaced (thread and process modes). */
  readonly timeoutMs: number | undefined;
  /** A thread or process is replaced after this many calls (thread and process modes). */
  readonly maxTasksPerWorker: number | undefined;
}

/**
 * The worker-mode settings of a config: `workerMode` (default `async`), `workerTimeoutMs`,
 * `maxTasksPerWorker`. Throws ConfigurationError on a value it cannot use.
 */
export function workerModeOf(config: Config): WorkerModeSettings {
  const { workerMode = 'async', workerTimeoutMs, maxTasksPerWorker } = config;
  if (typeof workerMode !== 'string' || !(workerModes as readonly string[]).includes(workerMode)) {
    throw new ConfigurationError(`config.workerMode must be one of ${workerModes.join(', ')}, got ${String(workerMode)}`);
  }
  const positive = (name: string, value: unknown): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ConfigurationError(`config.${name} must be a positive number, got ${String(value)}`);
    return value;
  };
  const timeoutMs = positive('workerTimeoutMs', workerTimeoutMs);
  const maxTasks = positive('maxTasksPerWorker', maxTasksPerWorker);
  if (maxTasks !== undefined && !Number.isInteger(maxTasks)) throw new ConfigurationError(`config.maxTasksPerWorker must be an integer, got ${maxTasks}`);
  return { mode: workerMode as WorkerMode, timeoutMs, maxTasksPerWorker: maxTasks };
}
