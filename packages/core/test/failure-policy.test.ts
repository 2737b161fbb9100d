import { describe, expect, it } from 'vitest';
import {
  Backoff,
  ConcurrencyLimiter,
  ConsumerSupervisor,
  Telemetry,
  DeadLetterHeader,
  DeliveryLimitReached,
  EncodeError,
  ExtensionIsStopped,
  GiveBackLedger,
  InMemoryBroker,
  InMemoryEventListener,
  InMemoryRpcClient,
  InMemoryRpcListener,
  NonErrorThrown,
  Route,
  RpcTargetNotFound,
  Runner,
  abortableDelay,
  clampDelay,
  deadLetterDescription,
  decodeJson,
  describeError,
  encodeRpcReply,
  giveBackDelay,
  linearInterval,
  maxDelayMs,
  rpcErrorReply,
  rpcSuccessReply,
  safeHeaderValue,
  toError,
  type Worker,
} from '../src/index.ts';
import { DirectEntrypoint, waitUntil } from './helpers.ts';

describe('toError', () => {
  it('turns any thrown value into an Error without throwing itself', () => {
    const cyclic: Record<string, unknown> = { code: 7 };
    cyclic['self'] = cyclic;
    const trap = (): never => {
      throw new Error('trapped');
    };
    const hostile = new Proxy({}, { get: trap, getPrototypeOf: trap, ownKeys: trap, has: trap, getOwnPropertyDescriptor: trap });
    const cases: Array<[unknown, string]> = [
      ['plain', 'plain'],
      [10n, '10n'],
      [undefined, 'undefined'],
      [null, 'null'],
      [42, '42'],
      [Symbol('s'), 'Symbol(s)'],
      [cyclic, '{"code":7,"self":"[Circular]"}'],
      [{ toJSON: trap }, '[object Object]'],
      [hostile, '[unprintable value]'],
    ];
    for (const [thrown, message] of cases) {
      const error = toError(thrown);
      expect(error).toBeInstanceOf(NonErrorThrown);
      expect(error.message).toBe(message);
      expect((error as NonErrorThrown).thrown).toBe(thrown);
    }
    const original = new TypeError('kept');
    expect(toError(original)).toBe(original);
  });

  it('reads the name and message of an error that lies about them', () => {
    const liar = Object.defineProperty(new Error('x'), 'message', { get: () => { throw new Error('no'); } });
    expect(describeError(liar)).toEqual({ name: 'Error', message: '[unreadable]' });
    expect(describeError(Object.assign(new Error('m'), { name: 42 }))).toEqual({ name: '42', message: 'm' });
  });
});

describe('header values', () => {
  it('escape CR, LF and control characters, and cut long texts without splitting a surrogate pair', () => {
    expect(safeHeaderValue('a\r\nb\tc\u0000')).toBe('a\\r\\nb\tc\\u0000');
    const long = safeHeaderValue('é'.repeat(5_000), 100);
    expect(long.length).toBeLessThanOrEqual(100);
    expect(long).toMatch(/^é+ …\[\d+ more\]$/);
    const emoji = safeHeaderValue('😀'.repeat(100), 51);
    expect(emoji.length).toBeLessThanOrEqual(51);
    expect(emoji).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it('describe a dead letter safely whatever the error', () => {
    const error = Object.assign(new Error('line 1\nline 2'), { name: 'Bad\r\nName' });
    const headers = deadLetterDescription({ reason: 'exhausted', originalChannel: 'q', retry: { retryCount: 2, firstErrorTime: 5 }, error, failedAt: 9 });
    expect(headers).toEqual({
      [DeadLetterHeader.reason]: 'exhausted',
      [DeadLetterHeader.originalChannel]: 'q',
      [DeadLetterHeader.attempts]: '3',
      [DeadLetterHeader.errorName]: 'Bad\\r\\nName',
      [DeadLetterHeader.errorMessage]: 'line 1\\nline 2',
      [DeadLetterHeader.firstFailureTime]: '5',
      [DeadLetterHeader.lastFailureTime]: '9',
    });
  });
});

describe('delays', () => {
  it('never exceed what a timer honours', async () => {
    expect(clampDelay(Number.NaN)).toBe(0);
    expect(clampDelay(-5)).toBe(0);
    expect(clampDelay(Infinity)).toBe(maxDelayMs);
    expect(linearInterval({ startMs: 0, incrementMs: 1e12 })({ retryCount: 5 })).toBe(maxDelayMs);
    const backoff = new Backoff({ interval: () => 1e15 });
    expect(backoff.getInterval({ meta: { retry: { retryCount: 0 } } } as unknown as Worker)).toBe(maxDelayMs);
    const controller = new AbortController();
    const waiting = abortableDelay(maxDelayMs * 10, controller.signal);
    controller.abort(new ExtensionIsStopped('route'));
    await expect(waiting).rejects.toBeInstanceOf(ExtensionIsStopped);
  });

  it('of hand-backs double up to the cap', () => {
    const policy = { delayMs: 100, maxDelayMs: 1_000, limit: 5 };
    expect([1, 2, 3, 4, 5].map((count) => giveBackDelay(policy, count))).toEqual([100, 200, 400, 800, 1_000]);
  });
});

describe('GiveBackLedger', () => {
  it('counts per message and forgets the least recently counted past its capacity', () => {
    const ledger = new GiveBackLedger(2);
    expect(ledger.increment('a')).toBe(1);
    expect(ledger.increment('a')).toBe(2);
    ledger.increment('b');
    ledger.increment('c');
    expect(ledger.size).toBe(2);
    expect(ledger.increment('a')).toBe(1);
    ledger.forget('a');
    expect(ledger.size).toBe(1);
    const aging = new GiveBackLedger(10, 1_000);
    aging.increment('old', 0);
    aging.increment('new', 900);
    expect(aging.increment('x', 1_500)).toBe(1);
    expect(aging.increment('new', 1_600)).toBe(2);
    expect(aging.increment('old', 1_700)).toBe(1);
  });
});

describe('ConcurrencyLimiter', () => {
  it('refuses a call still waiting for a slot once its signal aborts, and never starts it', async () => {
    const limiter = new ConcurrencyLimiter(1);
    let release: () => void = () => undefined;
    const busy = limiter.run(() => new Promise<void>((resolve) => { release = resolve; }));
    const stop = new AbortController();
    let started = false;
    const queued = limiter.run(async () => { started = true; }, stop.signal);
    stop.abort(new ExtensionIsStopped('route'));
    await expect(queued).rejects.toBeInstanceOf(ExtensionIsStopped);
    release();
    await busy;
    expect(started).toBe(false);
    expect(limiter.active).toBe(0);
    await expect(limiter.run(async () => 'next')).resolves.toBe('next');
  });
});

describe('ConsumerSupervisor', () => {
  it('starts a lost loop again after a delay, retrying a failed start, and no more once stopped', async () => {
    let starts = 0;
    const failures: number[] = [];
    const supervisor = new ConsumerSupervisor({
      minDelayMs: 10,
      start: async () => {
        starts += 1;
        if (starts === 2) throw new Error('broker away');
      },
      onRestartFailed: (_error, attempt) => failures.push(attempt),
    });
    await supervisor.start();
    supervisor.lost();
    supervisor.lost(); // a second report while restarting changes nothing
    await waitUntil(() => supervisor.restarts === 1, 'the restart');
    expect(starts).toBe(3);
    expect(failures).toEqual([1]);
    supervisor.lost();
    await supervisor.stop();
    expect(starts).toBe(3);
  });

  it('starts the loop again when it is lost while a restart is starting it (the loss is not dropped)', async () => {
    const events: string[] = [];
    let starts = 0;
    const supervisor: ConsumerSupervisor = new ConsumerSupervisor({
      minDelayMs: 1,
      telemetry: new Telemetry([{ consumerCrashed: () => events.push('crashed'), consumerReplaced: () => events.push('replaced') }]),
      start: async () => {
        starts += 1;
        if (starts === 2) {
          // The new consumer crashes while its start still waits (for a first fetch, say).
          supervisor.lost(new Error('crashed during its start'));
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      },
    });
    await supervisor.start();
    supervisor.lost(new Error('first crash'));
    await waitUntil(() => starts === 3 && events.at(-1) === 'replaced', 'a third start after the loss during the second');
    expect(events).toEqual(['crashed', 'crashed', 'replaced']);
    await supervisor.stop();
  });

  it('reports no replacement when a stop came while the restart was starting the loop', async () => {
    const replaced: unknown[] = [];
    let release: () => void = () => undefined;
    let starting = false;
    let waiting = false;
    const supervisor = new ConsumerSupervisor({
      minDelayMs: 1,
      telemetry: new Telemetry([{ consumerReplaced: (event) => replaced.push(event) }]),
      start: async (signal) => {
        if (!starting) return;
        waiting = true;
        await new Promise<void>((resolve) => (release = resolve));
        if (signal.aborted) return; // released what it opened, as the contract asks
      },
    });
    await supervisor.start();
    starting = true;
    supervisor.lost();
    await waitUntil(() => waiting, 'the restart to be starting');
    const stopped = supervisor.stop();
    release();
    await stopped;
    expect(replaced).toEqual([]);
    expect(supervisor.restarts).toBe(0);
  });
});

describe('the failure policy of Entrypoint.deliver', () => {
  it('never rejects a route call whose route was refused; a stop refuses calls waiting for a slot', async () => {
    const entrypoint = new DirectEntrypoint();
    let release: () => void = () => undefined;
    const runs: number[] = [];
    const route = new Route({ target: (n: number) => { runs.push(n); return n === 0 ? new Promise<void>((resolve) => { release = resolve; }) : undefined; }, entrypoint });
    const runner = new Runner({ config: { serviceName: 'limits', maxWorkers: 1 }, contexts: [{ routes: [route] }] });
    await runner.start();
    const first = entrypoint.send([0]);
    const second = entrypoint.send([1]);
    await waitUntil(() => runs.length === 1, 'the first call');
    const stopped = runner.stop({ timeoutMs: 2_000 });
    await expect(second).rejects.toBeInstanceOf(ExtensionIsStopped);
    release();
    await first;
    await stopped;
    expect(runs).toEqual([0]);
  });

  it('stops intake of every route before any of them drains', async () => {
    const broker = new InMemoryBroker();
    const log: string[] = [];
    class Logged extends InMemoryEventListener {
      override async stopIntake() {
        log.push(`intake ${this.eventName}`);
        await super.stopIntake();
      }
      override async stop(options?: { timeoutMs?: number }) {
        log.push(`stop ${this.eventName}`);
        await super.stop(options);
      }
    }
    const routes = ['a', 'b', 'c'].map((eventName) => new Route({ target: function handle() {}, entrypoint: new Logged({ sourceService: 's', eventName, broker }) }));
    const runner = new Runner({ config: { serviceName: 'phases' }, contexts: [{ routes: routes.slice(0, 2) }, { routes: routes.slice(2) }] });
    await runner.start();
    await runner.stop();
    // Every intake stops first (a route's stop may stop its intake again: it is idempotent).
    expect(log.slice(0, 3).sort()).toEqual(['intake a', 'intake b', 'intake c']);
    expect(log.filter((line) => line.startsWith('stop')).sort()).toEqual(['stop a', 'stop b', 'stop c']);
  });

  it('a route failure is handed back after a delay, a bounded number of times, then dead-lettered', async () => {
    const broker = new InMemoryBroker();
    const listener = new InMemoryEventListener({ sourceService: 's', eventName: 'e', broker });
    class Refusing extends Backoff {
      override async retry(): Promise<Worker | null> {
        throw new Error('retry refused');
      }
    }
    const at: number[] = [];
    const route = new Route({ target: function handle() { at.push(performance.now()); throw new Error('fails'); }, entrypoint: listener, backoff: new Refusing({ maxRetries: 5 }) });
    const runner = new Runner({ config: { serviceName: 'bounded', giveBack: { delayMs: 50, limit: 3 } }, contexts: [{ routes: [route] }] });
    await runner.start();
    await broker.publish('s.e', { body: new TextEncoder().encode('{}'), headers: {} });
    await waitUntil(() => broker.depth(listener.deadLetterQueueName) === 1, 'the dead letter');
    expect(at).toHaveLength(4);
    for (let i = 1; i < at.length; i += 1) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(49);
    expect(broker.peek(listener.deadLetterQueueName)[0]?.headers[DeadLetterHeader.reason]).toBe('give-back-limit');
    await runner.stop();
  });

  it('treats a delivery limit the broker reached as spent retries', async () => {
    class Limited extends Backoff {
      override async retry(): Promise<Worker | null> {
        throw new DeliveryLimitReached('max_deliver reached');
      }
    }
    const entrypoint = new DirectEntrypoint();
    let calls = 0;
    const route = new Route({ target: () => { calls += 1; throw new Error('fails'); }, entrypoint, backoff: new Limited({ maxRetries: 5 }) });
    const runner = new Runner({ config: { serviceName: 'limited' }, contexts: [{ routes: [route] }] });
    await runner.start();
    const worker = await entrypoint.send([]);
    expect(worker?.exception?.message).toBe('fails');
    expect(calls).toBe(1);
    await runner.stop();
  });
});

describe('RPC replies', () => {
  it('encode whatever the result: an unencodable one becomes an EncodeError reply, bad error data is dropped', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    for (const data of [10n, cyclic, { toJSON: () => { throw new Error('no'); } }]) {
      const reply = decodeJson(encodeRpcReply(rpcSuccessReply(data))) as { exception: { exception: string } };
      expect(reply.exception.exception).toBe(EncodeError.name);
    }
    const withBadData = Object.assign(new Error('bad'), { data: { n: 1n } });
    expect(decodeJson(encodeRpcReply(rpcErrorReply(withBadData)))).toEqual({
      data: null,
      exception: { exception: 'Error', message: 'bad', args: ['bad'], kwargs: {}, module: null },
    });
  });

  it('in memory: a request whose caller gave up is declined, the next call works', async () => {
    const broker = new InMemoryBroker();
    const runner = new Runner({ config: { serviceName: 'calc' }, contexts: [{ routes: [new Route({ target: (a: number) => a * 2, entrypoint: new InMemoryRpcListener({ name: 'double', broker }) })] }] });
    await runner.start();
    const body = new TextEncoder().encode(JSON.stringify({ command: 'double', command_args: [2], command_kwargs: {} }));
    await expect(broker.request('calc', 'double', body, { 'x-rpc-deadline': String(Date.now() - 1) })).rejects.toThrow(/no service answers/);
    const client = new InMemoryRpcClient({ broker });
    expect(await client.call('calc', 'double', [21])).toBe(42);
    await expect(client.call('calc', 'missing')).rejects.toBeInstanceOf(RpcTargetNotFound);
    await runner.stop();
  });
});
