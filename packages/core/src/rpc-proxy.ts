import type { Dependency } from './dependency.ts';
import { observeRpcClient } from './observed-rpc-client.ts';
import type { RpcClient } from './rpc-client.ts';
import type { Worker } from './worker.ts';

/**
 * Injects an RPC client obtained from `provide` (typically a shared, per-context client). In a
 * service, the calls made through it are reported to the service's telemetry (`rpcCall`, counted by
 * the metrics).
 */
export class RpcProxy<C extends RpcClient = RpcClient> implements Dependency<C> {
  readonly #provide: (worker: Worker) => C | Promise<C>;
  readonly #observed = new WeakMap<C, WeakMap<object, C>>();

  constructor(provide: (worker: Worker) => C | Promise<C>) {
    this.#provide = provide;
  }

  /** The provided client, seen through observeRpcClient when the worker runs in a service. */
  async get(worker: Worker): Promise<C> {
    const client = await this.#provide(worker);
    const runner = worker.context?.runner;
    if (!runner) return client;
    let byRunner = this.#observed.get(client);
    if (!byRunner) this.#observed.set(client, (byRunner = new WeakMap()));
    let observed = byRunner.get(runner);
    if (!observed) byRunner.set(runner, (observed = observeRpcClient(client, runner.telemetry)));
    return observed;
  }
}
