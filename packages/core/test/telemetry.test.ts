import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { waitUntil } from './helpers.ts';
import {
  Backoff,
  CallbackRoute,
  InMemoryBroker,
  InMemoryEventListener,
  JsonLogger,
  Route,
  Runner,
  Telemetry,
  loggerOf,
  type LogFields,
  type Logger,
  type ServiceObserver,
} from '../src/index.ts';

function lines(level: 'debug' | 'info' | 'warn' = 'debug'): { logger: JsonLogger; written: Array<Record<string, unknown>> } {
  const written: Array<Record<string, unknown>> = [];
  return { logger: new JsonLogger({ level, sink: (line) => void written.push(JSON.parse(line) as Record<string, unknown>) }), written };
}

describe('JsonLogger', () => {
  it('writes one JSON line per event at its level and above, with child bindings', () => {
    const { logger, written } = lines('info');
    const child = logger.child({ service: 'billing' });
    child.debug({ skipped: true }, 'not written');
    child.info({ route: 'Route.charge' }, 'started');
    child.warn({ reason: 'decode' }, 'dead-lettered');
    expect(written).toEqual([
      { time: expect.any(String), level: 'info', msg: 'started', service: 'billing', route: 'Route.charge' },
      { time: expect.any(String), level: 'warn', msg: 'dead-lettered', service: 'billing', reason: 'decode' },
    ]);
  });

  it('survives fields JSON cannot encode and a sink that throws', () => {
    const { logger, written } = lines();
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    logger.error({ cyclic, big: 10n }, 'still logged');
    expect(written).toEqual([{ time: expect.any(String), level: 'error', msg: 'still logged', fields: '[unencodable]' }]);
    logger.info({ big: 10n }, 'bigint');
    expect(written[1]).toMatchObject({ big: '10' });
    const throwing = new JsonLogger({ sink: () => { throw new Error('disk full'); } });
    expect(() => throwing.error({}, 'lost, not thrown')).not.toThrow();
  });
});

describe('loggerOf', () => {
  it('uses config.logger when it has the logger methods (as a pino logger has), else a JsonLogger at config.logLevel', () => {
    const calls: string[] = [];
    const custom: Logger = {
      debug: (_f: LogFields, m: string) => void calls.push(m),
      info: (_f: LogFields, m: string) => void calls.push(m),
      warn: (_f: LogFields, m: string) => void calls.push(m),
      error: (_f: LogFields, m: string) => void calls.push(m),
      child: () => custom,
    };
    expect(loggerOf({ logger: custom })).toBe(custom);
    expect(loggerOf({ logger: { info: () => undefined } })).toBeInstanceOf(JsonLogger);
    expect((loggerOf({ logLevel: 'warn' }) as JsonLogger).level).toBe('warn');
    expect((loggerOf({ logLevel: 'loud' }) as JsonLogger).level).toBe('info');
  });
});

describe('a pino logger as config.logger', () => {
  it('receives the service events as it is, with the service bound', async () => {
    const written: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void written.push(JSON.parse(line) as Record<string, unknown>) });
    function charge(): void {}
    const runner = new Runner({ config: { serviceName: 'pinoed', logger }, contexts: [{ routes: [new Route({ target: charge, entrypoint: new InMemoryEventListener({ sourceService: 'shop', eventName: 'paid', broker: new InMemoryBroker() }) })] }] });
    await runner.start();
    await runner.stop({ timeoutMs: 1_000 });
    expect(written[0]).toMatchObject({ level: 30, msg: 'pinoed started with 1 route(s)', service: 'pinoed', routes: [{ route: 'Route.charge' }] });
    expect(written.map((line) => line['msg'])).toContain('pinoed stopped');
  });
});

describe('Telemetry', () => {
  it('skips an observer that throws and still tells the others', () => {
    const seen: string[] = [];
    const telemetry = new Telemetry([{ received: () => { throw new Error('broken observer'); } }, { received: (event) => void seen.push(event.route) }]);
    expect(() => telemetry.emit('received', { context: 'default', route: 'Route.x' })).not.toThrow();
    expect(seen).toEqual(['Route.x']);
  });

  it('summarizes every route at start with its broker names and backoff, and reports each phase of the stop', async () => {
    const broker = new InMemoryBroker();
    const events: Array<[string, unknown]> = [];
    const observer: ServiceObserver = {
      started: (event) => void events.push(['started', event]),
      stopBegun: (event) => void events.push(['stopBegun', event]),
      stopDrained: (event) => void events.push(['stopDrained', event.service]),
      stopped: (event) => void events.push(['stopped', event]),
    };
    function charge(): void {}
    const { logger, written } = lines();
    const runner = new Runner({
      config: { serviceName: 'billing', logger },
      observers: [observer],
      contexts: [{ routes: [new Route({ target: charge, entrypoint: new InMemoryEventListener({ sourceService: 'shop', eventName: 'paid', broker }), backoff: new Backoff({ maxRetries: 2, interval: 100 }) })] }],
    });
    await runner.start();
    await runner.stop({ timeoutMs: 1_000 });
    expect(events).toEqual([
      ['started', {
        service: 'billing',
        routes: [{
          context: 'default',
          route: 'Route.charge',
          entrypoint: 'InMemoryEventListener',
          names: { channel: 'shop.paid', queue: 'shop.paid__billing.charge', deadLetterQueue: 'shop.paid__billing.charge.dlq' },
          backoff: { kind: 'Backoff', maxRetries: 2, intervalMs: 100 },
        }],
      }],
      ['stopBegun', { service: 'billing', timeoutMs: 1_000 }],
      ['stopDrained', 'billing'],
      ['stopped', { service: 'billing', errors: 0 }],
    ]);
    expect(written.map((line) => line['msg'])).toEqual(['billing started with 1 route(s)', 'billing stopping (deadline 1000 ms)', expect.stringMatching(/^billing drained in /), 'billing stopped']);
    expect(written.every((line) => line['service'] === 'billing')).toBe(true);
  });

  it('reports a stop that timed out with the calls still in flight', async () => {
    const broker = new InMemoryBroker();
    const timedOut: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let running = false;
    async function slow(): Promise<void> {
      running = true;
      await held;
    }
    const runner = new Runner({
      config: { serviceName: 'slowpoke', logLevel: 'silent' },
      observers: [{ stopTimedOut: (event) => void timedOut.push(event.running) }],
      contexts: [{ routes: [new Route({ target: slow, entrypoint: new InMemoryEventListener({ sourceService: 'shop', eventName: 'slow', broker }) })] }],
    });
    await runner.start();
    await broker.publish('shop.slow', { body: new TextEncoder().encode('{}'), headers: {} });
    await waitUntil(() => running, 'the call to start');
    await runner.stop({ timeoutMs: 50 });
    expect(timedOut).toEqual([1]);
    release();
  });

  it('reports and logs a final failure handed to the callback, with its attempt and error', async () => {
    const broker = new InMemoryBroker();
    const called: Array<Record<string, unknown>> = [];
    const { logger, written } = lines('warn');
    let refunded = false;
    function charge(): never {
      throw new RangeError('card expired');
    }
    const runner = new Runner({
      config: { serviceName: 'refunds', logger },
      observers: [{ callbackCalled: (event) => void called.push({ ...event }) }],
      contexts: [{ routes: [new CallbackRoute({ target: charge, entrypoint: new InMemoryEventListener({ sourceService: 'shop', eventName: 'paid', broker }), backoff: new Backoff({ maxRetries: 1, interval: 1 }), callbackTarget: () => void (refunded = true) })] }],
    });
    await runner.start();
    await broker.publish('shop.paid', { body: new TextEncoder().encode('{}'), headers: {} });
    await waitUntil(() => refunded, 'the callback');
    await runner.stop({ timeoutMs: 1_000 });
    expect(called).toEqual([{ context: 'default', route: 'CallbackRoute.charge', attempt: 2, error: { name: 'RangeError', message: 'card expired' } }]);
    expect(written.filter((line) => String(line['msg']).includes('final failure'))).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'CallbackRoute.charge: final failure after attempt 2 (RangeError: card expired); running the callback' }),
    ]);
  });
});
