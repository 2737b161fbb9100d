import { ConfigurationError } from './errors.ts';
import type { Runner } from './runner.ts';
import type { ServiceObserver } from './telemetry.ts';

/** The parts of a prom-client Registry the metrics use (pass your own to expose them with yours). */
export interface MetricsRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** A metric of prom-client, as this module uses them. */
interface LabelledMetric {
  labels(...values: string[]): { inc(value?: number): void; dec(value?: number): void; set(value: number): void; observe(value: number): void };
}

/** What this module needs of prom-client (a constructor per kind of metric and the Registry). */
interface PromClient {
  readonly Registry: new () => MetricsRegistry;
  readonly Counter: new (options: MetricOptions) => LabelledMetric;
  readonly Gauge: new (options: MetricOptions & { collect?: () => void }) => LabelledMetric;
  readonly Histogram: new (options: MetricOptions & { buckets?: number[] }) => LabelledMetric;
}

interface MetricOptions {
  name: string;
  help: string;
  labelNames: string[];
  registers: MetricsRegistry[];
}

/** Seconds: from 1 ms to 1 min. */
const durationBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Prometheus metrics of one runner, on prom-client (an optional peer dependency: install it to use
 * them). What micro_framework exports (tasks running, tasks, failed tasks, task duration, available
 * workers, service info) under Prometheus naming rules, plus messages received, retries scheduled,
 * dead letters by reason and give-backs by cause. Labels: service, context, route (the metric
 * labels) and bounded reasons; never message ids, keys or subjects.
 */
export class PrometheusMetrics implements ServiceObserver {
  readonly registry: MetricsRegistry;
  readonly #service: string;
  readonly #running: LabelledMetric;
  readonly #tasks: LabelledMetric;
  readonly #failed: LabelledMetric;
  readonly #duration: LabelledMetric;
  readonly #received: LabelledMetric;
  readonly #retries: LabelledMetric;
  readonly #deadLetters: LabelledMetric;
  readonly #callbacks: LabelledMetric;
  readonly #givenBack: LabelledMetric;
  readonly #connectionsLost: LabelledMetric;
  readonly #rpcCalls: LabelledMetric;
  readonly #rpcDuration: LabelledMetric;
  readonly #consumerRestarts: LabelledMetric;

  /** Loads prom-client and registers the metrics of `runner` in `registry` (default a new Registry). */
  static async create(runner: Runner, options: { registry?: MetricsRegistry; prefix?: string } = {}): Promise<PrometheusMetrics> {
    let client: PromClient;
    try {
      client = (await import('prom-client')) as unknown as PromClient;
    } catch (error) {
      throw new ConfigurationError('metrics need the prom-client package: npm install prom-client', { cause: error });
    }
    return new PrometheusMetrics(client, runner, options);
  }

  constructor(client: PromClient, runner: Runner, options: { registry?: MetricsRegistry; prefix?: string } = {}) {
    this.registry = options.registry ?? new client.Registry();
    this.#service = runner.config.serviceName;
    const prefix = options.prefix ?? 'micro_framework_';
    const registers = [this.registry];
    const route = ['service', 'context', 'route'];
    const counter = (name: string, help: string, labelNames = route): LabelledMetric => new client.Counter({ name: prefix + name, help, labelNames, registers });
    this.#running = new client.Gauge({ name: `${prefix}tasks_running`, help: 'Target calls running now.', labelNames: route, registers });
    this.#tasks = counter('tasks_total', 'Target calls started (every attempt).');
    this.#failed = counter('failed_tasks_total', 'Target calls that failed (every failed attempt).');
    this.#duration = new client.Histogram({
      name: `${prefix}task_duration_seconds`,
      help: 'Duration of target calls, by outcome.',
      labelNames: [...route, 'outcome'],
      buckets: durationBuckets,
      registers,
    });
    this.#received = counter('messages_received_total', 'Messages an entrypoint received (redeliveries included).');
    this.#retries = counter('retries_scheduled_total', 'Failed attempts that will be tried again.');
    this.#deadLetters = counter('dead_letters_total', 'Messages sent to the dead-letter destination, by reason.', [...route, 'reason']);
    this.#callbacks = counter('callbacks_total', 'Final failures handed to the route\'s callback.');
    this.#givenBack = counter('given_back_total', 'Messages handed back to the broker, by cause (stopping or failure).', [...route, 'cause']);
    const rpc = ['service', 'remote_service', 'target', 'outcome'];
    this.#rpcCalls = counter('rpc_client_calls_total', 'RPC calls the service made, by outcome.', rpc);
    this.#rpcDuration = new client.Histogram({ name: `${prefix}rpc_client_duration_seconds`, help: 'Duration of the RPC calls the service made, by outcome.', labelNames: rpc, buckets: durationBuckets, registers });
    this.#connectionsLost = counter('connections_lost_total', 'Broker connections that dropped.', ['service', 'adapter']);
    this.#consumerRestarts = counter('consumer_crashes_total', 'Consume loops that ended unexpectedly.', ['service']);
    const service = this.#service;
    const available = new client.Gauge({
      name: `${prefix}available_workers`,
      help: 'Free worker slots (maxWorkers minus target calls running), per context.',
      labelNames: ['service', 'context'],
      registers,
      collect: () => {
        for (const context of runner.contexts) {
          if (context.isBound) available.labels(service, context.label).set(context.config.maxWorkers - context.activeWorkers);
        }
      },
    });
    new client.Gauge({ name: `${prefix}service_info`, help: 'The service (value 1).', labelNames: ['service'], registers }).labels(service).set(1);
  }

  received(event: { context: string; route: string }): void {
    this.#received.labels(this.#service, event.context, event.route).inc();
  }

  taskStarted(event: { context: string; route: string }): void {
    this.#running.labels(this.#service, event.context, event.route).inc();
    this.#tasks.labels(this.#service, event.context, event.route).inc();
  }

  taskFinished(event: { context: string; route: string; durationSeconds: number; error?: unknown }): void {
    this.#running.labels(this.#service, event.context, event.route).dec();
    if (event.error) this.#failed.labels(this.#service, event.context, event.route).inc();
    this.#duration.labels(this.#service, event.context, event.route, event.error ? 'failure' : 'success').observe(event.durationSeconds);
  }

  retryScheduled(event: { context: string; route: string }): void {
    this.#retries.labels(this.#service, event.context, event.route).inc();
  }

  deadLettered(event: { context: string; route: string; reason: string }): void {
    this.#deadLetters.labels(this.#service, event.context, event.route, event.reason).inc();
  }

  callbackCalled(event: { context: string; route: string }): void {
    this.#callbacks.labels(this.#service, event.context, event.route).inc();
  }

  givenBack(event: { context: string; route: string; cause: string }): void {
    this.#givenBack.labels(this.#service, event.context, event.route, event.cause).inc();
  }

  rpcCall(event: { remoteService: string; target: string; outcome: string; durationSeconds: number }): void {
    this.#rpcCalls.labels(this.#service, event.remoteService, event.target, event.outcome).inc();
    this.#rpcDuration.labels(this.#service, event.remoteService, event.target, event.outcome).observe(event.durationSeconds);
  }

  connectionLost(event: { adapter: string }): void {
    this.#connectionsLost.labels(this.#service, event.adapter).inc();
  }

  consumerCrashed(): void {
    this.#consumerRestarts.labels(this.#service).inc();
  }
}
