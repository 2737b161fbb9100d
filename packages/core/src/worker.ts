import type { Config } from './config.ts';
import { classDependencies, injectedDeclaration, type Dependency, type DependencyMap } from './dependency.ts';
import { ConfigurationError, DecodeError, toError } from './errors.ts';
import type { Meta } from './meta.ts';
import type { RunnerContext } from './runner-context.ts';
import type { MessageTranslator } from './translator.ts';

/**
 * What a route calls: a function (sync or async, optionally wrapped by `inject`), an object whose
 * method `methodName` is called, or a class instantiated once per worker before `methodName` is called.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TargetFunction = (...args: any[]) => unknown;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TargetClass = new () => any;
export type Target = TargetFunction | TargetClass | object;

export interface WorkerOptions {
  readonly target: Target;
  readonly methodName?: string;
  readonly translators?: readonly MessageTranslator[];
  readonly config: Config;
  readonly args: readonly unknown[];
  readonly meta: Meta;
  readonly context?: RunnerContext;
}

export type WorkerClass = new (options: WorkerOptions) => Worker;

/** A readable name for a target, used in metric labels and RPC names. */
export function targetName(target: Target, methodName?: string): string {
  const base = typeof target === 'function' ? target.name : (target.constructor?.name ?? 'object');
  return methodName ? `${base || 'anonymous'}.${methodName}` : base || 'anonymous';
}

/**
 * One call of a target. `run()` applies the translators, resolves dependencies, calls the target and
 * records `result` or `exception`; it never throws. A translator failure is recorded as a DecodeError
 * and the target is not called.
 */
export class Worker {
  readonly target: Target;
  readonly methodName: string | undefined;
  readonly translators: readonly MessageTranslator[];
  readonly config: Config;
  /** The arguments as the entrypoint delivered them. */
  readonly args: readonly unknown[];
  readonly meta: Meta;
  readonly context: RunnerContext | undefined;
  /** The arguments after the translators; undefined until translation succeeded. */
  translatedArgs: readonly unknown[] | undefined;
  result: unknown = undefined;
  exception: Error | undefined = undefined;
  finished = false;
  /** When the call settled (epoch ms). */
  finishedAt: number | undefined;

  constructor(options: WorkerOptions) {
    this.target = options.target;
    this.methodName = options.methodName;
    this.translators = options.translators ?? [];
    this.config = options.config;
    this.args = options.args;
    this.meta = options.meta;
    this.context = options.context;
  }

  /** Runs the call once. Resolves to this worker with result or exception set; never rejects. */
  async run(): Promise<this> {
    try {
      this.translatedArgs = await this.translate();
    } catch (error) {
      return this.finish(DecodeError.from(error));
    }
    try {
      this.result = await this.invoke(this.translatedArgs);
      return this.finish(undefined);
    } catch (error) {
      return this.finish(toError(error));
    }
  }

  /** Applies the translators in order to the delivered arguments. */
  protected async translate(): Promise<readonly unknown[]> {
    let args = this.args;
    for (const translator of this.translators) args = await translator.translate(args, this.meta);
    return args;
  }

  /** The arguments the target function receives after the dependencies. */
  protected callArguments(translatedArgs: readonly unknown[]): unknown[] {
    return [...translatedArgs];
  }

  private finish(exception: Error | undefined): this {
    this.exception = exception;
    this.finished = true;
    this.finishedAt = Date.now();
    return this;
  }

  private async invoke(translatedArgs: readonly unknown[]): Promise<unknown> {
    const args = this.callArguments(translatedArgs);
    const { fn, thisArg, dependencies, assignToInstance } = this.resolveCallable();
    const entries = Object.entries(dependencies ?? {});
    const prepared: Array<Dependency> = [];
    try {
      const values: Record<string, unknown> = {};
      for (const [name, dependency] of entries) {
        await dependency.setup?.(this);
        prepared.push(dependency);
        values[name] = await dependency.get(this);
      }
      if (assignToInstance) {
        Object.assign(thisArg as object, values);
        return await fn.apply(thisArg, args);
      }
      return dependencies ? await fn.call(thisArg, values, ...args) : await fn.apply(thisArg, args);
    } finally {
      for (const dependency of prepared.reverse()) await dependency.afterCall?.(this);
    }
  }

  private resolveCallable(): {
    fn: (...args: unknown[]) => unknown;
    thisArg: unknown;
    dependencies: DependencyMap | undefined;
    assignToInstance: boolean;
  } {
    const { target, methodName } = this;
    let thisArg: unknown = undefined;
    let candidate: unknown = target;
    let classDeps: DependencyMap | undefined;
    if (methodName !== undefined) {
      if (typeof target === 'function') {
        classDeps = classDependencies(target);
        thisArg = new (target as TargetClass)();
      } else {
        thisArg = target;
      }
      candidate = (thisArg as Record<string, unknown>)[methodName];
    }
    if (typeof candidate !== 'function') {
      throw new ConfigurationError(`target ${targetName(target, methodName)} is not callable`);
    }
    const declaration = injectedDeclaration(candidate);
    if (declaration) {
      return { fn: declaration.fn as never, thisArg, dependencies: declaration.dependencies, assignToInstance: false };
    }
    return { fn: candidate as never, thisArg, dependencies: classDeps, assignToInstance: classDeps !== undefined };
  }
}
