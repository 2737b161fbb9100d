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
 * An RPC client that reports each call it makes (`rpcCall`: remote service, target, outcome,
 * duration) to a service's telemetry, then behaves exactly as the client it wraps. RpcProxy hands
 * targets this one, so the calls a service makes are counted with its metrics.
 */
export class ObservedRpcClient extends RpcClient {
  readonly #client: RpcClient;
  readonly #telemetry: Telemetry;

  constructor(client: RpcClient, telemetry: Telemetry) {
    super();
    this.#client = client;
    this.#telemetry = telemetry;
  }

  override async call<T = unknown>(service: string, target: string, args?: readonly unknown[], options?: RpcCallOptions): Promise<T> {
    const began = performance.now();
    let failure: unknown;
    try {
      return await this.#client.call<T>(service, target, args, options);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      const durationSeconds = (performance.now() - began) / 1_000;
      this.#telemetry.emit('rpcCall', { remoteService: service, target, outcome: rpcCallOutcome(failure), durationSeconds });
    }
  }

  /** Closes the wrapped client. */
  override async close(): Promise<void> {
    await this.#client.close();
  }
}
