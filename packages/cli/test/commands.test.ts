import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetaDependency, Route, Runner, inject, type Entrypoint, type Meta } from '@micro-framework/core';
import { waitFor } from '@micro-framework/conformance';
import { AmqpEventListener, AmqpRpcListener } from '@micro-framework/amqp';
import { KafkaRpcListener, TopicListener } from '@micro-framework/kafka';
import { JetStreamListener, NatsRpcListener, SubjectListener } from '@micro-framework/nats';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, cliProcess } from './cli.ts';

const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const runners: Runner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 5_000 })));
});

interface BrokerCase {
  readonly broker: 'amqp' | 'nats' | 'kafka';
  readonly config: Record<string, unknown>;
  rpc(): Entrypoint;
  /** A listener of what `emit <source> <event>` publishes. */
  listener(source: string, event: string): Entrypoint;
  /** Kafka: `emit --key` sets the record key. */
  readonly keyed?: boolean;
}

const brokers: BrokerCase[] = [
  {
    broker: 'amqp',
    config: { amqp: { url: process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672' } },
    rpc: () => new AmqpRpcListener(),
    listener: (source, event) => new AmqpEventListener({ sourceService: source, eventName: event }),
  },
  {
    broker: 'nats',
    config: {},
    rpc: () => new NatsRpcListener(),
    listener: (source, event) => new JetStreamListener({ stream: `${source}_stream`.replace(/[^A-Za-z0-9_]/g, '_'), subjects: [`${source}.${event}`] }),
  },
  {
    broker: 'kafka',
    config: { kafka: { brokers: [process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092'], logLevel: 0 } },
    rpc: () => new KafkaRpcListener(),
    listener: (source, event) => new TopicListener({ topic: `${source}.${event}` }),
    keyed: true,
  },
];

async function serve(serviceName: string, config: Record<string, unknown>, routes: Route[]): Promise<Runner> {
  const runner = new Runner({ config: { serviceName, ...config }, contexts: [{ routes }] });
  runners.push(runner);
  await runner.start();
  return runner;
}

describe.each(brokers)('on $broker', (broker) => {
  it('call prints the reply of a target with args and kwargs, as text or JSON', async () => {
    const service = unique('calc');
    function quote(sku: string, options: { quantity?: number } = {}): { sku: string; total: number } {
      return { sku, total: 2.5 * (options.quantity ?? 1) };
    }
    await serve(service, broker.config, [new Route({ target: quote, entrypoint: broker.rpc() })]);
    const json = await cli(['call', service, 'quote', '["pen"]', '--kwargs', '{"quantity": 4}', '--broker', broker.broker, '--json']);
    expect(json).toMatchObject({ code: 0, stdout: '{"sku":"pen","total":10}\n' });
    const text = await cli(['call', service, 'quote', '"book"', '-b', broker.broker]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("sku: 'book'");
  });

  it('call prints a remote error with its name and message, and exits 1; a timeout too', async () => {
    const service = unique('stock');
    function reserve(sku: string): never {
      throw Object.assign(new Error(`no stock for ${sku}`), { name: 'OutOfStock' });
    }
    async function slow(): Promise<string> {
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      return 'late';
    }
    await serve(service, broker.config, [new Route({ target: reserve, entrypoint: broker.rpc() }), new Route({ target: slow, entrypoint: broker.rpc() })]);
    const failed = await cli(['call', service, 'reserve', '["A1"]', '--broker', broker.broker]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`${service}.reserve raised OutOfStock: no stock for A1`);
    const asJson = await cli(['call', service, 'reserve', '["A1"]', '--broker', broker.broker, '--json']);
    expect(JSON.parse(asJson.stderr)).toMatchObject({ error: { name: 'RemoteError', remoteName: 'OutOfStock', message: 'no stock for A1' } });
    const late = await cli(['call', service, 'slow', '--broker', broker.broker, '--timeout', '500']);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/^RpcTimeout: /);
  });

  it('emit publishes an event with its headers, and it reaches a listener', async () => {
    const source = unique('shop');
    const seen: Array<{ payload: unknown; meta: Meta }> = [];
    const handle = inject({ meta: new MetaDependency() }, function handleShipped({ meta }, payload: unknown) {
      seen.push({ payload, meta });
    });
    await serve(unique('billing'), broker.config, [new Route({ target: handle, entrypoint: broker.listener(source, 'shipped') })]);
    const key = broker.keyed ? ['--key', 'order-7'] : [];
    const emitted = await cli(['emit', source, 'shipped', '{"id": 7, "note": "é"}', '--broker', broker.broker, '--header', 'trace=t-7', '--header', 'origin=cli', ...key]);
    expect(emitted.code, emitted.stderr).toBe(0);
    expect(emitted.stdout).toContain(`published ${source}.shipped to `);
    await waitFor(() => seen.length === 1, 'the event', 60_000);
    expect(seen[0]!.payload).toEqual({ id: 7, note: 'é' });
    expect(seen[0]!.meta.headers).toMatchObject({ trace: 't-7', origin: 'cli' });
    if (broker.keyed) expect(seen[0]!.meta['key']).toBe('order-7');
  });
});

describe('emit on core NATS', () => {
  it('publishes to a subject no stream captures with core NATS, once, and says so', async () => {
    const subject = unique('pings');
    const seen: unknown[] = [];
    function handlePing(payload: unknown): void {
      seen.push(payload);
    }
    await serve(unique('pinger'), {}, [new Route({ target: handlePing, entrypoint: new SubjectListener({ subject }) })]);
    const emitted = await cli(['emit', 'x', 'y', '{"ping": 1}', '--broker', 'nats', '--to', subject]);
    expect(emitted.code, emitted.stderr).toBe(0);
    expect(emitted.stdout).toContain('core NATS');
    await waitFor(() => seen.length === 1, 'the ping');
    expect(seen).toEqual([{ ping: 1 }]);
  });
});

describe('usage errors', () => {
  it('exit 2 with the reason: bad JSON, a missing broker, a bad header', async () => {
    const badJson = await cli(['call', 'svc', 'x', '[1,', '--broker', 'amqp']);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('args is not JSON');
    const noBroker = await cli(['call', 'svc', 'x']);
    expect(noBroker.code).toBe(2);
    expect(noBroker.stderr).toContain("required option '-b, --broker <broker>' not specified");
    const badHeader = await cli(['emit', 'a', 'b', '{}', '--broker', 'nats', '--header', 'nope']);
    expect(badHeader.code).toBe(2);
    expect(badHeader.stderr).toContain('expected name=value');
  });

  it('exit 2 for bad --kwargs, a bad payload, options of another broker, an unknown command or broker', async () => {
    const expectations: Array<[string[], string]> = [
      [['call', 'svc', 'x', '--kwargs', '{nope', '--broker', 'nats'], '--kwargs is not JSON'],
      [['call', 'svc', 'x', '--kwargs', '[1]', '--broker', 'nats'], '--kwargs must be a JSON object'],
      [['call', 'svc', 'x', '--timeout', 'soon', '--broker', 'nats'], 'expected a whole number > 0'],
      [['emit', 'a', 'b', "{'single': 'quotes'}", '--broker', 'kafka'], 'payload is not JSON'],
      [['emit', 'a', 'b', '{}', '--broker', 'amqp', '--to', 'elsewhere'], '--to is for NATS and Kafka'],
      [['emit', 'a', 'b', '{}', '--broker', 'nats', '--key', 'k'], '--key is for Kafka'],
      [['emit', 'a', 'b', '{}', '--broker', 'mqtt'], 'Allowed choices are amqp, nats, kafka'],
      [['dlq', 'peek', 'x.dlq', '--broker', 'amqp'], 'Allowed choices are list, replay, purge'],
      [['launch'], "unknown command 'launch'"],
    ];
    for (const [args, message] of expectations) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toContain(message);
    }
  });
});

describe('run', () => {
  it('starts the runner a module exports with its --env-file, and stops it cleanly on SIGTERM (exit 0)', async () => {
    const envFile = join(mkdtempSync(join(tmpdir(), 'mf-cli-')), '.env');
    writeFileSync(envFile, 'FIXTURE_GREETING=hello from env\n');
    const running = cliProcess(['run', fixture('service.mjs'), '--env-file', envFile]);
    await waitFor(() => running.output.stderr.includes('fixture running'), 'the service to run');
    expect(running.output.stdout).toContain('greeting=hello from env');
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(running.output.stdout).toContain('greeter stopped');
  });

  it('stops cleanly on SIGINT during a slow start (exit 0), and adopts a runner the module started itself', async () => {
    const slow = cliProcess(['run', fixture('service.mjs')], { FIXTURE_SLOW_START: '2000' });
    await waitFor(() => slow.output.stdout.includes('greeter starting'), 'the start to begin');
    slow.child.kill('SIGINT');
    expect(await slow.exited).toBe(0);
    expect(slow.output.stderr).toContain('fixture stopped');
    expect(slow.output.stderr).not.toContain('could not start');
    expect(slow.output.stdout).toContain('greeter stopped');

    const itself = cliProcess(['run', fixture('service.mjs')], { FIXTURE_START_ITSELF: '1' });
    await waitFor(() => itself.output.stderr.includes('fixture was started by'), 'the module to start it');
    itself.child.kill('SIGTERM');
    expect(await itself.exited).toBe(0);
    expect(itself.output.stdout).toContain('greeter stopped');
  });

  it('exits 1 with the reason when the start fails, and 2 when the module exports no runner', async () => {
    const failed = await cli(['run', fixture('service.mjs')], { env: { FIXTURE_FAIL_START: 'db.internal:5432 refused' } });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('fixture could not start: Error: cannot reach the database: db.internal:5432 refused');
    const noRunner = await cli(['run', fileURLToPath(new URL('./cli.ts', import.meta.url))]);
    expect(noRunner.code).toBe(2);
    expect(noRunner.stderr).toContain('exports no Runner');
    const nowhere = await cli(['run', 'nowhere.mjs']);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toContain('no module at nowhere.mjs');
  });
});

describe('routes', () => {
  it('lists every route with its entrypoint, broker names, callback and backoff, without a broker', async () => {
    const listed = await cli(['routes', fixture('routes.mjs'), '--json'], { env: { AMQP_URL: 'amqp://nobody:x@127.0.0.1:1', KAFKA_BROKERS: '127.0.0.1:1', NATS_URL: 'nats://127.0.0.1:1' } });
    expect(listed.code, listed.stderr).toBe(0);
    const { service, routes } = JSON.parse(listed.stdout) as { service: string; routes: Array<Record<string, unknown>> };
    expect(service).toBe('billing');
    expect(routes).toEqual([
      {
        context: 'orders', route: 'CallbackRoute.handleOrder', target: 'handleOrder', callback: 'refundOrder', entrypoint: 'AmqpEventListener',
        names: { queue: 'shop.order_placed__billing.handleOrder', deadLetterQueue: 'shop.order_placed__billing.handleOrder.dlq', exchange: 'shop.events', routingKey: 'order_placed' },
        backoff: { kind: 'AmqpBackoff', maxRetries: 3, intervalMs: 500 },
      },
      {
        context: 'orders', route: 'Route.reserve', target: 'reserve', entrypoint: 'AmqpRpcListener',
        names: { target: 'reserve', queue: 'rpc-billing-reserve', exchange: 'ufw-rpc', routingKey: 'billing.reserve' }, backoff: null,
      },
      {
        context: 'default', route: 'Route.recordPayment', target: 'recordPayment', entrypoint: 'JetStreamListener',
        names: { stream: 'PAYMENTS', subjects: ['payments.made'], consumer: 'billing-recordPayment-payments_made', deadLetterStream: 'PAYMENTS-dead-letters', deadLetterSubject: 'dead-letter.PAYMENTS.billing-recordPayment-payments_made' },
        backoff: { kind: 'Backoff', maxRetries: 2, intervalMs: 100 },
      },
      {
        context: 'default', route: 'Route.handlePing', target: 'handlePing', entrypoint: 'SubjectListener',
        names: { subject: 'pings', deadLetterStream: 'PINGS_DL', deadLetterSubject: 'dead-letter.pings' }, backoff: null,
      },
      { context: 'default', route: 'Route.quote', target: 'quote', entrypoint: 'NatsRpcListener', names: { target: 'quote', subject: 'billing.rpc.quote' }, backoff: null },
      {
        context: 'default', route: 'Route.indexOrder', target: 'indexOrder', entrypoint: 'TopicListener',
        names: { topic: 'orders', group: 'orders__billing.indexOrder', retryTopic: 'orders__billing.indexOrder.retry', deadLetterTopic: 'orders__billing.indexOrder.dlt' },
        backoff: { kind: 'KafkaBackoff', maxRetries: 1, intervalMs: 1000 },
      },
      { context: 'default', route: 'Route.price', target: 'price', entrypoint: 'KafkaRpcListener', names: { target: 'price', topic: 'billing.rpc' }, backoff: null },
      { context: 'default', route: 'Route.sweep', target: 'sweep', entrypoint: 'TimeEntrypoint', names: { intervalMs: 60_000 }, backoff: null },
    ]);
    const text = await cli(['routes', fixture('routes.mjs')]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('service billing: 8 route(s)\n- CallbackRoute.handleOrder (context orders) <- AmqpEventListener\n    callback: refundOrder\n    queue: shop.order_placed__billing.handleOrder\n');
    expect(text.stdout).toContain('    backoff: kind=KafkaBackoff maxRetries=1 intervalMs=1000\n');
  });

  it('names the route whose broker names cannot be derived, lists the others, and exits 1', async () => {
    const listed = await cli(['routes', fixture('unnamed-route.mjs')]);
    expect(listed.code).toBe(1);
    expect(listed.stdout).toContain('- Route.anonymous (context default) <- AmqpEventListener\n    error: ConfigurationError: a listener derives its queue name from the target name');
    expect(listed.stdout).toContain('    queue: rpc-careless-status');
  });
});
