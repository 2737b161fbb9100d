import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Backoff, InMemoryBroker, InMemoryEventListener, InMemoryRpcClient, InMemoryRpcListener, Route, RpcProxy, Runner, inject } from '../src/index.ts';
import { waitUntil } from './helpers.ts';

const runners: Runner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 1_000 })));
});

/** One sample of the Prometheus text format, by name and labels. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const found = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1], match[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

async function metricsRunner(broker: InMemoryBroker, handler: (payload: { kind: string }) => void, registry?: Registry): Promise<{ runner: Runner; base: string }> {
  function charge(payload: { kind: string }): void {
    handler(payload);
  }
  const runner = new Runner({
    config: { serviceName: 'billing', metrics: { enabled: true, host: '127.0.0.1', port: 0, registry } },
    contexts: [{ metricLabel: 'payments', routes: [new Route({ target: charge, entrypoint: new InMemoryEventListener({ sourceService: 'shop', eventName: 'paid', broker }), backoff: new Backoff({ maxRetries: 1, interval: 10 }) })] }],
  });
  runners.push(runner);
  await runner.start();
  const { host, port } = runner.metricsAddress!;
  return { runner, base: `http://${host}:${port}` };
}

describe('Prometheus metrics and health endpoints', () => {
  it('counts attempts, failures, retries and dead letters by context and route, and serves them on /metrics', async () => {
    const broker = new InMemoryBroker();
    const seen = new Map<string, number>();
    const { base } = await metricsRunner(broker, ({ kind }) => {
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
      if (kind === 'always' || (kind === 'once' && seen.get(kind) === 1)) throw new TypeError(kind);
    });
    for (const kind of ['ok', 'once', 'always']) await broker.publish('shop.paid', { body: new TextEncoder().encode(JSON.stringify({ kind })), headers: {} });
    await broker.publish('shop.paid', { body: new TextEncoder().encode('{poison'), headers: {} });
    const labels = { service: 'billing', context: 'payments', route: 'Route.charge' };
    await waitUntil(() => seen.get('always') === 2 && seen.get('once') === 2, 'the retries');
    const deadline = Date.now() + 5_000;
    let response = await fetch(`${base}/metrics`);
    let text = await response.text();
    while (sample(text, 'micro_framework_dead_letters_total', { ...labels, reason: 'exhausted' }) !== 1 && Date.now() < deadline) {
      response = await fetch(`${base}/metrics`);
      text = await response.text();
    }
    expect(response.headers.get('content-type')).toContain('text/plain');
    expect(sample(text, 'micro_framework_tasks_total', labels)).toBe(5);
    expect(sample(text, 'micro_framework_failed_tasks_total', labels)).toBe(3);
    expect(sample(text, 'micro_framework_retries_scheduled_total', labels)).toBe(2);
    expect(sample(text, 'micro_framework_dead_letters_total', { ...labels, reason: 'decode' })).toBe(1);
    expect(sample(text, 'micro_framework_messages_received_total', labels)).toBe(4);
    expect(sample(text, 'micro_framework_tasks_running', labels)).toBe(0);
    expect(sample(text, 'micro_framework_task_duration_seconds_count', { ...labels, outcome: 'failure' })).toBe(3);
    expect(sample(text, 'micro_framework_available_workers', { service: 'billing', context: 'payments' })).toBe(10);
    expect(sample(text, 'micro_framework_service_info', { service: 'billing' })).toBe(1);
  });

  it('answers /healthz, and /readyz with 200 while running and 503 with the reason once stopping', async () => {
    const broker = new InMemoryBroker();
    const { runner, base } = await metricsRunner(broker, () => undefined);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    for (const context of runner.contexts) await context.stopIntake();
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toContain('Route.charge: stopped');
  });

  it('registers in the registry the user gives, and fails the start when the port is taken', async () => {
    const registry = new Registry();
    const broker = new InMemoryBroker();
    const { runner } = await metricsRunner(broker, () => undefined, registry);
    expect(await registry.metrics()).toContain('micro_framework_service_info{service="billing"} 1');
    const clash = new Runner({ config: { serviceName: 'clash', metrics: { enabled: true, host: '127.0.0.1', port: runner.metricsAddress!.port } }, contexts: [] });
    await expect(clash.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(clash.state).toBe('stopped');
  });

  it('counts the RPC calls a target makes through RpcProxy, by remote service, target and outcome', async () => {
    const broker = new InMemoryBroker();
    const client = new InMemoryRpcClient({ broker });
    const calls: string[] = [];
    function lookup(sku: string): number {
      if (sku === 'none') throw Object.assign(new Error('unknown sku'), { name: 'UnknownSku' });
      return 3;
    }
    const checkout = inject({ stock: new RpcProxy(() => client) }, async function checkout({ stock }, order: { sku: string }) {
      calls.push(String(await stock.call('stock', 'lookup', [order.sku]).catch((error: Error) => error.name)));
    });
    const stockService = new Runner({ config: { serviceName: 'stock' }, contexts: [{ routes: [new Route({ target: lookup, entrypoint: new InMemoryRpcListener({ broker }) })] }] });
    runners.push(stockService);
    await stockService.start();
    const shop = new Runner({ config: { serviceName: 'shop', metrics: { enabled: true, host: '127.0.0.1', port: 0 } }, contexts: [{ routes: [new Route({ target: checkout, entrypoint: new InMemoryEventListener({ sourceService: 'web', eventName: 'order', broker }) })] }] });
    runners.push(shop);
    await shop.start();
    for (const sku of ['pen', 'none']) await broker.publish('web.order', { body: new TextEncoder().encode(JSON.stringify({ sku })), headers: {} });
    await waitUntil(() => calls.length === 2, 'both calls');
    const text = await shop.metrics!.registry.metrics();
    expect(sample(text, 'micro_framework_rpc_client_calls_total', { service: 'shop', remote_service: 'stock', target: 'lookup', outcome: 'ok' })).toBe(1);
    expect(sample(text, 'micro_framework_rpc_client_calls_total', { service: 'shop', remote_service: 'stock', target: 'lookup', outcome: 'remote-error' })).toBe(1);
    expect(sample(text, 'micro_framework_rpc_client_duration_seconds_count', { service: 'shop', target: 'lookup', outcome: 'ok' })).toBe(1);
    await client.close();
  });
});
