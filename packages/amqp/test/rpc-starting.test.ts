import { Entrypoint, Route, Runner, RpcTargetNotFound } from '@micro-framework/core';
import { describe, expect, it } from 'vitest';
import { AmqpRpcClient, AmqpRpcListener } from '../src/index.ts';
import { unique, url } from './helpers.ts';

/** An entrypoint whose start takes a while (a broker consumer being created), before the RPC route's. */
class SlowStart extends Entrypoint {
  release: () => void = () => undefined;
  override async start(): Promise<void> {
    await new Promise<void>((resolve) => (this.release = resolve));
  }
}

describe('an RPC call while the service starts', () => {
  it('never fails with RpcTargetNotFound for a target the service has: the service answers its targets before they consume', async () => {
    const service = unique('starting-shop');
    const slow = new SlowStart();
    function echo(n: number): number {
      return n;
    }
    const runner = new Runner({
      config: { serviceName: service, amqp: { url } },
      contexts: [{ routes: [new Route({ target: function wait() {}, entrypoint: slow }), new Route({ target: echo, entrypoint: new AmqpRpcListener({ name: 'echo' }) })] }],
    });
    const client = new AmqpRpcClient({ amqp: { url } });
    const starting = runner.start();
    // Ask until the target-listing responder answers (it starts with the connection, before the routes).
    const deadline = Date.now() + 10_000;
    let listed = false;
    while (!listed && Date.now() < deadline) listed = await client.listTargets(service, { timeoutMs: 300 }).then(() => true, () => false);
    expect(listed).toBe(true);
    const outcomes = new Set<string>();
    for (let i = 0; i < 5; i += 1) outcomes.add(await client.call(service, 'echo', [i], { timeoutMs: 500 }).then(() => 'ok', (error: Error) => error.name));
    expect(outcomes.has(RpcTargetNotFound.name)).toBe(false);
    slow.release();
    await starting;
    await expect(client.call(service, 'echo', [7], { timeoutMs: 5_000 })).resolves.toBe(7);
    await expect(client.call(service, 'missing', [], { timeoutMs: 5_000 })).rejects.toBeInstanceOf(RpcTargetNotFound);
    await client.close();
    await runner.stop();
  });
});
