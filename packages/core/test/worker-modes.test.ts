import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Backoff,
  CallbackRoute,
  ConfigurationError,
  DecodeError,
  EncodeError,
  MetaDependency,
  NonErrorThrown,
  Route,
  Runner,
  WorkerCrashed,
  WorkerTimeout,
  isRetryable,
  workerTarget,
  type Worker,
  type WorkerMode,
} from '../src/index.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CardExpired, PaymentDeclined, Unnamed } from './fixtures/worker-targets.ts';
import { DirectEntrypoint, waitUntil } from './helpers.ts';

const fixtures = new URL('./fixtures/worker-targets.ts', import.meta.url);

/** An entrypoint that drains its calls on stop, as every broker's does. */
class Draining extends DirectEntrypoint {
  override async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    await this.drain(options.timeoutMs ?? 5_000);
  }
}
const runners: Runner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 2_000 }).catch(() => undefined)));
});

/** A started service of one route in `mode`; returns its entrypoint. */
async function serve(mode: WorkerMode, route: (entrypoint: DirectEntrypoint) => Route, config: Record<string, unknown> = {}): Promise<{ entrypoint: DirectEntrypoint; runner: Runner }> {
  const entrypoint = new DirectEntrypoint();
  const runner = new Runner({ config: { serviceName: `modes-${mode}`, maxWorkers: 2, workerMode: mode, ...config }, contexts: [{ routes: [route(entrypoint)] }] });
  runners.push(runner);
  await runner.start();
  return { entrypoint, runner };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** How many times a 10 ms interval fires on this event loop while `work` runs. */
async function ticksDuring(work: () => Promise<unknown>): Promise<number> {
  let ticks = 0;
  const timer = setInterval(() => (ticks += 1), 10);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return ticks;
}

describe.each(['thread', 'process'] as const)('workerMode %s', (mode) => {
  it('runs the target elsewhere, so a CPU-bound call leaves the event loop free', async () => {
    const { entrypoint } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'burn'), entrypoint: ep }));
    let worker: Worker | null = null;
    const ticks = await ticksDuring(async () => (worker = await entrypoint.send([600])));
    const result = (worker as Worker | null)?.result as { pid: number; threadId: number };
    expect((worker as Worker | null)?.exception).toBeUndefined();
    if (mode === 'thread') expect(result.threadId).not.toBe(0);
    else expect(result.pid).not.toBe(process.pid);
    // 600 ms of burning elsewhere: the interval kept firing here.
    expect(ticks).toBeGreaterThan(10);
  });

  it('passes injected values first and the call arguments after', async () => {
    const target = workerTarget(fixtures, 'withInjected', { dependencies: { meta: new MetaDependency() } });
    const { entrypoint } = await serve(mode, (ep) => new Route({ target, entrypoint: ep }));
    const worker = await entrypoint.send(['order-1'], { headers: { 'x-test': 'yes' } });
    expect(worker?.result).toBe('order-1 retry 0 header yes');
  });

  it('brings errors back with their class, own properties, cause and stack, so a Backoff filters by class', async () => {
    const backoff = new Backoff({ maxRetries: 2, interval: 1, retryOn: [PaymentDeclined] });
    const { entrypoint } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'charge'), entrypoint: ep, backoff }), { workerErrorClasses: [CardExpired] });

    const declined = await entrypoint.send(['declined', 1]);
    const error = declined?.exception as PaymentDeclined;
    expect(error).toBeInstanceOf(PaymentDeclined);
    expect({ name: error.name, message: error.message, code: error.code, amount: error.amount }).toEqual({ name: 'PaymentDeclined', message: 'declined on attempt 1', code: 'E_DECLINED', amount: 42 });
    expect(error.cause).toBeInstanceOf(RangeError);
    expect(error.stack).toContain('PaymentDeclined: declined on attempt 1');
    expect(declined?.meta.retry.retryCount, 'retried: PaymentDeclined is in retryOn').toBe(2);

    const expired = await entrypoint.send(['expired', 1]);
    expect(expired?.exception, 'a class of config.workerErrorClasses').toBeInstanceOf(CardExpired);
    expect(expired?.meta.retry.retryCount, 'not retried: CardExpired is not in retryOn').toBe(0);
  });

  it('brings an error of a class it was not told about back as an Error of that name', async () => {
    const { entrypoint } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'charge'), entrypoint: ep }));
    const expired = await entrypoint.send(['expired', 1]);
    expect(expired?.exception).toBeInstanceOf(Error);
    expect(expired?.exception).not.toBeInstanceOf(CardExpired);
    expect({ name: expired?.exception?.name, message: expired?.exception?.message }).toEqual({ name: 'CardExpired', message: 'card expired' });
  });

  it('tells errors apart by what they are, not only by their name', async () => {
    const backoff = new Backoff({ maxRetries: 1, interval: 1, retryOn: [Unnamed] });
    const { entrypoint } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'pretend'), entrypoint: ep, backoff }));
    // A subclass that never set its name is matched by its constructor's name.
    const unnamed = await entrypoint.send(['unnamed']);
    expect(unnamed?.exception).toBeInstanceOf(Unnamed);
    expect(unnamed?.meta.retry.retryCount).toBe(1);
    // A user error called DecodeError is not the framework's (it would be dead-lettered as undecodable).
    const { entrypoint: plain } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'pretend'), entrypoint: ep }));
    const decodeNamed = await plain.send(['decode']);
    expect(decodeNamed?.exception?.name).toBe('DecodeError');
    expect(decodeNamed?.exception).not.toBeInstanceOf(DecodeError);
    expect(isRetryable(decodeNamed?.exception)).toBe(true);
  });

  it('refuses two error classes of one name, which it could not tell apart', async () => {
    const Twin = class CardExpired extends Error {};
    const runner = new Runner({
      config: { serviceName: 'twins', workerMode: mode, workerErrorClasses: [CardExpired, Twin] },
      contexts: [{ routes: [new Route({ target: workerTarget(fixtures, 'charge'), entrypoint: new DirectEntrypoint() })] }],
    });
    await expect(runner.start()).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('keeps every call when threads or processes are replaced under concurrent calls', async () => {
    const { entrypoint } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'whereAmI'), entrypoint: ep }), { maxWorkers: 2, maxTasksPerWorker: 1 });
    const workers = await Promise.all(Array.from({ length: 12 }, (_, i) => entrypoint.send([`call ${i}`])));
    expect(workers.map((worker) => worker?.exception?.message ?? (worker?.result as { label: string }).label)).toEqual(Array.from({ length: 12 }, (_, i) => `call ${i}`));
  });

  it('turns a thrown non-Error into NonErrorThrown carrying the value', async () => {
    const { entrypoint } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'charge'), entrypoint: ep }));
    const thrownString = await entrypoint.send(['string', 1]);
    expect(thrownString?.exception).toBeInstanceOf(NonErrorThrown);
    expect((thrownString?.exception as NonErrorThrown).thrown).toBe('a plain string');
    const thrownObject = await entrypoint.send(['object', 2]);
    expect((thrownObject?.exception as NonErrorThrown).thrown).toEqual({ code: 'E_OBJECT', attempt: 2 });
  });

  it('fails only the call whose thread or process died, with a retryable WorkerCrashed, and replaces it', async () => {
    const { entrypoint } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'crash'), entrypoint: ep }), { maxWorkers: 1 });
    const crashed = await entrypoint.send([3]);
    expect(crashed?.exception).toBeInstanceOf(WorkerCrashed);
    expect(isRetryable(crashed?.exception)).toBe(true);
    // The pool goes on: another call that crashes again gets a fresh thread or process, and fails the same way.
    const again = await entrypoint.send([4]);
    expect(again?.exception).toBeInstanceOf(WorkerCrashed);
  });

  it('fails a call past workerTimeoutMs with a retryable WorkerTimeout and replaces its thread or process', async () => {
    const entrypoint = new DirectEntrypoint();
    const other = new DirectEntrypoint();
    const runner = new Runner({
      // 2 s: the call after the timeout includes the replacement's start, which a loaded CI machine can make slow.
      config: { serviceName: `timeout-${mode}`, maxWorkers: 1, workerMode: mode, workerTimeoutMs: 2_000 },
      contexts: [{ routes: [new Route({ target: workerTarget(fixtures, 'hang'), entrypoint }), new Route({ target: workerTarget(fixtures, 'whereAmI'), entrypoint: other })] }],
    });
    runners.push(runner);
    await runner.start();
    const before = (await other.send(['before']))?.result as { pid: number; threadId: number };
    const hung = await entrypoint.send([]);
    expect(hung?.exception).toBeInstanceOf(WorkerTimeout);
    expect(isRetryable(hung?.exception)).toBe(true);
    const after = (await other.send(['after']))?.result as { pid: number; threadId: number; label: string };
    expect(after.label).toBe('after');
    if (mode === 'process') {
      expect(after.pid).not.toBe(before.pid);
      await waitUntil(() => !alive(before.pid), 'the timed-out process to be gone');
    } else expect(after.threadId).not.toBe(before.threadId);
  });

  it('ends a stop as soon as a call in flight timed out, not at the stop deadline', async () => {
    const entrypoint = new Draining();
    const runner = new Runner({ config: { serviceName: `stop-timeout-${mode}`, maxWorkers: 2, workerMode: mode, workerTimeoutMs: 300 }, contexts: [{ routes: [new Route({ target: workerTarget(fixtures, 'hang'), entrypoint })] }] });
    runners.push(runner);
    await runner.start();
    const call = entrypoint.send([]);
    await waitUntil(() => runner.contexts[0]!.activeWorkers === 1, 'the call to run');
    const began = Date.now();
    await runner.stop({ timeoutMs: 20_000 });
    // Liveness, not speed: the stop does not wait out its 20 s deadline for a pool with nothing left.
    expect(Date.now() - began).toBeLessThan(10_000);
    expect((await call)?.exception).toBeInstanceOf(WorkerTimeout);
  });

  it('replaces a thread or process after maxTasksPerWorker calls', async () => {
    const { entrypoint } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'whereAmI'), entrypoint: ep }), { maxWorkers: 1, maxTasksPerWorker: 2 });
    const seen: string[] = [];
    for (let call = 0; call < 6; call += 1) {
      const { pid, threadId } = (await entrypoint.send([`call ${call}`]))?.result as { pid: number; threadId: number };
      seen.push(mode === 'process' ? `pid ${pid}` : `thread ${threadId}`);
    }
    expect(new Set(seen).size).toBe(3);
    expect(seen[0]).toBe(seen[1]);
    expect(seen[1]).not.toBe(seen[2]);
  });

  it('refuses arguments and results that cannot be cloned with a non-retryable EncodeError', async () => {
    const backoff = new Backoff({ maxRetries: 3, interval: 1 });
    const { entrypoint } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'whereAmI'), entrypoint: ep, backoff }));
    const badArgument = await entrypoint.send([() => 'a function']);
    expect(badArgument?.exception).toBeInstanceOf(EncodeError);
    expect(badArgument?.meta.retry.retryCount).toBe(0);

    const { entrypoint: second } = await serve(mode, (ep) => new Route({ target: workerTarget(fixtures, 'unclonable'), entrypoint: ep, backoff }));
    const badResult = await second.send([]);
    expect(badResult?.exception).toBeInstanceOf(EncodeError);
    expect(badResult?.meta.retry.retryCount).toBe(0);
    // The pool still answers afterwards.
    expect(((await entrypoint.send(['fine']))?.result as { label: string }).label).toBe('fine');
  });

  it('runs a callback in the pool with the failure rebuilt there', async () => {
    const { entrypoint } = await serve(mode, (ep) => new CallbackRoute({ target: workerTarget(fixtures, 'charge'), callbackTarget: workerTarget(fixtures, 'callback'), entrypoint: ep }));
    const worker = await entrypoint.send(['declined', 7]);
    expect(worker?.result).toBe('declined failed with PaymentDeclined: declined on attempt 7 (an Error, amount 42)');
  });

  it('refuses to start with a target given as a function', async () => {
    const runner = new Runner({ config: { serviceName: 'plain', workerMode: mode }, contexts: [{ routes: [new Route({ target: function handle() {}, entrypoint: new DirectEntrypoint() })] }] });
    await expect(runner.start()).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('lets calls in flight finish on stop, then ends the pool', async () => {
    const entrypoint = new Draining();
    const runner = new Runner({ config: { serviceName: `drain-${mode}`, maxWorkers: 2, workerMode: mode }, contexts: [{ routes: [new Route({ target: workerTarget(fixtures, 'slow'), entrypoint })] }] });
    runners.push(runner);
    await runner.start();
    const calls = [entrypoint.send([300, 'a']), entrypoint.send([300, 'b'])];
    await waitUntil(() => runner.contexts[0]!.activeWorkers === 2, 'both calls to be running');
    await runner.stop({ timeoutMs: 5_000 });
    expect((await Promise.all(calls)).map((worker) => worker?.exception?.message ?? worker?.result)).toEqual(['done a', 'done b']);
  });
});

describe('workerMode process: the pool under faults', () => {
  it('fails the calls whose process cannot start, without leaving any waiting, and starts processes again once it can', async () => {
    const { entrypoint } = await serve('process', (ep) => new Route({ target: workerTarget(fixtures, 'whereAmI'), entrypoint: ep }), { maxWorkers: 1 });
    const saved = process.env['NODE_OPTIONS'];
    process.env['NODE_OPTIONS'] = `${saved ?? ''} --require /nonexistent/preload.cjs`;
    let failed: Array<Worker | null>;
    try {
      failed = await Promise.all([entrypoint.send(['a']), entrypoint.send(['b']), entrypoint.send(['c'])]);
    } finally {
      if (saved === undefined) delete process.env['NODE_OPTIONS'];
      else process.env['NODE_OPTIONS'] = saved;
    }
    for (const worker of failed) expect(worker?.exception).toBeInstanceOf(WorkerCrashed);
    expect(((await entrypoint.send(['d']))?.result as { label: string }).label).toBe('d');
  });

  it('lets a call finish when its process gets SIGTERM (a signal to the whole process group), and survives a rejection a target left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'worker-modes-'));
    try {
      const entrypoint = new DirectEntrypoint();
      const other = new DirectEntrypoint();
      const runner = new Runner({
        config: { serviceName: 'signals', maxWorkers: 1, workerMode: 'process' },
        contexts: [{ routes: [new Route({ target: workerTarget(fixtures, 'slowWithPid'), entrypoint }), new Route({ target: workerTarget(fixtures, 'leaveRejection'), entrypoint: other })] }],
      });
      runners.push(runner);
      await runner.start();
      const file = join(dir, 'pid');
      const call = entrypoint.send([file, 500]);
      await waitUntil(() => readFileSync(file, { encoding: 'utf8', flag: 'a+' }).length > 0, 'the call to start');
      const pid = Number(readFileSync(file, 'utf8'));
      process.kill(pid, 'SIGTERM');
      expect((await call)?.result).toBe('done');
      // A target that leaves a rejected promise behind does not take its process (and the next call) down.
      const first = (await other.send([]))?.result as { pid: number };
      const second = (await other.send([]))?.result as { pid: number };
      expect(second.pid).toBe(first.pid);
      expect(first.pid).toBe(pid);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('workerMode process: no child process outlives the service', () => {
  const script = fileURLToPath(new URL('./fixtures/process-mode-service.ts', import.meta.url));

  /** Starts the service script; resolves with it and the pid of its child process running the hanging call. */
  async function start(): Promise<{ service: ReturnType<typeof spawn>; child: number }> {
    const service = spawn(process.execPath, ['--conditions=@micro-framework/source', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    service.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitUntil(() => /CHILD \d+/.test(output), 'the child process to announce itself', 20_000);
    return { service, child: Number(/CHILD (\d+)/.exec(output)![1]) };
  }

  it('on SIGTERM with a call still running past the stop timeout', async () => {
    const { service, child } = await start();
    expect(alive(child)).toBe(true);
    const exited = new Promise((resolve) => service.once('exit', resolve));
    service.kill('SIGTERM');
    await exited;
    await waitUntil(() => !alive(child), 'the child process to be gone', 10_000);
  });

  it('when the service is killed outright (SIGKILL)', async () => {
    const { service, child } = await start();
    service.kill('SIGKILL');
    await waitUntil(() => !alive(child), 'the child process to be gone', 10_000);
  });
});

describe('workerMode async', () => {
  it('runs a workerTarget on the event loop, which a CPU-bound call blocks (why the other modes exist)', async () => {
    const { entrypoint } = await serve('async', (ep) => new Route({ target: workerTarget(fixtures, 'burn'), entrypoint: ep }));
    let worker: Worker | null = null;
    const ticks = await ticksDuring(async () => (worker = await entrypoint.send([600])));
    expect(((worker as Worker | null)?.result as { pid: number }).pid).toBe(process.pid);
    expect(ticks).toBeLessThanOrEqual(1);
  });

  it('rejects an unknown workerMode at start', async () => {
    const runner = new Runner({ config: { serviceName: 'bad', workerMode: 'fibers' }, contexts: [{ routes: [new Route({ target: workerTarget(fixtures, 'burn'), entrypoint: new DirectEntrypoint() })] }] });
    await expect(runner.start()).rejects.toBeInstanceOf(ConfigurationError);
  });
});
