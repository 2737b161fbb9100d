import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import {
  EncodeError,
  MetaDependency,
  WorkerTarget,
  injectedDeclaration,
  rebuildError,
  runInTraceContext,
  serializeError,
  targetName,
  withTraceContext,
  workerTarget,
  type Dependency,
  type Meta,
  type Route,
  type SerializedError,
  type Target,
  type Worker,
} from '@micro-framework/core';

/** A call the bridged target makes from a worker thread, and the answer it gets. */
export type BridgeMessage =
  | { readonly type: 'call'; readonly callId: string; readonly targetId: string; readonly startedAt: number; readonly args: readonly unknown[]; readonly errorArgs: readonly number[]; readonly meta: Meta; readonly trace: Record<string, string> }
  | { readonly type: 'reply'; readonly callId: string; readonly ok: true; readonly value: unknown }
  | { readonly type: 'reply'; readonly callId: string; readonly ok: false; readonly error: SerializedError };

/** What the bridged target receives (as an injected value) to reach the bridge. */
export interface BridgeAddress {
  readonly channel: string;
  readonly targetId: string;
  /** performance.now() in the test's thread when the attempt began (its dependencies resolved). */
  readonly startedAt: number;
}

/** The meta key under which the closure sees when its attempt began in the service (see Harness: calls are timed from it). */
export const attemptStartedAt = 'conformanceAttemptStartedAt';

const bridgedModule = new URL(`./bridged-target${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * Runs the conformance suite with a `thread` or `process` worker mode: the scenarios' targets are
 * closures over the test's state, which cannot cross into a worker, so each route's target is
 * replaced by a WorkerTarget (the module bridged-target) that, from the worker, asks this bridge to
 * run the closure here over a BroadcastChannel (thread mode only) and returns its answer. Everything
 * the worker mode changes is crossed twice: the call's arguments and injected meta into the worker,
 * the result or error back, with the serialization the framework uses.
 */
export class WorkerBridge {
  readonly channelName = `micro-framework-conformance-${randomUUID()}`;
  readonly #channel: BroadcastChannel;
  readonly #targets = new Map<string, { readonly target: Target; readonly route: Route }>();
  #closed = false;

  constructor() {
    this.#channel = new BroadcastChannel(this.channelName);
    this.#channel.onmessage = (event) => void this.#answer((event as { data: BridgeMessage }).data);
    (this.#channel as unknown as { unref?: () => void }).unref?.();
  }

  /**
   * Makes the route's targets (and a CallbackRoute's callback target) run through a worker. The route
   * keeps its entrypoint, names and metric label; its target field is replaced in place (a route's
   * entrypoint belongs to one route).
   */
  bridge(route: Route): Route {
    const fields = route as unknown as { target: Target; callbackTarget?: Target };
    fields.target = this.#bridged(route.target, route);
    if (fields.callbackTarget !== undefined) fields.callbackTarget = this.#bridged(fields.callbackTarget, route);
    return route;
  }

  close(): void {
    this.#closed = true;
    this.#targets.clear();
    this.#channel.close();
  }

  #bridged(target: Target, route: Route): Target {
    if (target instanceof WorkerTarget) return target;
    const targetId = randomUUID();
    this.#targets.set(targetId, { target, route });
    const bridgeDependency: Dependency<BridgeAddress> = { get: () => ({ channel: this.channelName, targetId, startedAt: performance.now() }) };
    // The attempt's trace context, read where the dependencies resolve (inside its consumer span), so
    // the closure runs in it again here.
    const traceDependency: Dependency<Record<string, string>> = { get: () => withTraceContext({}) };
    const declared = injectedDeclaration(target);
    const arity = declared ? Math.max(0, declared.fn.length - 1) : typeof target === 'function' ? target.length : 0;
    return workerTarget(bridgedModule, 'bridged', { name: targetName(target), arity, dependencies: { bridge: bridgeDependency, meta: new MetaDependency(), trace: traceDependency } });
  }

  async #answer(message: BridgeMessage): Promise<void> {
    if (message.type !== 'call' || this.#closed) return;
    const entry = this.#targets.get(message.targetId);
    let reply: BridgeMessage;
    try {
      if (!entry) throw new Error(`no target ${message.targetId} on this bridge`);
      // The closure is the service's own code: errors it receives are rebuilt with the service's classes.
      const classes = entry.route.context.workerErrorClasses();
      const args = message.args.map((arg, index) => (message.errorArgs.includes(index) ? rebuildError(arg as SerializedError, classes) : arg));
      // The attempt began in the service before it crossed to the worker and back: the closure is told when.
      const meta = { ...message.meta, [attemptStartedAt]: message.startedAt };
      const value = await runInTraceContext(message.trace, () => this.#run(entry.target, entry.route, args, meta));
      reply = { type: 'reply', callId: message.callId, ok: true, value };
    } catch (error) {
      reply = { type: 'reply', callId: message.callId, ok: false, error: serializeError(error) };
    }
    // A bridge closed meanwhile (the scenario ended) answers nothing; the call ends with its service.
    if (this.#closed) return;
    try {
      this.#channel.postMessage(reply);
    } catch (error) {
      // A result that cannot be cloned: the error a workerTarget's call gets for one.
      const refused = new EncodeError(`the result cannot leave the bridge: ${error instanceof Error ? error.message : String(error)}`);
      try {
        this.#channel.postMessage({ type: 'reply', callId: message.callId, ok: false, error: serializeError(refused) } satisfies BridgeMessage);
      } catch {
        // Closed meanwhile.
      }
    }
  }

  /** Runs the original target here, resolving its `inject` dependencies against the call's meta. */
  async #run(target: Target, route: Route, args: unknown[], meta: Meta): Promise<unknown> {
    const declaration = injectedDeclaration(target);
    if (!declaration) return (target as (...a: unknown[]) => unknown)(...args);
    // The dependencies read the call through its worker: a stand-in with the call's meta and config.
    const stand = { meta, config: route.context.config, context: route.context, args, translatedArgs: args } as unknown as Worker;
    const values: Record<string, unknown> = {};
    const prepared: Dependency[] = [];
    try {
      for (const [name, dependency] of Object.entries(declaration.dependencies)) {
        await dependency.setup?.(stand);
        prepared.push(dependency);
        values[name] = await dependency.get(stand);
      }
      return await declaration.fn(values, ...args);
    } finally {
      for (const dependency of prepared.reverse()) await dependency.afterCall?.(stand);
    }
  }
}
