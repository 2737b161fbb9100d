import type { Config } from './config.ts';
import { settledWithin } from './abortable-delay.ts';
import { ConfigurationError, ExtensionIsStopped } from './errors.ts';
import { defaultStopTimeoutMs, type StopOptions } from './extension.ts';
import { loggerOf, type Logger } from './logger.ts';
import { MetricsServer, defaultMetricsPort, type MetricsConfig } from './metrics-server.ts';
import { PrometheusMetrics } from './prometheus-metrics.ts';
import { RunnerContext, type RunnerContextOptions } from './runner-context.ts';
import { LoggingObserver, Telemetry, type RouteSummary, type ServiceObserver } from './telemetry.ts';

export interface RunnerOptions {
  /** Defaults for every context; serviceName is required. */
  readonly config: Partial<Config> & { readonly serviceName: string };
  readonly contexts?: ReadonlyArray<RunnerContext | RunnerContextOptions>;
  /** More observers of the service's events (metrics, say); the logger is always one. */
  readonly observers?: readonly ServiceObserver[];
}

type RunnerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * Runs a service: binds, sets up and starts its contexts in order; stops them in reverse order. A
 * runner starts once; a stopped runner cannot start again (build a new one).
 */
export class Runner {
  readonly config: Partial<Config> & { readonly serviceName: string };
  readonly #contexts: RunnerContext[] = [];
  #state: RunnerState = 'idle';
  #stopping: Promise<void> | undefined;
  #starting: Promise<void> | undefined;
  /** The service's logger: `config.logger` (pino works as it is) or JSON lines on stderr at `config.logLevel`. */
  readonly logger: Logger;
  /** Where every part of the service reports what happened; logs and metrics observe it. */
  readonly telemetry: Telemetry;
  #metrics: PrometheusMetrics | undefined;
  #metricsServer: MetricsServer | undefined;

  constructor(options: RunnerOptions) {
    this.config = options.config;
    this.logger = loggerOf(options.config).child({ service: options.config.serviceName });
    this.telemetry = new Telemetry([new LoggingObserver(this.logger), ...(options.observers ?? [])]);
    for (const context of options.contexts ?? []) this.addContext(context);
  }

  get contexts(): readonly RunnerContext[] {
    return this.#contexts;
  }

  get state(): RunnerState {
    return this.#state;
  }

  /** The Prometheus metrics, once started with `config.metrics.enabled`. */
  get metrics(): PrometheusMetrics | undefined {
    return this.#metrics;
  }

  /** Where `/metrics`, `/healthz` and `/readyz` are served, once started with `config.metrics.enabled`. */
  get metricsAddress(): { host: string; port: number } | undefined {
    const address = this.#metricsServer?.address;
    return address ? { host: address.address, port: address.port } : undefined;
  }

  /** Adds a context (or builds one from options) before start; returns it. */
  addContext(context: RunnerContext | RunnerContextOptions): RunnerContext {
    if (this.#state !== 'idle') throw new ConfigurationError('contexts can only be added before start');
    const built = context instanceof RunnerContext ? context : new RunnerContext(context);
    this.#contexts.push(built);
    return built;
  }

  /**
   * Binds, sets up and starts every context. Rejects if any step fails, after stopping what had
   * started; rejects with ExtensionIsStopped when called after stop, or when stop is called while it
   * runs (what started is then stopped, and no further context starts).
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new ExtensionIsStopped(`runner of ${this.config.serviceName}`);
    this.#state = 'starting';
    const stopped = (): void => {
      if (this.#stopping) throw new ExtensionIsStopped(`runner of ${this.config.serviceName}`);
    };
    this.#starting = (async () => {
      await this.#startMetrics();
      for (const context of this.#contexts) context.bind(this);
      for (const context of this.#contexts) {
        stopped();
        await context.setup();
      }
      for (const context of this.#contexts) {
        stopped();
        await context.start();
      }
      stopped();
    })();
    try {
      await this.#starting;
      this.#state = 'running';
      this.telemetry.emit('started', { service: this.config.serviceName, routes: this.#routeSummaries() });
    } catch (error) {
      await this.stop({ timeoutMs: 5_000 }).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Graceful stop, in three phases across every context: (1) every route refuses new work and every
   * consumer stops taking messages (no redelivery storm: what arrives before a cancel takes effect is handed back once); (2) all in-flight calls
   * drain in parallel under one deadline (timeoutMs, default 30 s; past it they are abandoned unacked
   * so the broker delivers them again); (3) extensions and connections close, contexts in reverse
   * order. Idempotent: later calls return the same promise.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (!this.#stopping) {
      this.#state = 'stopping';
      const timeoutMs = options.timeoutMs ?? defaultStopTimeoutMs;
      const began = performance.now();
      const deadline = Date.now() + timeoutMs;
      const service = this.config.serviceName;
      this.telemetry.emit('stopBegun', { service, timeoutMs });
      this.#stopping = (async () => {
        // A start under way finishes its current step first, then starts nothing more.
        if (this.#starting) await settledWithin(this.#starting, deadline - Date.now());
        const contexts = this.#contexts.filter((context) => context.isBound);
        await Promise.all(contexts.map((context) => context.stopIntake(deadline)));
        const errors = (await Promise.all(contexts.map((context) => context.stopRoutes(deadline)))).flat();
        const unsettled = contexts.reduce((sum, context) => sum + context.routes.reduce((count, route) => count + route.entrypoint.inFlightCount, 0), 0);
        const running = contexts.reduce((sum, context) => sum + context.activeWorkers, 0);
        const seconds = (performance.now() - began) / 1_000;
        if (unsettled > 0 || running > 0) this.telemetry.emit('stopTimedOut', { service, seconds, running, unsettled });
        else this.telemetry.emit('stopDrained', { service, seconds });
        for (const context of [...contexts].reverse()) errors.push(...(await context.stopExtensions(deadline)));
        await this.#metricsServer?.stop();
        this.#metrics?.close();
        this.#state = 'stopped';
        this.telemetry.emit('stopped', { service, errors: errors.length });
        if (errors.length > 0) throw new AggregateError(errors, `runner of ${this.config.serviceName} stopped with errors`);
      })();
    }
    return this.#stopping;
  }

  /**
   * With `config.metrics.enabled`: loads prom-client, counts every event from now on, and serves
   * /metrics, /healthz and /readyz (answering 503 until the start completes).
   */
  async #startMetrics(): Promise<void> {
    const options = this.config['metrics'] as MetricsConfig | undefined;
    if (!options?.enabled) return;
    this.#metrics = await PrometheusMetrics.create(this, { registry: options.registry, prefix: options.prefix });
    this.telemetry.add(this.#metrics);
    const server = new MetricsServer(this, this.#metrics.registry);
    await server.start(options.host ?? '0.0.0.0', options.port ?? defaultMetricsPort);
    if (this.#stopping) {
      // A stop came while the port opened, and may have passed the server's stop already.
      await server.stop();
      throw new ExtensionIsStopped(`runner of ${this.config.serviceName}`);
    }
    this.#metricsServer = server;
  }

  /** What every route consumes or exposes, as its entrypoint names it. */
  #routeSummaries(): RouteSummary[] {
    return this.#contexts.flatMap((context) =>
      context.routes.map((route) => ({
        context: context.label,
        route: route.metricLabel,
        entrypoint: route.entrypoint.constructor.name,
        names: route.entrypoint.brokerNames(),
        backoff: route.backoff?.summary() ?? null,
      })),
    );
  }

  /**
   * Stops the runner on SIGINT or SIGTERM (once); returns a function that removes the handlers. A
   * second signal while stopping exits the process at once.
   */
  stopOnSignals(options: StopOptions & { onStopped?: (error?: unknown) => void } = {}): () => void {
    const handler = (): void => {
      if (this.#stopping) process.exit(130);
      this.stop(options).then(
        () => options.onStopped?.(),
        (error: unknown) => options.onStopped?.(error),
      );
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  }
}
