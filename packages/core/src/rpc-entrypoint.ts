import { WorkerTarget } from './worker-target.ts';
import { Entrypoint } from './entrypoint.ts';
import { RpcTargetNotFound } from './errors.ts';
import type { Runner } from './runner.ts';
import { RpcCommand, rpcErrorReply, rpcSuccessReply, type RpcReplyBody, type RpcRequestBody, type RpcTargetInfo } from './rpc-protocol.ts';
import { injectedDeclaration } from './dependency.ts';
import { targetName } from './worker.ts';

export interface RpcEntrypointOptions {
  /** Name callers use; default the target's function or method name. */
  readonly name?: string;
  readonly description?: string;
}

/**
 * Exposes its route's target over RPC. Only routes whose entrypoint is an RpcEntrypoint are callable;
 * adapters subclass it with their transport and answer requests with an RpcDispatcher.
 */
export abstract class RpcEntrypoint<D = unknown> extends Entrypoint<D> {
  readonly #name: string | undefined;
  readonly description: string | null;

  constructor(options: RpcEntrypointOptions = {}) {
    super();
    this.#name = options.name;
    this.description = options.description ?? null;
  }

  /** The RPC target callers name; adapters add where requests arrive. */
  override brokerNames(): Record<string, unknown> {
    return { target: this.rpcName };
  }

  /** The name callers use for this target. */
  get rpcName(): string {
    if (this.#name) return this.#name;
    const route = this.route;
    return route.methodName ?? targetName(route.target);
  }

  /** What list-targets and get-target report for this target (with micro_framework's keys too). */
  describe(): RpcTargetInfo {
    const route = this.route;
    let fn: unknown = route.target;
    if (route.methodName !== undefined) {
      const holder = typeof route.target === 'function' ? (route.target as { prototype: object }).prototype : route.target;
      fn = (holder as Record<string, unknown>)[route.methodName];
    }
    const declared = injectedDeclaration(fn);
    const arity = fn instanceof WorkerTarget ? (fn.arity ?? 0) : declared ? Math.max(0, declared.fn.length - 1) : typeof fn === 'function' ? fn.length : 0;
    // Parameter names are not known at run time (minified or compiled code): only the count is.
    return { name: this.rpcName, description: this.description, arity, target: this.rpcName, args: [], kwargs: [], docstring: this.description };
  }
}

/** Every RPC entrypoint of the runner, by name. */
export function rpcEntrypoints(runner: Runner): Map<string, RpcEntrypoint<unknown>> {
  const found = new Map<string, RpcEntrypoint<unknown>>();
  for (const context of runner.contexts) {
    for (const route of context.routes) {
      const entrypoint: unknown = route.entrypoint;
      if (entrypoint instanceof RpcEntrypoint) found.set(entrypoint.rpcName, entrypoint);
    }
  }
  return found;
}

/** The reply to `__list_targets__` / `__get_target__`, or undefined for any other command. */
export function answerIntrospection(runner: Runner, request: RpcRequestBody): RpcReplyBody | undefined {
  if (runner.config.rpcIntrospection === false) return undefined;
  if (request.command === RpcCommand.listTargets) {
    return rpcSuccessReply([...rpcEntrypoints(runner).values()].map((entrypoint) => entrypoint.describe()));
  }
  if (request.command === RpcCommand.getTarget) {
    const name = String(request.command_args[0] ?? request.command_kwargs['target'] ?? '');
    const entrypoint = rpcEntrypoints(runner).get(name);
    if (!entrypoint) return rpcErrorReply(new RpcTargetNotFound(runner.config.serviceName, name));
    return rpcSuccessReply(entrypoint.describe());
  }
  return undefined;
}
