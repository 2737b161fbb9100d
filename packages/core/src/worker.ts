import type { Config } from './config.ts';
import { classDependencies, injectedDeclaration, type Dependency, type DependencyMap } from './dependency.ts';
import { ConfigurationError, DecodeError, toError } from './errors.ts';
import { rebuildError, serializeError } from './serialized-error.ts';
import type { Meta } from './meta.ts';
import type { RunnerContext } from './runner-context.ts';
import type { MessageTranslator } from './translator.ts';
import { withTraceContext } from './tracing.ts';
import { WorkerTarget } from './worker-target.ts';

/**
 * What a route calls: a function (sync or async, optionally wrapped by `inject`), an object whose
 * method `methodName` is called, or a class instantiated once per worker before `methodName` is called.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TargetFunction = (...args: any[]) => unknown;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TargetClass = new () => any;
export type Target = TargetFunction | TargetClass | WorkerTarget | object;

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

/** What Worker#callDirect answers for a target it does not call itself. */
const direct: unique symbol = Symbol('call through invoke');

/** True for a value `await` could treat as a thenable (an object or a function). */
function isObjectLike(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

/** A readable name for a target, used in metric labels and RPC names. */
export function targetName(target: Target, methodName?: string): string {
  if (target instanceof WorkerTarget) return target.name;
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
      // Without translators (and translate not overridden) the arguments are the delivered ones: no await.
      this.translatedArgs = this.translators.length === 0 && this.translate === ownWorkerSteps.translate ? this.args : await this.translate();
    } catch (error) {
      return this.finish(DecodeError.from(error));
    }
    try {
      const value = this.#callDirect(this.translatedArgs);
      // A plain function's value is awaited only when it could be a promise or thenable, as before.
      this.result = value === direct ? await this.invoke(this.translatedArgs) : isObjectLike(value) ? await value : value;
      return this.finish(undefined);
    } catch (error) {
      return this.finish(toError(error));
    }
  }

  /**
   * Calls a plain function target (no methodName, no dependencies declared with `inject`, not a
   * WorkerTarget) at once and returns its value, or `direct` when the target needs `invoke`. The
   * same call invoke makes, without its async layer and dependency bookkeeping.
   */
  #callDirect(translatedArgs: readonly unknown[]): unknown {
    const target = this.target;
    if (typeof target !== 'function' || this.methodName !== undefined || (this as unknown as WorkerSteps).invoke !== ownWorkerSteps.invoke || injectedDeclaration(target) !== undefined) return direct;
    const args = this.callArguments === ownWorkerSteps.callArguments ? translatedArgs : this.callArguments(translatedArgs);
    return (target as (...a: unknown[]) => unknown)(...args);
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
    if (this.target instanceof WorkerTarget) return this.invokeWorkerTarget(this.target, args);
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

  /**
   * A WorkerTarget: its dependencies resolve here (setup, get, then afterCall once it settled); the
   * call runs in the context's pool in thread or process mode, else it is imported and called here.
   */
  private async invokeWorkerTarget(target: WorkerTarget, args: unknown[]): Promise<unknown> {
    if (this.methodName !== undefined) throw new ConfigurationError(`a workerTarget takes no methodName (${target.name})`);
    const prepared: Dependency[] = [];
    try {
      let injected: Record<string, unknown> | undefined;
      if (target.dependencies) {
        injected = {};
        for (const [name, dependency] of Object.entries(target.dependencies)) {
          await dependency.setup?.(this);
          prepared.push(dependency);
          injected[name] = await dependency.get(this);
        }
      }
      const pool = this.context?.workerPool;
      if (!pool) {
        const fn = await target.load();
        return await (injected ? fn(injected, ...args) : fn(...args));
      }
      // Errors among the arguments (a callback's failure) cross written out and are rebuilt there.
      const errorArgs = args.flatMap((arg, index) => (arg instanceof Error ? [index] : []));
      const call = {
        module: target.module,
        exportName: target.exportName,
        args: args.map((arg) => (arg instanceof Error ? serializeError(arg) : arg)),
        ...(errorArgs.length > 0 ? { errorArgs } : {}),
        ...(injected ? { injected } : {}),
        traceHeaders: withTraceContext({}),
      };
      const reply = await pool.run(call, target.name);
      if (reply.ok) return reply.value;
      throw rebuildError(reply.error, this.context?.workerErrorClasses(this) ?? []);
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

/** The overridable steps of a Worker (some not public): what ownWorkerSteps compares. */
interface WorkerSteps {
  readonly translate: unknown;
  readonly invoke: unknown;
  readonly callArguments: unknown;
}

/**
 * Worker's own steps as the module defined them: a step is taken without its async layer only while
 * an instance still has exactly these (not overridden by a subclass, nor replaced on the prototype by
 * a spy or an instrumentation wrapper, which then run as before).
 */
const ownWorkerSteps: WorkerSteps = (({ translate, invoke, callArguments }: WorkerSteps) => ({ translate, invoke, callArguments }))(Worker.prototype as unknown as WorkerSteps);
