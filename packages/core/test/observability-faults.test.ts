import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Backoff,
  DelayedBackoff,
  Entrypoint,
  InMemoryBroker,
  InMemoryEventListener,
  InMemoryRpcClient,
  JsonLogger,
  LoggingObserver,
  Route,
  RpcProxy,
  Runner,
  Telemetry,
  inject,
  type ServiceObserver,
  type Settlement,
} from '../src/index.ts';
import { waitUntil } from './helpers.ts';

const runners: Runner[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});

afterEach(async () => {
  process.off('unhandledRejection', onUnhandled);
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 1_000 })));
});

/** Lets pending promise reactions and one macrotask run, so an unhandled rejection would surface. */
async function settleMicrotasks(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

/** Sends raw bytes to host:port and resolves with everything the server answered before closing. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

async function serving(config: Record<string, unknown> = {}): Promise<{ runner: Runner; port: number }> {
  const broker = new InMemoryBroker();
  const runner = new Runner({
    config: { serviceName: 'faults', metrics: { enabled: true, host: '127.0.0.1', port: 0 }, ...config },
    contexts: [{ routes: [new Route({ target: function handle() {}, entrypoint: new InMemoryEventListener({ sourceService: 's', eventName: 'e', broker }) })] }],
  });
  runners.push(runner);
  await runner.start();
  return { runner, port: runner.metricsAddress!.port };
}

describe('the metrics server under hostile requests', () => {
  it('answers a request target that is no URL with 400 and goes on serving', async () => {
    const { port } = await serving();
    for (const target of ['//[', '//a:b@[::1', 'http://[']) {
      const answer = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(answer, target).toMatch(/^HTTP\/1\.1 (400|404) /);
    }
    await settleMicrotasks();
    expect(unhandled).toEqual([]);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('answers /metrics with 500 when a collect callback of the registry throws, and /readyz still works', async () => {
    const registry = new Registry();
    const { port } = await serving({ metrics: { enabled: true, host: '127.0.0.1', port: 0, registry } });
    const { Gauge } = await import('prom-client');
    new Gauge({ name: 'user_gauge', help: 'throws', registers: [registry], collect: () => Promise.reject(new Error('collect failed')) });
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(500);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    await settleMicrotasks();
    expect(unhandled).toEqual([]);
  });
});

describe('observers and loggers that return rejected promises', () => {
  it('never leave an unhandled rejection: async observer methods and an async logger', async () => {
    const asyncObserver: ServiceObserver = {
      async received() {
        throw new Error('observer failed');
      },
    };
    const rejecting = async (): Promise<void> => {
      throw new Error('logger failed');
    };
    const asyncLogger = { debug: rejecting, info: rejecting, warn: rejecting, error: rejecting, child: () => asyncLogger };
    const telemetry = new Telemetry([asyncObserver, new LoggingObserver(asyncLogger)]);
    telemetry.emit('received', { context: 'c', route: 'r' });
    telemetry.emit('connectionLost', { adapter: 'amqp', broker: '127.0.0.1:5672' });
    telemetry.emit('stopped', { service: 's', errors: 0 });
    await settleMicrotasks();
    expect(unhandled).toEqual([]);
  });
});

describe('Prometheus metrics in one registry', () => {
  it('serves two runners sharing the user registry, and a runner started again after a stop', async () => {
    const registry = new Registry();
    const broker = new InMemoryBroker();
    const seen: string[] = [];
    const make = (serviceName: string): Runner => {
      function record(payload: { n: number }): void {
        seen.push(`${serviceName}:${payload.n}`);
      }
      return new Runner({
        config: { serviceName, metrics: { enabled: true, host: '127.0.0.1', port: 0, registry } },
        contexts: [{ routes: [new Route({ target: record, entrypoint: new InMemoryEventListener({ sourceService: 'shop', eventName: 'paid', broker }) })] }],
      });
    };
    const [billing, audit] = [make('billing'), make('audit')];
    runners.push(billing, audit);
    await billing.start();
    await audit.start();
    await broker.publish('shop.paid', { body: new TextEncoder().encode('{"n":1}'), headers: {} });
    await waitUntil(() => seen.length === 2, 'both services');
    const text = await registry.metrics();
    expect(text).toContain('micro_framework_tasks_total{service="billing",context="default",route="Route.record"} 1');
    expect(text).toContain('micro_framework_tasks_total{service="audit",context="default",route="Route.record"} 1');
    expect(text).toContain('micro_framework_available_workers{service="audit",context="default"} 10');
    await audit.stop();
    expect(await registry.metrics()).not.toContain('micro_framework_available_workers{service="audit"');
    const auditAgain = make('audit');
    runners.push(auditAgain);
    await auditAgain.start();
    await broker.publish('shop.paid', { body: new TextEncoder().encode('{"n":2}'), headers: {} });
    await waitUntil(() => seen.length === 4, 'both services again');
    const after = await registry.metrics();
    expect(after).toContain('micro_framework_tasks_total{service="audit",context="default",route="Route.record"} 2');
    expect(after).toContain('micro_framework_available_workers{service="audit",context="default"} 10');
  });

  it('refuses, with the prefix to choose, a registry holding a metric of the same name that is not ours', async () => {
    const registry = new Registry();
    const { Counter } = await import('prom-client');
    new Counter({ name: 'micro_framework_tasks_total', help: 'the user\'s own', registers: [registry] });
    const runner = new Runner({ config: { serviceName: 'clash', metrics: { enabled: true, host: '127.0.0.1', port: 0, registry } }, contexts: [] });
    await expect(runner.start()).rejects.toThrow(/micro_framework_tasks_total.*prefix/);
  });
});

describe('a message that an at-most-once entrypoint cannot hand back', () => {
  it('is reported as dropped (event, warn log and counter) instead of vanishing', async () => {
    const lines: string[] = [];
    const dropped: unknown[] = [];
    const settlement: Settlement<number> = {
      giveBackDelay: 'none',
      ack: () => undefined,
      deadLetter: () => Promise.reject(new Error('dead-letter store is down')),
      giveBack: () => undefined,
    };
    const entrypoint = new (class AtMostOnce extends Entrypoint<number> {})();
    function fail(): void {
      throw new TypeError('always');
    }
    const runner = new Runner({
      config: { serviceName: 'lossy', logger: new JsonLogger({ level: 'debug', sink: (line) => lines.push(line) }), metrics: { enabled: true, host: '127.0.0.1', port: 0 } },
      contexts: [{ routes: [new Route({ target: fail, entrypoint, backoff: new Backoff({ maxRetries: 0 }) })] }],
      observers: [{ dropped: (event) => dropped.push(event) }],
    });
    runners.push(runner);
    await runner.start();
    const action = await entrypoint.deliver(1, { body: new TextEncoder().encode('{}'), headers: {}, channel: 'orders' }, settlement);
    expect(action).toBe('dropped');
    expect(dropped).toEqual([expect.objectContaining({ route: 'Route.fail', cause: 'failure', error: { name: 'Error', message: 'dead-letter store is down' } })]);
    expect(lines.some((line) => JSON.parse(line).level === 'warn' && /dropped/.test(JSON.parse(line).msg))).toBe(true);
    expect(await runner.metrics!.registry.metrics()).toContain('micro_framework_dropped_total{service="lossy",context="default",route="Route.fail",cause="failure"} 1');
  });
});

describe('a retry the broker refuses', () => {
  it('is not reported as scheduled: the event comes once the broker accepted it', async () => {
    const retries: unknown[] = [];
    const deadLetters: unknown[] = [];
    class Refusing extends Entrypoint<number> {
      override async scheduleRetry(): Promise<void> {
        throw new Error('retry queue is full');
      }
    }
    const entrypoint = new Refusing();
    function fail(): void {
      throw new TypeError('always');
    }
    const runner = new Runner({
      config: { serviceName: 'refused' },
      contexts: [{ routes: [new Route({ target: fail, entrypoint, backoff: new DelayedBackoff({ maxRetries: 3, interval: 10 }) })] }],
      observers: [{ retryScheduled: (event) => retries.push(event), deadLettered: (event) => deadLetters.push(event), givenBack: (event) => deadLetters.push(event) }],
    });
    runners.push(runner);
    await runner.start();
    const settlement: Settlement<number> = { giveBackDelay: 'broker', ack: () => undefined, deadLetter: () => Promise.resolve(), giveBack: () => undefined };
    await entrypoint.deliver(1, { body: new TextEncoder().encode('{}'), headers: {}, channel: 'orders' }, settlement);
    expect(deadLetters).not.toEqual([]);
    expect(retries).toEqual([]);
  });
});

describe('the default logger when standard error goes away', () => {
  it('keeps the service running when the reader of stderr closed the pipe (EPIPE)', async () => {
    const logger = fileURLToPath(new URL('../src/logger.ts', import.meta.url));
    const script = [
      `const { JsonLogger } = await import(${JSON.stringify(logger)});`,
      'const log = new JsonLogger();',
      "for (let i = 0; i < 200; i += 1) { log.warn({ i }, 'x'.repeat(200)); await new Promise((resolve) => setImmediate(resolve)); }",
      "process.stdout.write('survived');",
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr.destroy();
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, out }).toEqual({ code: 0, out: 'survived' });
  });
});

describe('the client RpcProxy injects', () => {
  it('is the adapter\'s client as it is (instanceof, its own members), with its calls still counted', async () => {
    const broker = new InMemoryBroker();
    const client = new InMemoryRpcClient({ broker });
    const seen: unknown[] = [];
    const calls: unknown[] = [];
    const check = inject({ stock: new RpcProxy(() => client) }, async function check({ stock }) {
      seen.push(stock instanceof InMemoryRpcClient, (stock as InMemoryRpcClient & { broker?: unknown }).constructor.name);
      await stock.call('nobody', 'lookup', [], { timeoutMs: 50 }).catch(() => undefined);
    });
    const entrypoint = new InMemoryEventListener({ sourceService: 's', eventName: 'e', broker });
    const runner = new Runner({ config: { serviceName: 'proxy' }, contexts: [{ routes: [new Route({ target: check, entrypoint })] }], observers: [{ rpcCall: (event) => calls.push(event) }] });
    runners.push(runner);
    await runner.start();
    await broker.publish('s.e', { body: new TextEncoder().encode('{}'), headers: {} });
    await waitUntil(() => calls.length === 1, 'the counted call');
    expect(seen).toEqual([true, 'InMemoryRpcClient']);
    await client.close();
  });

  it('keeps methods stable, takes setters of private fields, and counts the calls of listTargets too', async () => {
    const broker = new InMemoryBroker();
    class Labelled extends InMemoryRpcClient {
      #label = '';
      get label(): string {
        return this.#label;
      }
      set label(value: string) {
        this.#label = value;
      }
    }
    const client = new Labelled({ broker });
    const calls: Array<Record<string, unknown>> = [];
    const seen: unknown[] = [];
    const check = inject({ stock: new RpcProxy(() => client) }, async function check({ stock }) {
      stock.label = 'tagged';
      seen.push(stock.label, stock.close === stock.close);
      await stock.listTargets('nobody', { timeoutMs: 50 }).catch(() => undefined);
    });
    const entrypoint = new InMemoryEventListener({ sourceService: 's', eventName: 'e', broker });
    const runner = new Runner({ config: { serviceName: 'proxy2' }, contexts: [{ routes: [new Route({ target: check, entrypoint })] }], observers: [{ rpcCall: (event) => calls.push(event) }] });
    runners.push(runner);
    await runner.start();
    await broker.publish('s.e', { body: new TextEncoder().encode('{}'), headers: {} });
    await waitUntil(() => calls.length === 1, 'the counted listing');
    expect(seen).toEqual(['tagged', true]);
    expect(calls[0]).toMatchObject({ remoteService: 'nobody', target: '__list_targets__' });
    await client.close();
  });
});

describe('RPC client metrics', () => {
  it('keep at most 100 remote service and target pairs per service, then count the rest as other', async () => {
    const { runner } = await serving();
    for (let i = 0; i < 150; i += 1) runner.telemetry.emit('rpcCall', { remoteService: 'stock', target: `lookup_${i}`, outcome: 'ok', durationSeconds: 0.01 });
    const lines = (await runner.metrics!.registry.metrics()).split('\n').filter((line) => line.startsWith('micro_framework_rpc_client_calls_total{'));
    expect(lines).toHaveLength(101);
    expect(lines).toContain('micro_framework_rpc_client_calls_total{service="faults",remote_service="other",target="other",outcome="ok"} 50');
  });
});
