import {
  CallbackRoute,
  MetaDependency,
  Route,
  Runner,
  inject,
  type Backoff,
  type Config,
  type Entrypoint,
  type Meta,
  type MessageTranslator,
  type ServiceObserver,
} from '@micro-framework/core';
import type { ConformanceAdapter, DeadLetterRecord, ListenerSpec } from '@micro-framework/core/testing';
import { expect } from 'vitest';
import { staysQuiet, waitFor } from './poll.ts';
import { WorkerBridge, attemptStartedAt } from './worker-bridge.ts';

/** One call the target saw. */
export interface Call {
  readonly payload: unknown;
  readonly meta: Meta;
  /** performance.now() when the call started (in a worker mode: when its attempt began in the service). */
  readonly at: number;
  /** performance.now() when the handler settled (undefined while it runs). */
  end?: number;
  readonly instance: string;
}

export interface ListenerRouteOptions {
  readonly spec: ListenerSpec;
  readonly handler?: (payload: unknown, meta: Meta) => unknown;
  readonly backoff?: Backoff;
  readonly translators?: readonly MessageTranslator[];
  readonly callback?: (...args: unknown[]) => unknown;
  /** Name recorded with each call, to tell instances apart. */
  readonly instance?: string;
}

const encoder = new TextEncoder();

/** Builds services on an adapter, records every call, and cleans up after each test. */
export class Harness {
  readonly adapter: ConformanceAdapter;
  readonly calls: Call[] = [];
  readonly #runners: Runner[] = [];
  #deliveries = 0;
  readonly #cleanups: Array<() => void | Promise<void>> = [];
  #bridge: WorkerBridge | undefined;

  constructor(adapter: ConformanceAdapter) {
    this.adapter = adapter;
  }

  /** A channel/service name no other test uses (letters, digits and dashes only). */
  unique(label: string): string {
    return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  }

  spec(label: string, extra: Partial<ListenerSpec> = {}): ListenerSpec {
    return { channel: this.unique(label), serviceName: this.unique(`svc-${label}`), ...extra };
  }

  /** A route on the adapter's listener whose target records the call, then runs `handler`. */
  listenerRoute(options: ListenerRouteOptions): Route {
    const calls = this.calls;
    const instance = options.instance ?? 'default';
    const handler = options.handler;
    // Named `handle` so every instance of a service derives the same queue / consumer names.
    const handle = inject({ meta: new MetaDependency() }, async function handle({ meta }, payload: unknown) {
      // Through a worker (thread mode), the attempt began before the closure runs: time it from then.
      const began = meta[attemptStartedAt];
      const call: Call = { payload, meta, at: typeof began === 'number' ? began : performance.now(), instance };
      calls.push(call);
      try {
        return await handler?.(payload, meta);
      } finally {
        call.end = performance.now();
      }
    });
    const entrypoint = this.adapter.createListener(options.spec);
    this.#countDeliveries(entrypoint);
    const common = { target: handle, entrypoint, backoff: options.backoff, translators: options.translators };
    return options.callback ? new CallbackRoute({ ...common, callbackTarget: options.callback }) : new Route(common);
  }

  /** The adapter's worker mode when it runs the scenarios in one (`thread`), else undefined. */
  get workerMode(): string | undefined {
    const mode = this.adapter.config?.['workerMode'];
    return typeof mode === 'string' && mode !== 'async' ? mode : undefined;
  }

  /** How many messages the listeners built by this harness received from the broker (hand-backs and redeliveries included). */
  get deliveries(): number {
    return this.#deliveries;
  }

  /** Counts every message the entrypoint is handed by its broker, whatever becomes of it. */
  #countDeliveries(entrypoint: Entrypoint): void {
    const deliver = entrypoint.deliver.bind(entrypoint) as (...args: unknown[]) => Promise<unknown>;
    (entrypoint as unknown as { deliver: (...args: unknown[]) => Promise<unknown> }).deliver = (...args) => {
      this.#deliveries += 1;
      return deliver(...args);
    };
  }

  /** Starts a runner of `serviceName` with these routes; stopped after the test unless stopped before. */
  async startService(serviceName: string, routes: Route[], maxWorkers = 10, config: Partial<Config> = {}, observers: ServiceObserver[] = []): Promise<Runner> {
    // An adapter run in thread mode: the scenarios' closures run through a worker (see WorkerBridge).
    const workerMode = { ...this.adapter.config, ...config }['workerMode'];
    if (workerMode === 'process') throw new Error('the conformance harness runs scenarios in thread mode, not in process mode (its bridge is a BroadcastChannel)');
    if (workerMode === 'thread') {
      this.#bridge ??= new WorkerBridge();
      for (const route of routes) this.#bridge.bridge(route);
    }
    const runner = new Runner({ config: { ...this.adapter.config, ...config, serviceName, maxWorkers }, contexts: [{ routes }], observers });
    this.#runners.push(runner);
    await runner.start();
    return runner;
  }

  /** Publishes a JSON payload; resolves once the broker confirmed. */
  async publishJson(channel: string, payload: unknown, options: { headers?: Record<string, string>; key?: string } = {}): Promise<void> {
    await this.adapter.publish(channel, { body: encoder.encode(JSON.stringify(payload)), headers: options.headers, key: options.key });
  }

  /** Polls the dead letters of a listener until `count` are there; returns them. */
  async deadLetters(spec: ListenerSpec, count: number): Promise<DeadLetterRecord[]> {
    const read = this.adapter.readDeadLetters;
    if (!read) throw new Error(`${this.adapter.name} cannot read dead letters`);
    let found: DeadLetterRecord[] = [];
    await waitFor(async () => (found = await read.call(this.adapter, spec)).length >= count, `${count} dead letter(s)`);
    return found;
  }

  /**
   * Proves that nothing of `spec` is left to redeliver (every message was acked or committed): stops
   * the running instances of its service, starts a fresh one, publishes a sentinel, and checks that
   * the fresh instance handles the sentinel and nothing else within a quiet window.
   */
  async expectNothingLeft(spec: ListenerSpec, quietMs = 1_500): Promise<void> {
    await Promise.all(this.#runners.map((runner) => runner.stop({ timeoutMs: 5_000 })));
    const fresh: unknown[] = [];
    await this.startService(spec.serviceName, [this.listenerRoute({ spec, instance: 'fresh', handler: (payload) => void fresh.push(payload) })]);
    await this.publishJson(spec.channel, { sentinel: true });
    await waitFor(() => fresh.length >= 1, 'the fresh instance to handle the sentinel', 60_000);
    await staysQuiet(() => fresh.length > 1, quietMs);
    expect(fresh, 'a fresh consumer found messages left unacked').toEqual([{ sentinel: true }]);
  }

  callsFor(predicate: (call: Call) => boolean): Call[] {
    return this.calls.filter(predicate);
  }

  onCleanup(fn: () => void | Promise<void>): void {
    this.#cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.#cleanups.splice(0).reverse()) await fn();
    await Promise.allSettled(this.#runners.splice(0).map((runner) => runner.stop({ timeoutMs: 2_000 })));
    this.#bridge?.close();
    this.#bridge = undefined;
    this.calls.length = 0;
  }
}
