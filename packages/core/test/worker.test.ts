import { describe, expect, it } from 'vitest';
import {
  BackoffContext,
  ConfigDependency,
  MetaDependency,
  Worker,
  createMeta,
  inject,
  mergeConfig,
  type Dependency,
} from '../src/index.ts';

const config = mergeConfig({ serviceName: 'unit' });

function recordingDependency(log: string[], name: string): Dependency<string> {
  return {
    setup: () => { log.push(`${name}:setup`); },
    get: () => { log.push(`${name}:get`); return `${name}-value`; },
    afterCall: () => { log.push(`${name}:after`); },
  };
}

describe('Worker', () => {
  it('resolves injected dependencies per call, passes them first, releases them after the call', async () => {
    const log: string[] = [];
    const target = inject({ a: recordingDependency(log, 'a'), b: recordingDependency(log, 'b') }, (deps, x: number) => {
      log.push(`call:${deps.a}:${deps.b}:${x}`);
      return x + 1;
    });
    const worker = await new Worker({ target, config, args: [1], meta: createMeta() }).run();
    expect(worker.result).toBe(2);
    expect(log).toEqual(['a:setup', 'a:get', 'b:setup', 'b:get', 'call:a-value:b-value:1', 'b:after', 'a:after']);
  });

  it('releases dependencies when the target throws', async () => {
    const log: string[] = [];
    const target = inject({ a: recordingDependency(log, 'a') }, () => { throw new Error('fail'); });
    const worker = await new Worker({ target, config, args: [], meta: createMeta() }).run();
    expect(worker.exception?.message).toBe('fail');
    expect(log).toEqual(['a:setup', 'a:get', 'a:after']);
  });

  it('injects the retry context, the config and the meta', async () => {
    const target = inject(
      { retry: new BackoffContext(), config: new ConfigDependency(), meta: new MetaDependency() },
      ({ retry, config: cfg, meta }) => [retry.retryCount, cfg.serviceName, meta.headers['h']],
    );
    const meta = createMeta({ headers: { h: 'v' }, retry: { retryCount: 2 } });
    expect((await new Worker({ target, config, args: [], meta }).run()).result).toEqual([2, 'unit', 'v']);
  });

  it('sets a class target\'s static dependencies on its per-worker instance', async () => {
    class Greeter {
      static dependencies = { config: new ConfigDependency() };
      declare config: { serviceName: string };
      greet(name: string): string { return `${this.config.serviceName} greets ${name}`; }
    }
    const worker = await new Worker({ target: Greeter, methodName: 'greet', config, args: ['ann'], meta: createMeta() }).run();
    expect(worker.result).toBe('unit greets ann');
  });

  it('supports inject on a method of a class target', async () => {
    class Handler {
      handle = inject({ retry: new BackoffContext() }, ({ retry }, x: number) => x + retry.retryCount);
    }
    const meta = createMeta({ retry: { retryCount: 4 } });
    expect((await new Worker({ target: Handler, methodName: 'handle', config, args: [1], meta }).run()).result).toBe(5);
  });

  it('refuses to run an injected target outside a worker', async () => {
    const target = inject({}, () => 1);
    await expect(target()).rejects.toThrow(/inside a worker/);
  });

  it('fails the call when a dependency cannot be resolved', async () => {
    const broken: Dependency = { get: () => { throw new Error('no connection'); } };
    let called = false;
    const target = inject({ broken }, () => { called = true; });
    const worker = await new Worker({ target, config, args: [], meta: createMeta() }).run();
    expect(worker.exception?.message).toBe('no connection');
    expect(called).toBe(false);
  });

  it('reports a missing method as an error of the call', async () => {
    const worker = await new Worker({ target: {}, methodName: 'nope', config, args: [], meta: createMeta() }).run();
    expect(worker.exception?.message).toMatch(/not callable/);
  });
});
