import { RemoteError, RpcNoResponders, RpcTargetNotFound } from './errors.ts';
import { RpcCommand, normalizeTargetInfo, type RpcTargetInfo } from './rpc-protocol.ts';

export interface RpcCallOptions {
  /** Milliseconds before the call fails with RpcTimeout. Default 30,000. */
  readonly timeoutMs?: number;
  /** Keyword arguments for Python services; our targets receive them as a last object argument. */
  readonly kwargs?: Record<string, unknown>;
  /** Refuse (PayloadTooLarge, nothing sent) a request whose encoded body is larger. Default no limit. */
  readonly maxPayloadBytes?: number;
}

export const defaultRpcTimeoutMs = 30_000;

/** Each method of T, called remotely: same arguments, a promise of the awaited result. */
export type RpcProxyOf<T> = {
  readonly [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (
    ...args: infer A
  ) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

/**
 * Calls targets of other services. `call` resolves to the target's result; rejects with RpcTimeout,
 * RpcTargetNotFound, RpcNoResponders (where the protocol can tell) or RemoteError. Never retries.
 */
export abstract class RpcClient {
  abstract call<T = unknown>(service: string, target: string, args?: readonly unknown[], options?: RpcCallOptions): Promise<T>;

  /** Releases the client's resources; pending calls reject. */
  abstract close(): Promise<void>;

  /** A typed proxy: `client.proxy<OrdersApi>('orders').create(order)` calls orders' `create` target. */
  proxy<T>(service: string, options?: RpcCallOptions): RpcProxyOf<T> {
    return new Proxy({} as RpcProxyOf<T>, {
      get: (_target, property) =>
        typeof property === 'string' && property !== 'then'
          ? (...args: unknown[]) => this.call(service, property, args, options)
          : undefined,
    });
  }

  /**
   * Why nobody took a call of `service.target` (NATS "no responders", an unroutable AMQP request):
   * asks the service for its targets. Rejects with RpcTargetNotFound only when the service answers
   * without that target; with RpcNoResponders when nobody answers, or when the service lists the
   * target (it is starting or stopping, and that route does not consume now), or answers no
   * introspection.
   */
  protected async explainUnanswered(service: string, target: string, timeoutMs: number): Promise<never> {
    if (target === RpcCommand.listTargets || target === RpcCommand.getTarget) throw new RpcNoResponders(service, target);
    let targets: RpcTargetInfo[];
    try {
      targets = await this.listTargets(service, { timeoutMs });
    } catch (error) {
      // A service that answers no introspection (rpcIntrospection: false) cannot tell either.
      throw error instanceof RpcNoResponders || error instanceof RpcTargetNotFound ? new RpcNoResponders(service, target) : error;
    }
    if (targets.some((info) => info.name === target)) throw new RpcNoResponders(service, target);
    throw new RpcTargetNotFound(service, target);
  }

  /** Describes every target the service exposes (a Python service's descriptions normalized alike). */
  async listTargets(service: string, options?: RpcCallOptions): Promise<RpcTargetInfo[]> {
    const listed = await this.call<unknown>(service, RpcCommand.listTargets, [], options);
    return Array.isArray(listed) ? listed.map(normalizeTargetInfo) : [];
  }

  /**
   * Describes one target; rejects with RpcTargetNotFound when the service lacks it (a Python
   * service's KeyError for an unknown name included).
   */
  async getTarget(service: string, target: string, options?: RpcCallOptions): Promise<RpcTargetInfo> {
    try {
      return normalizeTargetInfo(await this.call<unknown>(service, RpcCommand.getTarget, [target], options));
    } catch (error) {
      if (error instanceof RemoteError && error.remoteName === 'KeyError') throw new RpcTargetNotFound(service, target);
      throw error;
    }
  }
}
