import { RemoteError, RpcNoResponders, RpcTargetNotFound, RpcTimeout } from './errors.ts';
import { RpcClient, type RpcCallOptions } from './rpc-client.ts';
import type { Telemetry } from './telemetry.ts';

/** How an RPC call ended, as metrics label it. */
export type RpcCallOutcome = 'ok' | 'remote-error' | 'timeout' | 'no-responders' | 'target-not-found' | 'error';

/** The outcome label of a call that ended with `error` (undefined: it succeeded). */
export function rpcCallOutcome(error?: unknown): RpcCallOutcome {
  if (error === undefined) return 'ok';
  if (error instanceof RpcTimeout) return 'timeout';
  if (error instanceof RpcNoResponders) return 'no-responders';
  if (error instanceof RpcTargetNotFound) return 'target-not-found';
  if (error instanceof RemoteError) return 'remote-error';
  return 'error';
}

/**
 * The client itself, seen through a proxy that reports each call it makes (`rpcCall`: remote
 * service, target, outcome, duration) to a service's telemetry. Everything else is the client's own:
 * `instanceof` holds and adapter members stay reachable. RpcProxy hands targets this view, so the
 * calls a service makes are counted with its metrics.
 */
export function observeRpcClient<C extends RpcClient>(client: C, telemetry: Telemetry): C {
  const call = async <T = unknown>(service: string, target: string, args?: readonly unknown[], options?: RpcCallOptions): Promise<T> => {
    const began = performance.now();
    let failure: unknown;
    try {
      return await client.call<T>(service, target, args, options);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      const durationSeconds = (performance.now() - began) / 1_000;
      telemetry.emit('rpcCall', { remoteService: service, target, outcome: rpcCallOutcome(failure), durationSeconds });
    }
  };
  const bound = new Map<PropertyKey, { source: unknown; method: unknown }>();
  const observed: C = new Proxy(client, {
    get(original, property) {
      if (property === 'call') return call;
      if (property === 'constructor') return original.constructor;
      const value: unknown = Reflect.get(original, property, original);
      if (typeof value !== 'function') return value;
      const cached = bound.get(property);
      if (cached?.source === value) return cached.method;
      // RpcClient's own helpers (listTargets, getTarget, proxy) call `this.call`: through the proxy,
      // so their calls are counted too. The client's methods run on the client itself: its private
      // fields are not reachable through a proxy.
      const receiver = value === Reflect.get(RpcClient.prototype, property) ? observed : original;
      const method = (value as (...args: unknown[]) => unknown).bind(receiver);
      bound.set(property, { source: value, method });
      return method;
    },
    set(original, property, value) {
      return Reflect.set(original, property, value, original);
    },
  });
  return observed;
}
