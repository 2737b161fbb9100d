import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  Backoff,
  CallbackRoute,
  CallbackWorker,
  DecodeError,
  ExtensionIsStopped,
  JsonTranslator,
  NonRetryableError,
  Route,
  Runner,
  Worker,
  markNonRetryable,
  Entrypoint,
  type MessageTranslator,
  type WorkerOptions,
} from '../src/index.ts';
import { DirectEntrypoint, startRunner, waitUntil } from './helpers.ts';

const runners: Runner[] = [];
async function serve(routes: Route[], maxWorkers = 10): Promise<void> {
  runners.push(await startRunner(routes, { maxWorkers }));
}
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 1000 })));
});

describe('Route', () => {
  it('exposes the seed members with their options', () => {
    const entrypoint = new DirectEntrypoint();
    const backoff = new Backoff({ maxRetries: 1, interval: 0 });
    const translators = [new JsonTranslator()];
    function handleOrder(): void {}
    const route = new Route({ target: handleOrder, entrypoint, backoff, translators });
    expect(route.entrypoint).toBe(entrypoint);
    expect(route.backoff).toBe(backoff);
    expect(route.translators).toEqual(translators);
    expect(route.metricLabel).toBe('Route.handleOrder');
    expect(new Route({ target: handleOrder, entrypoint: new DirectEntrypoint(), metricLabel: 'orders' }).metricLabel).toBe('orders');
    expect(entrypoint.route).toBe(route);
  });

  it('runs a sync or async target and returns the finished worker', async () => {
    const sync = new DirectEntrypoint();
    const async_ = new DirectEntrypoint();
    await serve([
      new Route({ target: (a: number, b: number) => a + b, entrypoint: sync }),
      new Route({ target: async (a: number) => a * 2, entrypoint: async_ }),
    ]);
    const first = await sync.send([2, 3]);
    expect(first?.result).toBe(5);
    expect(first?.finished).toBe(true);
    expect(first?.exception).toBeUndefined();
    expect((await async_.send([21]))?.result).toBe(42);
  });

  it('records a target error on the worker instead of throwing', async () => {
    const entrypoint = new DirectEntrypoint();
    await serve([new Route({ target: () => { throw new TypeError('bad'); }, entrypoint })]);
    const worker = await entrypoint.send([]);
    expect(worker?.exception).toBeInstanceOf(TypeError);
    expect(worker?.exception?.message).toBe('bad');
  });

  it('calls a method of an object target, and of a class instantiated per worker', async () => {
    const objectEntry = new DirectEntrypoint();
    const classEntry = new DirectEntrypoint();
    const service = { factor: 3, multiply(x: number) { return x * this.factor; } };
    const instances: object[] = [];
    class Counter {
      calls = 0;
      constructor() { instances.push(this); }
      handle(): number { this.calls += 1; return this.calls; }
    }
    await serve([
      new Route({ target: service, methodName: 'multiply', entrypoint: objectEntry }),
      new Route({ target: Counter, methodName: 'handle', entrypoint: classEntry }),
    ]);
    expect((await objectEntry.send([5]))?.result).toBe(15);
    expect((await classEntry.send([]))?.result).toBe(1);
    expect((await classEntry.send([]))?.result).toBe(1);
    expect(instances).toHaveLength(2);
  });

  it('applies translators in order before the target and keeps the delivered args', async () => {
    const entrypoint = new DirectEntrypoint();
    const seen: unknown[][] = [];
    const addOne: MessageTranslator = { translate: (args) => args.map((v) => (v as { n: number }).n + 1) };
    await serve([new Route({ target: (...args: unknown[]) => { seen.push(args); }, entrypoint, translators: [new JsonTranslator(), addOne] })]);
    const worker = await entrypoint.send(['{"n":1}']);
    expect(seen).toEqual([[2]]);
    expect(worker?.args).toEqual(['{"n":1}']);
    expect(worker?.translatedArgs).toEqual([2]);
  });

  it('turns a translator failure into a DecodeError without calling the target', async () => {
    const entrypoint = new DirectEntrypoint();
    let calls = 0;
    const backoff = new Backoff({ maxRetries: 5, interval: 0 });
    await serve([new Route({ target: () => { calls += 1; }, entrypoint, backoff, translators: [new JsonTranslator()] })]);
    const worker = await entrypoint.send(['{not json']);
    expect(worker?.exception).toBeInstanceOf(DecodeError);
    expect(calls).toBe(0);
  });

  it('retries in process while the backoff allows, then returns the last worker', async () => {
    const entrypoint = new DirectEntrypoint();
    const retryCounts: number[] = [];
    let calls = 0;
    const target = (_: unknown, ...rest: unknown[]) => { calls += 1; if (calls < 3) throw new Error(`fail ${calls}`); return rest.length; };
    const route = new Route({ target, entrypoint, backoff: new Backoff({ maxRetries: 3, interval: 1 }) });
    const original = route.runWorker.bind(route);
    route.runWorker = async (entryId, worker) => { retryCounts.push(worker.meta.retry.retryCount); return original(entryId, worker); };
    await serve([route]);
    const worker = await entrypoint.send(['x']);
    expect(calls).toBe(3);
    expect(worker?.exception).toBeUndefined();
    expect(retryCounts).toEqual([0, 1, 2]);
    expect(worker?.meta.retry.lastErrorMessage).toBe('fail 2');
    expect(worker?.meta.retry.firstErrorTime).toBeTypeOf('number');
  });

  it('stops retrying at maxRetries and returns the failed worker', async () => {
    const entrypoint = new DirectEntrypoint();
    let calls = 0;
    await serve([new Route({ target: () => { calls += 1; throw new Error('always'); }, entrypoint, backoff: new Backoff({ maxRetries: 2, interval: 0 }) })]);
    const worker = await entrypoint.send([]);
    expect(calls).toBe(3);
    expect(worker?.exception?.message).toBe('always');
    expect(worker?.meta.retry.retryCount).toBe(2);
  });

  it('does not retry non-retryable errors nor errors outside retryOn', async () => {
    class Transient extends Error {}
    const entries = [new DirectEntrypoint(), new DirectEntrypoint(), new DirectEntrypoint()];
    const calls = [0, 0, 0];
    const backoff = new Backoff({ maxRetries: 3, interval: 0, retryOn: [Transient] });
    await serve([
      new Route({ target: () => { calls[0]! += 1; throw new NonRetryableError('no'); }, entrypoint: entries[0]!, backoff }),
      new Route({ target: () => { calls[1]! += 1; throw markNonRetryable(new Transient('marked')); }, entrypoint: entries[1]!, backoff }),
      new Route({ target: () => { calls[2]! += 1; throw new RangeError('other class'); }, entrypoint: entries[2]!, backoff }),
    ]);
    for (const entry of entries) await entry.send([]);
    expect(calls).toEqual([1, 1, 1]);
  });

  it('lets handleFinishedWorker replace the outcome', async () => {
    class CountingRoute extends Route {
      finished: Array<Worker | null> = [];
      override async handleFinishedWorker(entryId: unknown, worker: Worker | null) {
        this.finished.push(worker);
        return super.handleFinishedWorker(entryId, worker);
      }
    }
    const entrypoint = new DirectEntrypoint();
    const route = new CountingRoute({ target: () => 'ok', entrypoint });
    await serve([route]);
    const worker = await entrypoint.send([]);
    expect(route.finished).toEqual([worker]);
  });

  it('uses a custom workerClass', async () => {
    class TaggingWorker extends Worker {
      constructor(options: WorkerOptions) { super({ ...options, args: [...options.args, 'tag'] }); }
    }
    const entrypoint = new DirectEntrypoint();
    await serve([new Route({ target: (...args: unknown[]) => args, entrypoint, workerClass: TaggingWorker })]);
    expect((await entrypoint.send(['a']))?.result).toEqual(['a', 'tag']);
  });

  it('rejects startRoute with ExtensionIsStopped once stopped, and cuts an in-process backoff wait short', async () => {
    const entrypoint = new DirectEntrypoint();
    const runner = await startRunner([new Route({ target: () => { throw new Error('x'); }, entrypoint, backoff: new Backoff({ maxRetries: 1, interval: 60_000 }) })]);
    const waiting = entrypoint.send([]);
    await new Promise((resolve) => setImmediate(resolve));
    const started = Date.now();
    await runner.stop({ timeoutMs: 10_000 });
    await expect(waiting).rejects.toBeInstanceOf(ExtensionIsStopped);
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect(entrypoint.send([])).rejects.toBeInstanceOf(ExtensionIsStopped);
  });
});

describe('CallbackRoute', () => {
  it('runs the callback once with the translated args and the error after retries are spent', async () => {
    const entrypoint = new DirectEntrypoint();
    const callbacks: unknown[][] = [];
    let calls = 0;
    await serve([
      new CallbackRoute({
        target: () => { calls += 1; throw new Error('boom'); },
        entrypoint,
        translators: [new JsonTranslator()],
        backoff: new Backoff({ maxRetries: 2, interval: 0 }),
        callbackTarget: (...args: unknown[]) => { callbacks.push(args); return 'compensated'; },
      }),
    ]);
    const worker = await entrypoint.send(['{"id":7}']);
    expect(calls).toBe(3);
    expect(callbacks).toHaveLength(1);
    expect(callbacks[0]?.[0]).toEqual({ id: 7 });
    expect((callbacks[0]?.[1] as Error).message).toBe('boom');
    expect(worker).toBeInstanceOf(CallbackWorker);
    expect(worker?.result).toBe('compensated');
    expect(worker?.exception).toBeUndefined();
  });

  it('returns the callback failure as the route outcome', async () => {
    const entrypoint = new DirectEntrypoint();
    await serve([new CallbackRoute({ target: () => { throw new Error('first'); }, entrypoint, callbackTarget: () => { throw new Error('callback failed'); } })]);
    expect((await entrypoint.send([]))?.exception?.message).toBe('callback failed');
  });

  it('does not call the callback on success, on a decode error, or when a retry was scheduled', async () => {
    const entries = [new DirectEntrypoint(), new DirectEntrypoint()];
    let callbacks = 0;
    const callbackTarget = () => { callbacks += 1; };
    await serve([
      new CallbackRoute({ target: () => 'fine', entrypoint: entries[0]!, callbackTarget }),
      new CallbackRoute({ target: () => 'never', entrypoint: entries[1]!, callbackTarget, translators: [new JsonTranslator()] }),
    ]);
    expect((await entries[0]!.send([]))?.result).toBe('fine');
    expect((await entries[1]!.send(['{']))?.exception).toBeInstanceOf(DecodeError);
    const route = new CallbackRoute({ target: () => 1, entrypoint: new DirectEntrypoint(), callbackTarget });
    expect(await route.handleFinishedWorker('id', null)).toBeNull();
    expect(callbacks).toBe(0);
  });
});

describe('listener naming', () => {
  it('refuses an unnamed target for a listener and accepts a named one', async () => {
    const { listenerTargetName, inject: injectFn } = await import('../src/index.ts');
    const anonymous = new Route({ target: injectFn({}, () => 1), entrypoint: new DirectEntrypoint() });
    expect(() => listenerTargetName(anonymous)).toThrow(/named function/);
    const named = new Route({ target: injectFn({}, function handleOrder() { return 1; }), entrypoint: new DirectEntrypoint() });
    expect(listenerTargetName(named)).toBe('handleOrder');
  });
});

describe('the steps of a delivery', () => {
  class DeliveringEntrypoint extends Entrypoint<string> {
    readonly acked: string[] = [];
    send(id: string, payload: unknown) {
      return this.deliver(id, { body: Buffer.from(JSON.stringify(payload)), headers: {}, channel: 'orders' }, {
        giveBackDelay: 'none',
        ack: (delivery) => void this.acked.push(delivery),
        deadLetter: async () => undefined,
        giveBack: () => undefined,
      });
    }
  }

  it('go through the prototype methods a spy or an instrumentation replaced, each once per message', async () => {
    const spies = [
      vi.spyOn(Entrypoint.prototype, 'decide'),
      vi.spyOn(Entrypoint.prototype, 'callRoute'),
      vi.spyOn(Route.prototype, 'getWorkerInstance'),
      vi.spyOn(Route.prototype, 'runWorker'),
      vi.spyOn(Route.prototype, 'handleFinishedWorker'),
      vi.spyOn(Worker.prototype as unknown as { invoke: () => Promise<unknown> }, 'invoke'),
    ];
    try {
      const entrypoint = new DeliveringEntrypoint();
      const seen: unknown[] = [];
      function handleOrder(order: unknown): void {
        seen.push(order);
      }
      await serve([new Route({ target: handleOrder, entrypoint })]);
      expect(await entrypoint.send('a', { id: 1 })).toBe('acked');
      expect(seen).toEqual([{ id: 1 }]);
      expect(entrypoint.acked).toEqual(['a']);
      for (const spy of spies) expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  it('are the same without spies: the message is decoded, run, acked and counted in flight until then', async () => {
    const entrypoint = new DeliveringEntrypoint();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    async function handleOrder(): Promise<void> {
      await released;
    }
    await serve([new Route({ target: handleOrder, entrypoint })]);
    const settled = entrypoint.send('b', { id: 2 });
    await waitUntil(() => entrypoint.inFlightCount === 1, 'the delivery in flight');
    release();
    expect(await settled).toBe('acked');
    expect(entrypoint.inFlightCount).toBe(0);
    expect(entrypoint.acked).toEqual(['b']);
  });
});

