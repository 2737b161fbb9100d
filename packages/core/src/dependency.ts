import type { Worker } from './worker.ts';

/**
 * Something a target declares it needs (a producer, an RPC proxy, the retry context, the config).
 * For each worker: `setup`, then `get` gives the value passed to the target, then `afterCall` releases
 * it once the call has settled (success or failure). A throw from setup or get fails the call.
 */
export interface Dependency<T = unknown> {
  setup?(worker: Worker): void | Promise<void>;
  get(worker: Worker): T | Promise<T>;
  afterCall?(worker: Worker): void | Promise<void>;
}

export type DependencyMap = Readonly<Record<string, Dependency>>;

/** The values a DependencyMap resolves to, key by key. */
export type ResolvedDependencies<D extends DependencyMap> = {
  [K in keyof D]: D[K] extends Dependency<infer T> ? T : never;
};

const dependenciesKey = Symbol.for('@micro-framework/dependencies');

/** A function target with declared dependencies; the worker passes them as the first argument. */
export type InjectedFunction<D extends DependencyMap, A extends unknown[], R> = ((
  ...args: A
) => Promise<R>) & { readonly [dependenciesKey]: { dependencies: D; fn: (deps: ResolvedDependencies<D>, ...args: A) => R | Promise<R> } };

/**
 * Declares a target's dependencies. The returned function is what a route takes as its target; the
 * worker resolves `dependencies` per call and calls `fn(resolved, ...args)`. Called directly (outside a
 * worker), it throws: dependencies exist only inside a worker.
 */
export function inject<D extends DependencyMap, A extends unknown[], R>(
  dependencies: D,
  fn: (deps: ResolvedDependencies<D>, ...args: A) => R | Promise<R>,
): InjectedFunction<D, A, R> {
  const wrapper = async (..._args: A): Promise<R> => {
    throw new Error(`${fn.name || 'target'} declares dependencies and must run inside a worker`);
  };
  Object.defineProperty(wrapper, 'name', { value: fn.name || 'injected' });
  Object.defineProperty(wrapper, dependenciesKey, { value: { dependencies, fn } });
  return wrapper as InjectedFunction<D, A, R>;
}

/** The declaration behind an `inject` target, or undefined for a plain function. */
export function injectedDeclaration(
  target: unknown,
): { dependencies: DependencyMap; fn: (deps: Record<string, unknown>, ...args: unknown[]) => unknown } | undefined {
  if (typeof target !== 'function') return undefined;
  return (target as unknown as Record<symbol, never>)[dependenciesKey];
}

/** Class targets declare dependencies as `static dependencies = {...}`; values are set on the instance. */
export function classDependencies(target: unknown): DependencyMap | undefined {
  if (typeof target !== 'function') return undefined;
  const declared = (target as { dependencies?: unknown }).dependencies;
  return typeof declared === 'object' && declared !== null ? (declared as DependencyMap) : undefined;
}
