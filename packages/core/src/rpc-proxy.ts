import type { Dependency } from './dependency.ts';
import { ObservedRpcClient } from './observed-rpc-client.ts';
import type { RpcClient } from './rpc-client.ts';
import type { Worker } from './worker.ts';

/**
 * Injects an RPC client obtained from `provide` (typically a shared, per-context client). In a
 * service, the calls made through it are reported to the service's telemetry (`rpcCall`, counted by
 * the metrics).
 */
export class RpcProxy implements Dependency<RpcClient> {
  readonly #provide: (worker: Worker) => RpcClient | Promise<RpcClient>;
  readonly #observed = new WeakMap<RpcClient, WeakMap<object, RpcClient>>();

  constructor(provide: (worker: Worker) => RpcClient | Promise<RpcClient>) {
    this.#provide = provide;
  }

  async get(worker: Worker): Promise<RpcClient> {
    const client = await this.#provide(worker);
    const runner = worker.context?.runner;
    if (!runner) return client;
    let byRunner = this.#observed.get(client);
    if (!byRunner) this.#observed.set(client, (byRunner = new WeakMap()));
    let observed = byRunner.get(runner);
    if (!observed) byRunner.set(runner, (observed = new ObservedRpcClient(client, runner.telemetry)));
    return observed;
  }
}
