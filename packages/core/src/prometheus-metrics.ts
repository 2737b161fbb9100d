import { ConfigurationError } from './errors.ts';
import type { Runner } from './runner.ts';
import type { ServiceObserver } from './telemetry.ts';

/** The parts of a prom-client Registry the metrics use (pass your own to expose them with yours). */
export interface MetricsRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
  /** The metric registered under `name`, if any (prom-client's Registry has it). */
  getSingleMetric?(name: string): unknown;
}

/** A metric of prom-client, as this module uses them. */
interface LabelledMetric {
  labels(...values: string[]): { inc(value?: number): void; dec(value?: number): void; set(value: number): void; observe(value: number): void };
  reset(): void;
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

/** Past this many remote service and target pairs, a service's further RPC calls are labelled `other`. */
const maxRpcPairs = 100;

const route = ['service', 'context', 'route'];
const rpc = ['service', 'remote_service', 'target', 'outcome'];

/** Every metric, by name without the prefix: kind, help and labels. */
const definitions = {
  tasks_running: { kind: 'Gauge', help: 'Target calls running now.', labels: route },
  tasks_total: { kind: 'Counter', help: 'Target calls started (every attempt).', labels: route },
  failed_tasks_total: { kind: 'Counter', help: 'Target calls that failed (every failed attempt).', labels: route },
  task_duration_seconds: { kind: 'Histogram', help: 'Duration of target calls, by outcome.', labels: [...route, 'outcome'] },
  messages_received_total: { kind: 'Counter', help: 'Messages an entrypoint received (redeliveries included).', labels: route },
  retries_scheduled_total: { kind: 'Counter', help: 'Failed attempts that will be tried again.', labels: route },
  dead_letters_total: { kind: 'Counter', help: 'Messages sent to the dead-letter destination, by reason.', labels: [...route, 'reason'] },
  callbacks_total: { kind: 'Counter', help: "Final failures handed to the route's callback.", labels: route },
  given_back_total: { kind: 'Counter', help: 'Messages handed back to the broker, by cause (stopping or failure).', labels: [...route, 'cause'] },
  dropped_total: { kind: 'Counter', help: 'Messages lost because the protocol cannot hand them back (core NATS), by cause.', labels: [...route, 'cause'] },
  rpc_client_calls_total: { kind: 'Counter', help: 'RPC calls the service made, by outcome.', labels: rpc },
  rpc_client_duration_seconds: { kind: 'Histogram', help: 'Duration of the RPC calls the service made, by outcome.', labels: rpc },
  connections_lost_total: { kind: 'Counter', help: 'Broker connections that dropped.', labels: ['service', 'adapter'] },
  consumer_crashes_total: { kind: 'Counter', help: 'Consume loops that ended unexpectedly.', labels: ['service'] },
  available_workers: { kind: 'Gauge', help: 'Free worker slots (maxWorkers minus target calls running), per context.', labels: ['service', 'context'] },
  service_info: { kind: 'Gauge', help: 'The service (value 1).', labels: ['service'] },
} as const;

type MetricName = keyof typeof definitions;

/**
 * The metrics registered in one registry under one prefix, shared by every runner that registers
 * there (each labels its series with its service name): a second runner, or a service started again
 * in the same process, reuses them instead of failing on names already registered.
 */
class MetricSet {
  readonly metrics: Record<MetricName, LabelledMetric>;
  /** The runners counted here; available_workers is read from those still running. */
  readonly runners = new Set<Runner>();
  /**
   * The remote service and target pairs labelled so far, per service, in this registry (bounded:
   * names built at run time would grow it without end; runners started again reuse them).
   */
  readonly rpcPairs = new Map<string, Set<string>>();

  constructor(client: PromClient, registry: MetricsRegistry, prefix: string) {
    for (const name of Object.keys(definitions)) {
      if (registry.getSingleMetric?.(prefix + name) !== undefined) {
        throw new ConfigurationError(
          `metrics: the registry already holds a metric named ${prefix + name} that this framework did not register; choose another config.metrics.prefix`,
        );
      }
    }
    const registers = [registry];
    const runners = this.runners;
    const make = (name: MetricName): LabelledMetric => {
      const { kind, help, labels } = definitions[name];
      const options = { name: prefix + name, help, labelNames: [...labels], registers };
      if (kind === 'Counter') return new client.Counter(options);
      if (kind === 'Histogram') return new client.Histogram({ ...options, buckets: durationBuckets });
      if (name !== 'available_workers') return new client.Gauge(options);
      const available = new client.Gauge({
        ...options,
        collect: () => {
          available.reset();
          for (const runner of runners) {
            for (const context of runner.contexts) {
              if (context.isBound) available.labels(runner.config.serviceName, context.label).set(context.config.maxWorkers - context.activeWorkers);
            }
          }
        },
      });
      return available;
    };
    this.metrics = Object.fromEntries(Object.keys(definitions).map((name) => [name, make(name as MetricName)])) as Record<MetricName, LabelledMetric>;
  }
}

const metricSets = new WeakMap<MetricsRegistry, Map<string, MetricSet>>();

/**
 * Prometheus metrics of one runner, on prom-client (an optional peer dependency: install it to use
 * them). What micro_framework exports (tasks running, tasks, failed tasks, task duration, available
 * workers, service info) under Prometheus naming rules, plus messages received, retries scheduled,
 * dead letters by reason, give-backs and drops by cause, RPC client calls, lost connections and
 * crashed consumers. Labels: service, context, route (the metric labels) and bounded reasons; never
 * message ids, keys or subjects. Runners sharing a registry share its metrics.
 */
export class PrometheusMetrics implements ServiceObserver {
  readonly registry: MetricsRegistry;
  readonly #service: string;
  readonly #runner: Runner;
  readonly #set: MetricSet;
  readonly #running: LabelledMetric;
  readonly #tasks: LabelledMetric;
  readonly #failed: LabelledMetric;
  readonly #duration: LabelledMetric;
  readonly #received: LabelledMetric;
  readonly #retries: LabelledMetric;
  readonly #deadLetters: LabelledMetric;
  readonly #callbacks: LabelledMetric;
  readonly #givenBack: LabelledMetric;
  readonly #dropped: LabelledMetric;
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
    this.#runner = runner;
    const prefix = options.prefix ?? 'micro_framework_';
    let sets = metricSets.get(this.registry);
    if (!sets) metricSets.set(this.registry, (sets = new Map()));
    let set = sets.get(prefix);
    if (!set) sets.set(prefix, (set = new MetricSet(client, this.registry, prefix)));
    this.#set = set;
    set.runners.add(runner);
    const { metrics } = set;
    this.#running = metrics.tasks_running;
    this.#tasks = metrics.tasks_total;
    this.#failed = metrics.failed_tasks_total;
    this.#duration = metrics.task_duration_seconds;
    this.#received = metrics.messages_received_total;
    this.#retries = metrics.retries_scheduled_total;
    this.#deadLetters = metrics.dead_letters_total;
    this.#callbacks = metrics.callbacks_total;
    this.#givenBack = metrics.given_back_total;
    this.#dropped = metrics.dropped_total;
    this.#rpcCalls = metrics.rpc_client_calls_total;
    this.#rpcDuration = metrics.rpc_client_duration_seconds;
    this.#connectionsLost = metrics.connections_lost_total;
    this.#consumerRestarts = metrics.consumer_crashes_total;
    metrics.service_info.labels(this.#service).set(1);
  }

  /** The runner stopped: its free worker slots are no longer reported (its counters stay, as counters do). */
  close(): void {
    this.#set.runners.delete(this.#runner);
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

  dropped(event: { context: string; route: string; cause: string }): void {
    this.#dropped.labels(this.#service, event.context, event.route, event.cause).inc();
  }

  rpcCall(event: { remoteService: string; target: string; outcome: string; durationSeconds: number }): void {
    let [remote, target] = [event.remoteService, event.target];
    const pair = JSON.stringify([remote, target]);
    let pairs = this.#set.rpcPairs.get(this.#service);
    if (!pairs) this.#set.rpcPairs.set(this.#service, (pairs = new Set()));
    if (!pairs.has(pair)) {
      if (pairs.size < maxRpcPairs) pairs.add(pair);
      else [remote, target] = ['other', 'other'];
    }
    this.#rpcCalls.labels(this.#service, remote, target, event.outcome).inc();
    this.#rpcDuration.labels(this.#service, remote, target, event.outcome).observe(event.durationSeconds);
  }

  connectionLost(event: { adapter: string }): void {
    this.#connectionsLost.labels(this.#service, event.adapter).inc();
  }

  consumerCrashed(): void {
    this.#consumerRestarts.labels(this.#service).inc();
  }
}
