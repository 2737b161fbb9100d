import { Worker, type WorkerOptions } from './worker.ts';

export interface CallbackWorkerOptions extends Omit<WorkerOptions, 'args' | 'translators'> {
  readonly originalWorker: Worker;
}

/**
 * Runs a CallbackRoute's callback target with the original call's translated arguments followed by
 * the error that ended it. Translators are not applied again.
 */
export class CallbackWorker extends Worker {
  readonly originalWorker: Worker;

  constructor(options: CallbackWorkerOptions) {
    super({ ...options, args: options.originalWorker.translatedArgs ?? options.originalWorker.args, translators: [] });
    this.originalWorker = options.originalWorker;
  }

  protected override callArguments(translatedArgs: readonly unknown[]): unknown[] {
    return [...translatedArgs, this.originalWorker.exception];
  }
}

export type CallbackWorkerClass = new (options: CallbackWorkerOptions) => CallbackWorker;
