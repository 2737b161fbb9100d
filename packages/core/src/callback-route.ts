import { CallbackWorker, type CallbackWorkerClass } from './callback-worker.ts';
import { DecodeError } from './errors.ts';
import { Route, type RouteOptions } from './route.ts';
import { summarizeError } from './telemetry.ts';
import type { Target, Worker } from './worker.ts';

export interface CallbackRouteOptions<D = unknown> extends RouteOptions<D> {
  /** Called with the original (translated) arguments and the error once no retry is left. */
  readonly callbackTarget: Target;
  readonly callbackWorkerClass?: CallbackWorkerClass;
  /** Method of callbackTarget to call, when it is an object or class. */
  readonly callbackMethodName?: string;
}

/**
 * A route whose final failure runs a second target. The callback's worker becomes the route's result:
 * if the callback succeeds the message is acked; if it throws, the message is dead-lettered. A decode
 * failure skips the callback (there are no translated arguments to give it) and is dead-lettered.
 */
export class CallbackRoute<D = unknown> extends Route<D> {
  readonly callbackTarget: Target;
  readonly callbackWorkerClass: CallbackWorkerClass;
  readonly callbackMethodName: string | undefined;

  constructor(options: CallbackRouteOptions<D>) {
    super(options);
    this.callbackTarget = options.callbackTarget;
    this.callbackWorkerClass = options.callbackWorkerClass ?? CallbackWorker;
    this.callbackMethodName = options.callbackMethodName;
  }

  /** Builds the callback's worker for a failed original worker (not run yet). */
  async getCallbackWorkerInstance(originalWorker: Worker): Promise<CallbackWorker> {
    return new this.callbackWorkerClass({
      target: this.callbackTarget,
      methodName: this.callbackMethodName,
      config: originalWorker.config,
      meta: originalWorker.meta,
      context: originalWorker.context,
      originalWorker,
    });
  }

  /** Runs the callback target under the context's limit and resolves to its finished worker. */
  async startCallbackRoute(entryId: D, worker: Worker): Promise<Worker> {
    const callbackWorker = await this.getCallbackWorkerInstance(worker);
    return await this.runWorker(entryId, callbackWorker);
  }

  /** Null (retry scheduled) and successes pass through; a final failure runs the callback. */
  override async handleFinishedWorker(entryId: D, worker: Worker | null): Promise<Worker | null> {
    if (worker === null || !worker.exception || worker.exception instanceof DecodeError) return worker;
    if (this.isBound) {
      this.runner.telemetry.emit('callbackCalled', { ...this.labels, attempt: worker.meta.retry.retryCount + 1, error: summarizeError(worker.exception) });
    }
    return await this.startCallbackRoute(entryId, worker);
  }
}
