import { describe, expect, it } from 'vitest';
import { NonErrorThrown, NonRetryableError, WorkerTimeout, isRetryable, markNonRetryable, rebuildError, serializeError } from '../src/index.ts';

/** Through structured clone, as between a worker and the service. */
const roundTrip = (thrown: unknown, classes: Parameters<typeof rebuildError>[1] = []): Error => rebuildError(structuredClone(serializeError(thrown)), classes);

describe('errors crossing from a worker', () => {
  it('never throws on a hostile error: throwing getters, a Proxy whose traps throw', () => {
    const getters = new Error('getters');
    Object.defineProperty(getters, 'code', { enumerable: true, get: () => { throw new Error('no'); } });
    Object.defineProperty(getters, 'cause', { get: () => { throw new Error('no'); } });
    const trap = (): never => { throw new Error('trap'); };
    const proxy = new Proxy(new Error('proxied'), { get: trap, ownKeys: trap, getPrototypeOf: trap, has: trap, getOwnPropertyDescriptor: trap });
    expect(() => serializeError(getters)).not.toThrow();
    expect(() => serializeError(proxy)).not.toThrow();
    expect(roundTrip(getters)).toMatchObject({ message: 'getters', code: '[unreadable]' });
  });

  it('keeps a property named __proto__ as data and drops one named constructor', () => {
    const error = new Error('shapes') as Error & Record<string, unknown>;
    Object.defineProperty(error, '__proto__', { value: { polluted: true }, enumerable: true });
    Object.defineProperty(error, 'constructor', { value: 'a string', enumerable: true });
    const rebuilt = roundTrip(error);
    expect(rebuilt).toBeInstanceOf(Error);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(typeof rebuilt.constructor).toBe('function');
  });

  it('keeps the errors of an AggregateError and a cause chain, cut at a cycle', () => {
    const first = new TypeError('first');
    const looped = new Error('looped') as Error & { cause?: unknown };
    looped.cause = looped;
    const rebuilt = roundTrip(new AggregateError([first, looped], 'both')) as AggregateError;
    expect(rebuilt).toBeInstanceOf(AggregateError);
    expect(rebuilt.errors[0]).toBeInstanceOf(TypeError);
    expect((rebuilt.errors[1] as Error).message).toBe('looped');
  });

  it('keeps retryability: a framework error as it was, a marked user error non-retryable', () => {
    const timeout = roundTrip(new WorkerTimeout('resize', 10));
    expect(timeout).toBeInstanceOf(WorkerTimeout);
    expect(isRetryable(timeout)).toBe(true);
    expect(isRetryable(roundTrip(markNonRetryable(new Error('give up'))))).toBe(false);
  });

  it('turns a thrown value into NonErrorThrown, described when it cannot be cloned', () => {
    expect((roundTrip(42) as NonErrorThrown).thrown).toBe(42);
    expect(roundTrip(() => 1)).toBeInstanceOf(NonErrorThrown);
  });
});

describe('errors crossing twice (into a worker and back)', () => {
  class OutOfStock extends NonRetryableError {}
  class Unnamed extends Error {}

  it('rebuilds a subclass of a framework error the service names as itself, still not retryable', () => {
    const rebuilt = roundTrip(new OutOfStock('sold out'), [OutOfStock]);
    expect(rebuilt).toBeInstanceOf(OutOfStock);
    expect(rebuilt).toBeInstanceOf(NonRetryableError);
    expect(isRetryable(rebuilt)).toBe(false);
  });

  it('keeps the class name through a place that does not know the class', () => {
    const inWorker = roundTrip(new Unnamed('no name of its own'));
    expect(inWorker).not.toBeInstanceOf(Unnamed);
    expect(roundTrip(inWorker, [Unnamed])).toBeInstanceOf(Unnamed);
  });
});
