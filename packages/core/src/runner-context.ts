import { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { mergeConfig, type Config } from './config.ts';
import { giveBackPolicyOf } from './give-back-policy.ts';
import { ConfigurationError, StopTimedOut } from './errors.ts';
import { defaultStopTimeoutMs, type Extension, type StopOptions } from './extension.ts';
import type { Route } from './route.ts';
import type { Runner } from './runner.ts';
import { summarizeError } from './telemetry.ts';
import { consumerSpansWanted, inConsumerSpan } from './tracing.ts';
import type { Worker } from './worker.ts';
import type { RebuildableErrorClass } from './serialized-error.ts';
import { ProcessPool } from './process-pool.ts';
import { ThreadPool } from './thread-pool.ts';
import { workerModeOf, type WorkerModeSettings } from './worker-mode.ts';
import type { WorkerPool } from './worker-pool.ts';
import { WorkerTarget } from './worker-target.ts';

export interface RunnerContextOptions {
  readonly routes: readonly Route<never>[];
  /** Other extensions the routes rely on; started before the routes, stopped after them. */
  readonly extensions?: readonly Extension[];
  /** Overrides of the runner's config for this context (maxWorkers, broker URLs...). */
  readonly config?: Partial<Config>;
  readonly metricLabel?: string;
}

/** Counters of one metric label. */
export interface WorkerMetrics {
  started: number;
  succeeded: number;
  failed: number;
  active: number;
  peak: number;
}

/** How long past its deadline a stop waits for a part that is still stopping (acks being flushed, say). */
export const stopGraceMs = 1_000;

/**
 * `work`, or StopTimedOut once `deadline` plus the grace passed: a part whose stop never ends (a
 * close waiting on a connection that keeps dropping) cannot hold the whole stop.
 */
function byDeadline(work: Promise<unknown>, deadline: number, what: string): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StopTimedOut(what)), Math.max(0, deadline - Date.now()) + stopGraceMs);
  });
  work.catch(() => undefined);
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function describeExtension(extension: Extension): string {
  const label = (extension as Partial<Route>).metricLabel;
  return typeof label === 'string' ? `route ${label}` : extension.constructor.name;
}

/**
 * A group of routes sharing one concurrency limit (config.maxWorkers), a metric label and a config.
 * Connections that the routes share are `shared` extensions of the context.
 */
export class RunnerContext {
  readonly routes: readonly Route<never>[];
  readonly extensions: readonly Extension[];
  readonly metricLabel: string | undefined;
  readonly #overrides: Partial<Config> | undefined;
  #config: Config | undefined;
  #limiter: ConcurrencyLimiter | undefined;
  #runner: Runner | undefined;
  readonly #metrics = new Map<string, WorkerMetrics>();
  readonly #shared = new Map<string, Promise<Extension>>();
  readonly #sharedOrder: Extension[] = [];
  #workerMode: WorkerModeSettings | undefined;
  #workerPool: WorkerPool | undefined;
  #errorClasses: readonly RebuildableErrorClass[] = [];

  constructor(options: RunnerContextOptions) {
    this.routes = options.routes;
    this.extensions = options.extensions ?? [];
    this.#overrides = options.config;
    this.metricLabel = options.metricLabel;
  }

  get config(): Config {
    if (!this.#config) throw new ConfigurationError('RunnerContext is not bound to a runner');
    return this.#config;
  }

  get runner(): Runner {
    if (!this.#runner) throw new ConfigurationError('RunnerContext is not bound to a runner');
    return this.#runner;
  }

  /** The context's label in telemetry: its metricLabel, or `default`. */
  get label(): string {
    return this.metricLabel ?? 'default';
  }

  /** True once bound to a runner (start began). */
  get isBound(): boolean {
    return this.#runner !== undefined;
  }

  /** Workers currently running in this context. */
  get activeWorkers(): number {
    return this.#limiter?.active ?? 0;
  }

  /** Highest number of workers that ran at once in this context. */
  get peakWorkers(): number {
    return this.#limiter?.peak ?? 0;
  }

  /** Where this context's targets run (config.workerMode and its settings); `async` until bound. */
  get workerMode(): WorkerModeSettings {
    return this.#workerMode ?? { mode: 'async', timeoutMs: undefined, maxTasksPerWorker: undefined };
  }

  /** The pool of worker threads or child processes running this context's calls (thread and process modes, once set up). */
  get workerPool(): WorkerPool | undefined {
    return this.#workerPool;
  }

  /**
   * The classes an error coming back from a worker thread or process is rebuilt as (matched by
   * name): config.workerErrorClasses and the classes of every route's `retryOn`.
   */
  workerErrorClasses(_worker?: Worker): readonly RebuildableErrorClass[] {
    return this.#errorClasses;
  }

  /** Binds the context and its extensions to the runner; merges the config and checks it (throws if invalid). */
  bind(runner: Runner): void {
    this.#runner = runner;
    this.#config = mergeConfig(runner.config, this.#overrides);
    giveBackPolicyOf(this.#config);
    this.#workerMode = workerModeOf(this.#config);
    this.#checkWorkerTargets(this.#workerMode);
    const configured = this.#config['workerErrorClasses'];
    if (configured !== undefined && (!Array.isArray(configured) || configured.some((cls) => typeof cls !== 'function'))) {
      throw new ConfigurationError('config.workerErrorClasses must be an array of error classes');
    }
    const classes = [...new Set([...((configured as RebuildableErrorClass[] | undefined) ?? []), ...this.routes.flatMap((route) => route.backoff?.errorClasses ?? [])])];
    // Errors from a worker are matched by class name: two classes of one name could not be told apart.
    const names = new Map<string, RebuildableErrorClass>();
    for (const cls of this.#workerMode.mode === 'async' ? [] : classes) {
      const other = names.get(cls.name);
      if (other && other !== cls) throw new ConfigurationError(`two error classes named ${cls.name} (in config.workerErrorClasses or a Backoff's retryOn): errors coming back from a worker are matched by name, so give them different names`);
      names.set(cls.name, cls);
    }
    this.#errorClasses = classes;
    this.#limiter = new ConcurrencyLimiter(this.#config.maxWorkers);
    for (const extension of [...this.extensions, ...this.routes]) extension.bind(runner, this);
  }

  /** In thread and process modes every target must be a WorkerTarget: a function object cannot cross. */
  #checkWorkerTargets(settings: WorkerModeSettings): void {
    if (settings.mode === 'async') return;
    for (const route of this.routes) {
      const targets = [route.target, (route as { callbackTarget?: unknown }).callbackTarget].filter((target) => target !== undefined);
      for (const target of targets) {
        if (!(target instanceof WorkerTarget)) {
          throw new ConfigurationError(
            `workerMode '${settings.mode}': the targets of route ${route.metricLabel} must be given as workerTarget(moduleUrl, exportName); a function cannot cross into a worker ${settings.mode === 'thread' ? 'thread' : 'process'}`,
          );
        }
      }
    }
  }

  async setup(): Promise<void> {
    // Every workerTarget is imported here once: a missing module or export fails the start, not the first call.
    for (const route of this.routes) {
      for (const target of [route.target, (route as { callbackTarget?: unknown }).callbackTarget]) {
        if (target instanceof WorkerTarget) await target.load();
      }
    }
    const settings = this.workerMode;
    if (settings.mode !== 'async' && !this.#workerPool) {
      const telemetry = this.runner.telemetry;
      const options = {
        size: this.config.maxWorkers,
        timeoutMs: settings.timeoutMs,
        maxTasksPerWorker: settings.maxTasksPerWorker,
        onError: (error: Error) => telemetry.emit('workerPoolError', { context: this.label, mode: settings.mode, error: summarizeError(error) }),
      };
      this.#workerPool = settings.mode === 'thread' ? await ThreadPool.create(options) : new ProcessPool(options);
    }
    for (const extension of [...this.extensions, ...this.routes]) await extension.setup();
  }

  async start(): Promise<void> {
    for (const extension of [...this.extensions, ...this.routes]) await extension.start();
  }

  /**
   * Stops in three phases (what Runner.stop does across all its contexts): stopIntake, then
   * stopRoutes (all in parallel, one deadline), then stopExtensions.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? defaultStopTimeoutMs);
    await this.stopIntake(deadline);
    const errors = [...(await this.stopRoutes(deadline)), ...(await this.stopExtensions(deadline))];
    if (errors.length > 0) throw new AggregateError(errors, 'some extensions failed to stop');
  }

  /**
   * Phase 1 of a stop: every route refuses new work (calls still waiting for a worker slot are
   * handed back unstarted) and every entrypoint and extension stops taking messages.
   */
  async stopIntake(deadline = Date.now() + defaultStopTimeoutMs): Promise<void> {
    for (const route of this.routes) route.refuseNewWork();
    await Promise.allSettled(
      [...this.routes, ...this.extensions, ...this.#sharedOrder].map((extension) => byDeadline(extension.stopIntake(), deadline, `intake of ${describeExtension(extension)}`)),
    );
  }

  /** Phase 2: every route drains its in-flight calls, all in parallel, until `deadline` (epoch ms). Returns the errors. */
  async stopRoutes(deadline: number): Promise<unknown[]> {
    const results = await Promise.allSettled(
      this.routes.map((route) => byDeadline(route.stop({ timeoutMs: Math.max(0, deadline - Date.now()) }), deadline, `route ${route.metricLabel}`)),
    );
    return results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
  }

  /** Phase 3: the extensions, then the shared resources (connections), in reverse order. Returns the errors. */
  async stopExtensions(deadline: number): Promise<unknown[]> {
    const errors: unknown[] = [];
    for (const extension of [...[...this.extensions].reverse(), ...[...this.#sharedOrder].reverse()]) {
      try {
        await byDeadline(extension.stop({ timeoutMs: Math.max(0, deadline - Date.now()) }), deadline, describeExtension(extension));
      } catch (error) {
        errors.push(error);
      }
    }
    this.#shared.clear();
    this.#sharedOrder.length = 0;
    // The routes drained: the pool's threads or processes end (running calls get until the deadline).
    const pool = this.#workerPool;
    this.#workerPool = undefined;
    if (pool) {
      try {
        await byDeadline(pool.close(deadline), deadline, 'the worker pool');
      } catch (error) {
        errors.push(error);
      }
    }
    return errors;
  }

  /**
   * The context's one instance of a shared extension (say, a broker connection), created by `factory`
   * on first use, bound, set up and started before it is returned. Stopped after the routes.
   */
  async shared<T extends Extension>(key: string, factory: () => T): Promise<T> {
    let existing = this.#shared.get(key);
    if (!existing) {
      existing = (async () => {
        const extension = factory();
        extension.bind(this.runner, this);
        await extension.setup();
        await extension.start();
        this.#sharedOrder.push(extension);
        return extension;
      })();
      this.#shared.set(key, existing);
      existing.catch(() => this.#shared.delete(key));
    }
    return (await existing) as T;
  }

  /**
   * Runs the worker once a slot of maxWorkers is free; resolves to the finished worker. Rejects
   * without running it when `refuseOn` aborts first (see ConcurrencyLimiter.run). With a
   * `messagingSystem`, the attempt runs in a consumer span (see inConsumerSpan), named after
   * `destinationTemplate` when given, else the message's channel.
   */
  async spawnWorker<W extends Worker>(worker: W, metricLabel: string, refuseOn?: AbortSignal, messagingSystem?: string, destinationTemplate?: string): Promise<W> {
    const limiter = this.#limiter;
    if (!limiter) throw new ConfigurationError('RunnerContext is not bound to a runner');
    const metrics = this.metrics(metricLabel);
    const telemetry = this.runner.telemetry;
    // The slot is taken here rather than through limiter.run: no closure nor extra async layer per call.
    const waiting = limiter.acquire(refuseOn);
    if (waiting) await waiting;
    try {
      metrics.started += 1;
      metrics.active += 1;
      metrics.peak = Math.max(metrics.peak, metrics.active);
      // Events no observer listens to are not built (see Telemetry.wants).
      if (telemetry.wants('taskStarted')) telemetry.emit('taskStarted', { context: this.label, route: metricLabel });
      const began = performance.now();
      const channel = worker.meta.channel;
      try {
        if (messagingSystem && channel !== undefined && consumerSpansWanted()) {
          const span = { system: messagingSystem, destination: channel, template: destinationTemplate, headers: worker.meta.headers, attempt: worker.meta.retry.retryCount + 1 };
          await inConsumerSpan(span, () => worker.run(), () => worker.exception);
        } else await worker.run();
      } finally {
        metrics.active -= 1;
        if (worker.exception) metrics.failed += 1;
        else metrics.succeeded += 1;
        if (telemetry.wants('taskFinished')) {
          const durationSeconds = (performance.now() - began) / 1_000;
          const labels = { context: this.label, route: metricLabel };
          telemetry.emit('taskFinished', worker.exception ? { ...labels, durationSeconds, error: summarizeError(worker.exception) } : { ...labels, durationSeconds });
        }
      }
      return worker;
    } finally {
      limiter.release();
    }
  }

  /** The live counters of one metric label (created on first use). */
  metrics(metricLabel: string): WorkerMetrics {
    let metrics = this.#metrics.get(metricLabel);
    if (!metrics) {
      metrics = { started: 0, succeeded: 0, failed: 0, active: 0, peak: 0 };
      this.#metrics.set(metricLabel, metrics);
    }
    return metrics;
  }
}
