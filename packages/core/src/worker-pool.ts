import type { WorkerCall, WorkerReply } from './worker-call.ts';

/**
 * A pool of worker threads or child processes running WorkerCalls. `run` resolves with the call's
 * reply, or rejects with a framework error: WorkerTimeout (the call ran past the timeout; its thread
 * or process was replaced), WorkerCrashed (the thread or process died under it; replaced),
 * EncodeError (its arguments cannot be cloned), ExtensionIsStopped (the pool is closing).
 */
export interface WorkerPool {
  /** Runs one call; `label` names the target in errors. */
  run(call: WorkerCall, label: string): Promise<WorkerReply>;
  /** Lets running calls finish until `deadline` (epoch ms), then ends every thread or process. */
  close(deadline: number): Promise<void>;
}

export interface WorkerPoolOptions {
  /** Threads or processes at most (the context's maxWorkers). */
  readonly size: number;
  readonly timeoutMs: number | undefined;
  readonly maxTasksPerWorker: number | undefined;
  /** Told of pool-level trouble (a thread that failed outside any call...). */
  readonly onError: (error: Error) => void;
}

/** The entry module next to this one (`.ts` when running from source, `.js` from dist). */
export function siblingModule(name: string): URL {
  const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${extension}`, import.meta.url);
}

/**
 * True for the error structured clone throws on a value it cannot copy: a DataCloneError from a
 * worker thread's port, a plain Error saying "could not be cloned" from a child process's channel.
 */
export function isCloneError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, message } = error as { name?: unknown; message?: unknown };
  return name === 'DataCloneError' || (typeof message === 'string' && message.includes('could not be cloned'));
}
