import { randomUUID } from 'node:crypto';
import { Route, Runner, type Backoff, type Config, type Entrypoint, type RpcClient } from '@micro-framework/core';
import type { DrainContestant, FailureContestant, RpcContestant } from './case.ts';
import { messageData } from './endpoints.ts';
import { timedDrain } from './timed-drain.ts';

/** Our side of a drain: a service whose no-op route counts the messages its entrypoint delivers. */
export function routeDrain(options: {
  name: string;
  settings: string;
  maxWorkers: number;
  config: Partial<Config>;
  entrypoint: () => Entrypoint;
}): DrainContestant {
  return timedDrain(options.name, options.settings, async (counter) => {
    function benchTarget(): void {
      counter.hit();
    }
    const runner = new Runner({
      config: { ...options.config, serviceName: `bench-${randomUUID().slice(0, 8)}`, maxWorkers: options.maxWorkers },
      contexts: [{ routes: [new Route({ target: benchTarget, entrypoint: options.entrypoint() })] }],
    });
    await runner.start();
    return runner;
  });
}

/** Our side of RPC: a service exposing `double` through the adapter's RPC listener, and its client. */
export function routeRpc(options: {
  name: string;
  settings: string;
  config: Partial<Config>;
  listener: () => Entrypoint;
  client: () => Promise<RpcClient>;
}): RpcContestant {
  let runner: Runner | undefined;
  let client: RpcClient | undefined;
  const service = `bench-rpc-${randomUUID().slice(0, 8)}`;
  return {
    name: options.name,
    settings: options.settings,
    async start() {
      function double(value: number): number {
        return value * 2;
      }
      runner = new Runner({
        config: { ...options.config, serviceName: service, maxWorkers: 100 },
        contexts: [{ routes: [new Route({ target: double, entrypoint: options.listener() })] }],
      });
      await runner.start();
      client = await options.client();
      // The first call may wait for topology (reply queues, consumer groups): keep it out of the figures.
      await client.call(service, 'double', [0], { timeoutMs: 60_000 });
    },
    call(value) {
      return client!.call(service, 'double', [value], { timeoutMs: 30_000 });
    },
    async stop() {
      await client?.close();
      await runner?.stop();
    },
  };
}

/** Our side of the failure-cost case: a route whose target passes each id to the ledger, with `backoff`. */
export function routeFailure(options: {
  name: string;
  settings: string;
  maxWorkers: number;
  config: Partial<Config>;
  entrypoint: (channel: string) => Entrypoint;
  backoff: () => Backoff;
}): FailureContestant {
  return {
    name: options.name,
    settings: options.settings,
    async start(channel, ledger) {
      function failureTarget(message: unknown): void {
        ledger.attempt(messageData(message).id);
      }
      const runner = new Runner({
        // The planned failures are the point of the case: the service logs only errors.
        config: { logLevel: 'error', ...options.config, serviceName: `bench-${randomUUID().slice(0, 8)}`, maxWorkers: options.maxWorkers },
        contexts: [{ routes: [new Route({ target: failureTarget, entrypoint: options.entrypoint(channel), backoff: options.backoff() })] }],
      });
      await runner.start();
      return runner;
    },
  };
}
