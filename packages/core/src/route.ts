import { abortableDelay } from './abortable-delay.ts';
import { Backoff } from './backoff.ts';
import { CallbackWorker } from './callback-worker.ts';
import type { Entrypoint } from './entrypoint.ts';
import { ConfigurationError, DeliveryLimitReached, ExtensionIsStopped, toError } from './errors.ts';
import { Extension, type StopOptions } from './extension.ts';
import { createMeta, type Meta } from './meta.ts';
import type { Runner } from './runner.ts';
import type { RunnerContext } from './runner-context.ts';
import type { RouteLabels } from './telemetry.ts';
import type { MessageTranslator } from './translator.ts';
import { targetName, Worker, type Target, type WorkerClass } from './worker.ts';

export interface RouteOptions<D = unknown> {
  readonly target: Target;
  readonly entrypoint: Entrypoint<D>;
  readonly translators?: readonly MessageTranslator[];
  readonly workerClass?: WorkerClass;
  readonly backoff?: Backoff;
  /** Call this method of the target (an object, or a class instantiated per worker). */
  readonly methodName?: string;
  /** Label of this route's metrics; default `<RouteClass>.<target name>`. */
  readonly metricLabel?: string;
  /**
   * Largest body this route decodes, in bytes; a larger message is dead-lettered with reason
   * `too-large` undecoded (an RPC request is answered with PayloadTooLarge). Default
   * `config.maxPayloadBytes`, else no limit beyond the broker's.
   */
  readonly maxPayloadBytes?: number;
}

/** A byte limit as given (undefined: none); ConfigurationError unless a positive integer. */
export function validMaxPayloadBytes(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Links an entrypoint to a target. Each message runs in a worker under the context's concurrency
 * limit; a failure is retried while the backoff allows; `handleFinishedWorker` sees the final worker.
 * `D` is the entrypoint's delivery, passed along as the entry id.
 */
export class Route<D = unknown> extends Extension {
  readonly target: Target;
  readonly methodName: string | undefined;
  readonly workerClass: WorkerClass;
  readonly #entrypoint: Entrypoint<D>;
  readonly #translators: readonly MessageTranslator[];
  readonly #backoff: Backoff | undefined;
  readonly #metricLabel: string;
  readonly #maxPayloadBytes: number | undefined;
  readonly #stopping = new AbortController();

  constructor(options: RouteOptions<D>) {
    super();
    this.target = options.target;
    this.methodName = options.methodName;
    this.workerClass = options.workerClass ?? Worker;
    this.#entrypoint = options.entrypoint;
    this.#translators = options.translators ?? [];
    this.#backoff = options.backoff;
    this.#metricLabel = options.metricLabel ?? `${new.target.name}.${targetName(this.target, this.methodName)}`;
    this.#maxPayloadBytes = validMaxPayloadBytes(options.maxPayloadBytes, 'maxPayloadBytes');
    this.#entrypoint.bindRoute(this);
  }

  get backoff(): Backoff | undefined {
    return this.#backoff;
  }

  get entrypoint(): Entrypoint<D> {
    return this.#entrypoint;
  }

  get translators(): readonly MessageTranslator[] {
    return this.#translators;
  }

  get metricLabel(): string {
    return this.#metricLabel;
  }

  /** The largest body this route decodes (its own limit, else its context's config.maxPayloadBytes); undefined: none. */
  get maxPayloadBytes(): number | undefined {
    if (this.#maxPayloadBytes !== undefined) return this.#maxPayloadBytes;
    return this.isBound ? (this.context.config['maxPayloadBytes'] as number | undefined) : undefined;
  }

  /** This route's labels in telemetry: its context's label and its metric label. */
  get labels(): RouteLabels {
    return { context: this.context.label, route: this.#metricLabel };
  }

  /** True once stop began: startRoute rejects from then on. */
  get isStopped(): boolean {
    return this.#stopping.signal.aborted;
  }

  /** Aborted (with ExtensionIsStopped) once the route refuses new work. */
  get stopSignal(): AbortSignal {
    return this.#stopping.signal;
  }

  override bind(runner: Runner, context: RunnerContext): void {
    super.bind(runner, context);
    this.#entrypoint.bind(runner, context);
  }

  override async setup(): Promise<void> {
    await this.#entrypoint.setup();
  }

  override async start(): Promise<void> {
    await this.#entrypoint.start();
  }

  /** Refuses new work and makes the entrypoint stop taking messages; in-flight work goes on. */
  override async stopIntake(): Promise<void> {
    this.refuseNewWork();
    await this.#entrypoint.stopIntake();
  }

  /** Stops intake (if not done yet), then stops the entrypoint, which drains in-flight calls and releases. */
  override async stop(options?: StopOptions): Promise<void> {
    await this.stopIntake();
    await this.#entrypoint.stop(options);
  }

  /**
   * Makes startRoute reject with ExtensionIsStopped, refuses calls still waiting for a worker slot,
   * and cuts in-process backoff waits and delayed hand-backs short.
   */
  refuseNewWork(): void {
    if (!this.isStopped) this.#stopping.abort(new ExtensionIsStopped(`route ${this.#metricLabel}`));
  }

  /** Builds the worker of one call (not run yet). */
  async getWorkerInstance(args: readonly unknown[], meta?: Partial<Meta>): Promise<Worker> {
    return this.#workerInstance(args, meta);
  }

  #workerInstance(args: readonly unknown[], meta: Partial<Meta> | undefined): Worker {
    const context = this.isBound ? this.context : undefined;
    return new this.workerClass({
      target: this.target,
      methodName: this.methodName,
      translators: this.#translators,
      config: this.context.config,
      args,
      meta: createMeta(meta),
      context,
    });
  }

  /**
   * Runs the worker under the context's concurrency limit; resolves to the same worker, finished. An
   * attempt of the target still waiting for a slot when the route stops is refused with
   * ExtensionIsStopped (handed back unstarted); a callback worker finishes its message regardless.
   */
  async runWorker(_entryId: D, worker: Worker): Promise<Worker> {
    return this.#runWorker(worker);
  }

  #runWorker(worker: Worker): Promise<Worker> {
    const refuseOn = worker instanceof CallbackWorker ? undefined : this.#stopping.signal;
    return this.context.spawnWorker(worker, this.#metricLabel, refuseOn, this.#entrypoint.messagingSystem, this.#entrypoint.destinationTemplate);
  }

  /**
   * Runs the backoff until the call succeeds or may not be retried. Returns the worker of the last
   * retry, or null when the backoff scheduled the retry on the broker (the entrypoint decides what to
   * do with the original message).
   */
  async runBackoff(entryId: D, worker: Worker): Promise<Worker | null> {
    const backoff = this.#backoff;
    let current: Worker | null = worker;
    while (backoff && current?.exception && backoff.canRetry(current)) {
      if (this.isStopped) throw new ExtensionIsStopped(`route ${this.#metricLabel}`);
      try {
        current = await backoff.retry(this, entryId, current);
      } catch (thrown) {
        // The broker will not deliver it again: the retries are spent.
        const error = toError(thrown);
        if (error instanceof DeliveryLimitReached) return current;
        throw error;
      }
    }
    return current;
  }

  /** Override to act on the final worker; returns the worker (or null when a retry was scheduled). */
  async handleFinishedWorker(_entryId: D, worker: Worker | null): Promise<Worker | null> {
    return worker;
  }

  /**
   * Handles one call: worker, retries, then handleFinishedWorker. Resolves to the final worker or null
   * (retry scheduled on the broker). Rejects with ExtensionIsStopped once the route is stopping.
   */
  async startRoute(entryId: D, args: readonly unknown[], meta?: Partial<Meta>): Promise<Worker | null> {
    if (this.isStopped) throw new ExtensionIsStopped(`route ${this.#metricLabel}`);
    // Where a subclass did not override a step, the step runs without its own async layer.
    const built = this.getWorkerInstance === ownRouteSteps.getWorkerInstance ? this.#workerInstance(args, meta) : await this.getWorkerInstance(args, meta);
    let worker: Worker | null = this.runWorker === ownRouteSteps.runWorker ? await this.#runWorker(built) : await this.runWorker(entryId, built);
    if (worker.exception && this.#backoff?.canRetry(worker)) worker = await this.runBackoff(entryId, worker);
    if (this.handleFinishedWorker === ownRouteSteps.handleFinishedWorker) return worker;
    return this.handleFinishedWorker(entryId, worker);
  }

  /** Waits `ms` (see clampDelay), or rejects with ExtensionIsStopped as soon as the route stops. */
  async wait(ms: number): Promise<void> {
    await abortableDelay(ms, this.#stopping.signal);
  }
}

/**
 * Route's own steps as the module defined them: a step is taken without its async layer only while
 * an instance still has exactly these (not overridden by a subclass, nor replaced on the prototype by
 * a spy or an instrumentation wrapper, which then run as before).
 */
const ownRouteSteps = { getWorkerInstance: Route.prototype.getWorkerInstance, runWorker: Route.prototype.runWorker, handleFinishedWorker: Route.prototype.handleFinishedWorker };
