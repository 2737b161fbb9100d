import { Entrypoint, Route, Runner, RpcTargetNotFound } from '@micro-framework/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsRpcClient, NatsRpcListener } from '../src/index.ts';
import { NatsTestServer } from '../src/testing/index.ts';

let server: NatsTestServer;

beforeAll(async () => {
  server = await NatsTestServer.start();
});

afterAll(async () => {
  await server.stop();
});

/** An entrypoint whose start takes a while (a broker consumer being created), before the RPC route's. */
class SlowStart extends Entrypoint {
  release: () => void = () => undefined;
  override async start(): Promise<void> {
    await new Promise<void>((resolve) => (this.release = resolve));
  }
}

describe('an RPC call while the service starts', () => {
  it('never fails with RpcTargetNotFound for a target the service has: the service answers its targets before they consume', async () => {
    const slow = new SlowStart();
    function echo(n: number): number {
      return n;
    }
    const runner = new Runner({
      config: { serviceName: 'starting-shop', nats: { servers: server.url } },
      contexts: [{ routes: [new Route({ target: function wait() {}, entrypoint: slow }), new Route({ target: echo, entrypoint: new NatsRpcListener({ name: 'echo' }) })] }],
    });
    const client = new NatsRpcClient({ nats: { servers: server.url } });
    const starting = runner.start();
    const outcomes = new Set<string>();
    // Ask until the target-listing responder answers (it starts with the connection, before the routes).
    const deadline = Date.now() + 10_000;
    let listed = false;
    while (!listed && Date.now() < deadline) listed = await client.listTargets('starting-shop', { timeoutMs: 200 }).then(() => true, () => false);
    expect(listed).toBe(true);
    for (let i = 0; i < 5; i += 1) outcomes.add(await client.call('starting-shop', 'echo', [i], { timeoutMs: 300 }).then(() => 'ok', (error: Error) => error.name));
    expect(outcomes.has(RpcTargetNotFound.name)).toBe(false);
    expect([...outcomes]).toEqual(['RpcNoResponders']);
    slow.release();
    await starting;
    await expect(client.call('starting-shop', 'echo', [7], { timeoutMs: 2_000 })).resolves.toBe(7);
    await expect(client.call('starting-shop', 'missing', [], { timeoutMs: 2_000 })).rejects.toBeInstanceOf(RpcTargetNotFound);
    await client.close();
    await runner.stop();
  });
});
