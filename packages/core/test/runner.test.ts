import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  Extension,
  ExtensionIsStopped,
  Route,
  Runner,
  RunnerContext,
  TimeEntrypoint,
  mergeConfig,
} from '../src/index.ts';
import { DirectEntrypoint, waitUntil } from './helpers.ts';

class Recorder extends Extension {
  readonly name: string;
  readonly log: string[];
  constructor(name: string, log: string[]) { super(); this.name = name; this.log = log; }
  override async setup() { this.log.push(`${this.name}:setup`); }
  override async start() { this.log.push(`${this.name}:start`); }
  override async stop() { this.log.push(`${this.name}:stop`); }
}

describe('config', () => {
  it('merges runner defaults with context overrides and validates', () => {
    expect(mergeConfig({ serviceName: 'a', maxWorkers: 2, url: 'x' }, { maxWorkers: 5 })).toEqual({ serviceName: 'a', maxWorkers: 5, url: 'x' });
    expect(mergeConfig({ serviceName: 'a' }).maxWorkers).toBe(10);
    expect(() => mergeConfig({ serviceName: '' })).toThrow(ConfigurationError);
    expect(() => mergeConfig({ serviceName: 'a', maxWorkers: 0 })).toThrow(ConfigurationError);
  });
});

describe('Runner', () => {
  it('sets up and starts extensions in order and stops them in reverse', async () => {
    const log: string[] = [];
    const runner = new Runner({
      config: { serviceName: 'svc' },
      contexts: [{ routes: [], extensions: [new Recorder('a', log), new Recorder('b', log)] }, { routes: [], extensions: [new Recorder('c', log)] }],
    });
    await runner.start();
    await runner.stop();
    expect(log).toEqual(['a:setup', 'b:setup', 'c:setup', 'a:start', 'b:start', 'c:start', 'c:stop', 'b:stop', 'a:stop']);
    await expect(runner.start()).rejects.toBeInstanceOf(ExtensionIsStopped);
  });

  it('a stop during start lets the current step finish, starts nothing more, and stops what started', async () => {
    const log: string[] = [];
    let release: (() => void) | undefined;
    class Slow extends Recorder {
      override async setup() {
        await new Promise<void>((resolve) => { release = resolve; });
        await super.setup();
      }
    }
    const runner = new Runner({
      config: { serviceName: 'svc' },
      contexts: [{ routes: [], extensions: [new Slow('a', log)] }, { routes: [], extensions: [new Recorder('b', log)] }],
    });
    const starting = runner.start();
    await waitUntil(() => release !== undefined, 'the slow setup');
    const stopping = runner.stop();
    release!();
    await expect(starting).rejects.toBeInstanceOf(ExtensionIsStopped);
    await stopping;
    expect(log).toEqual(['a:setup', 'b:stop', 'a:stop']);
    expect(runner.state).toBe('stopped');
  });

  it('rejects an invalid give-back policy when it binds, not at the first failure', async () => {
    const runner = new Runner({ config: { serviceName: 'svc', giveBack: { limit: '5' } }, contexts: [{ routes: [] }] });
    await expect(runner.start()).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('gives each context its merged config and its own concurrency limit', async () => {
    const context = new RunnerContext({ routes: [], config: { maxWorkers: 3 } });
    const runner = new Runner({ config: { serviceName: 'svc', maxWorkers: 7 }, contexts: [context, { routes: [] }] });
    await runner.start();
    expect(context.config.maxWorkers).toBe(3);
    expect(runner.contexts[1]?.config.maxWorkers).toBe(7);
    await runner.stop();
  });

  it('limits concurrent workers to maxWorkers across the routes of a context', async () => {
    const entries = [new DirectEntrypoint(), new DirectEntrypoint()];
    let active = 0;
    let peak = 0;
    const slow = async () => { active += 1; peak = Math.max(peak, active); await new Promise((r) => setTimeout(r, 20)); active -= 1; };
    const context = new RunnerContext({ routes: entries.map((entrypoint) => new Route({ target: slow, entrypoint })), config: { maxWorkers: 3 } });
    const runner = new Runner({ config: { serviceName: 'svc' }, contexts: [context] });
    await runner.start();
    await Promise.all(Array.from({ length: 12 }, (_, i) => entries[i % 2]!.send([])));
    expect(peak).toBe(3);
    expect(context.peakWorkers).toBe(3);
    expect(context.metrics('Route.slow')).toMatchObject({ started: 12, succeeded: 12, failed: 0, active: 0 });
    await runner.stop();
  });

  it('shares one instance of a shared extension per context, stopped after the routes', async () => {
    const log: string[] = [];
    const context = new RunnerContext({ routes: [] });
    const runner = new Runner({ config: { serviceName: 'svc' }, contexts: [context] });
    await runner.start();
    const [a, b] = await Promise.all([context.shared('conn', () => new Recorder('conn', log)), context.shared('conn', () => new Recorder('other', log))]);
    expect(a).toBe(b);
    await runner.stop();
    expect(log).toEqual(['conn:setup', 'conn:start', 'conn:stop']);
  });

  it('a stop ends near its deadline even when an entrypoint or extension never finishes stopping (its connection flapping, say)', async () => {
    const never = new Promise<void>(() => undefined);
    class HangsOnIntake extends DirectEntrypoint { override async stopIntake() { await never; } }
    class HangsOnStop extends DirectEntrypoint { override async stop() { await never; } }
    class HangingExtension extends Extension { override async stop() { await never; } }
    const log: string[] = [];
    for (const build of [
      () => ({ routes: [new Route({ target: function intake() {}, entrypoint: new HangsOnIntake() })] }),
      () => ({ routes: [new Route({ target: function close() {}, entrypoint: new HangsOnStop() })] }),
      () => ({ routes: [], extensions: [new HangingExtension(), new Recorder('after', log)] }),
    ]) {
      const runner = new Runner({ config: { serviceName: 'svc' }, contexts: [build()] });
      await runner.start();
      let ended: 'resolved' | 'rejected' | undefined;
      const stopping = runner.stop({ timeoutMs: 200 }).then(() => void (ended = 'resolved'), (error: unknown) => {
        ended = 'rejected';
        expect(String((error as AggregateError).errors?.[0])).toMatch(/StopTimedOut|did not stop/);
      });
      await waitUntil(() => ended !== undefined, 'the stop to end past its deadline', 10_000);
      await stopping;
      expect(ended).toBe('rejected');
      expect(runner.state).toBe('stopped');
    }
    expect(log).toEqual(['after:setup', 'after:start', 'after:stop']);
  });

  it('stops what started when start fails', async () => {
    const log: string[] = [];
    class Failing extends Extension { override async start() { throw new Error('cannot start'); } }
    const runner = new Runner({ config: { serviceName: 'svc' }, contexts: [{ routes: [], extensions: [new Recorder('a', log), new Failing()] }] });
    await expect(runner.start()).rejects.toThrow('cannot start');
    expect(log).toContain('a:stop');
    expect(runner.state).toBe('stopped');
  });
});

describe('TimeEntrypoint', () => {
  it('calls the route every interval without overlapping calls, and stops cleanly', async () => {
    let calls = 0;
    let overlapping = false;
    let active = false;
    const tick = async () => { overlapping ||= active; active = true; calls += 1; await new Promise((r) => setTimeout(r, 15)); active = false; };
    const runner = new Runner({ config: { serviceName: 'timer' }, contexts: [{ routes: [new Route({ target: tick, entrypoint: new TimeEntrypoint({ intervalMs: 5, eager: true }) })] }] });
    await runner.start();
    await waitUntil(() => calls >= 3, '3 ticks');
    await runner.stop();
    const after = calls;
    expect(overlapping).toBe(false);
    expect(active).toBe(false);
    await new Promise((r) => setTimeout(r, 30));
    expect(calls).toBe(after);
  });

  it('rejects a non-positive interval', () => {
    expect(() => new TimeEntrypoint({ intervalMs: 0 })).toThrow(RangeError);
  });
});
