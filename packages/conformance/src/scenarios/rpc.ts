import { PayloadTooLarge, Route, RemoteError, RpcNoResponders, RpcTargetNotFound, RpcTimeout, type RpcClient } from '@micro-framework/core';
import type { ConformanceAdapter } from '@micro-framework/core/testing';
import { describe, expect } from 'vitest';
import type { Harness } from '../harness.ts';
import { staysQuiet, waitFor } from '../poll.ts';
import { scenario } from '../scenario.ts';

async function client(h: Harness): Promise<RpcClient> {
  const created = await h.adapter.createRpcClient!();
  h.onCleanup(() => created.close());
  return created;
}

function rpcRoute(h: Harness, name: string, target: (...args: never[]) => unknown, description?: string): Route {
  return new Route({ target, entrypoint: h.adapter.createRpcListener!({ name, description }) });
}

/** Scenarios 24–28: RPC over the adapter. */
export function rpcScenarios(adapter: ConformanceAdapter): void {
  describe('rpc', () => {
    scenario(adapter, '24 rpc round-trip: 100 concurrent calls each get their own reply', ['rpc'], async (h) => {
      const service = h.unique('rpc-math');
      await h.startService(service, [rpcRoute(h, 'square', (x: number) => ({ x, square: x * x }))]);
      const rpc = await client(h);
      const replies = await Promise.all(Array.from({ length: 100 }, (_, x) => rpc.call(service, 'square', [x], { timeoutMs: 10_000 })));
      replies.forEach((reply, x) => expect(reply).toEqual({ x, square: x * x }));
      const typed = rpc.proxy<{ square(x: number): { square: number } }>(service, { timeoutMs: 10_000 });
      expect((await typed.square(12)).square).toBe(144);
    });

    scenario(adapter, '25 rpc timeout: a typed timeout within 200–700 ms; the late reply is dropped', ['rpc'], async (h) => {
      const service = h.unique('rpc-slow');
      let finished = false;
      await h.startService(service, [
        rpcRoute(h, 'slow', async () => { await new Promise((r) => setTimeout(r, 2_000)); finished = true; return 'late'; }),
        rpcRoute(h, 'echo', (value: string) => value),
      ]);
      const rpc = await client(h);
      const began = performance.now();
      const error = await rpc.call(service, 'slow', [], { timeoutMs: 200 }).catch((e: unknown) => e);
      const elapsed = performance.now() - began;
      expect(error).toBeInstanceOf(RpcTimeout);
      expect(elapsed).toBeGreaterThanOrEqual(199);
      expect(elapsed).toBeLessThanOrEqual(700);
      await waitFor(() => finished, 'the slow handler to finish', 10_000);
      // The late reply is dropped: no unhandled rejection, and the client keeps working.
      expect(await rpc.call(service, 'echo', ['after'], { timeoutMs: 5_000 })).toBe('after');
    });

    scenario(adapter, '26 rpc unknown target: typed not-found from a live service; no service fails fast or at the deadline', ['rpc'], async (h) => {
      const service = h.unique('rpc-known');
      await h.startService(service, [rpcRoute(h, 'exists', () => 1)]);
      const rpc = await client(h);
      expect(await rpc.call(service, 'exists', [], { timeoutMs: 30_000 })).toBe(1);
      const asked = performance.now();
      await expect(rpc.call(service, 'missing', [], { timeoutMs: 5_000 })).rejects.toBeInstanceOf(RpcTargetNotFound);
      expect(performance.now() - asked, 'a live service tells a missing target at once').toBeLessThan(2_000);
      const began = performance.now();
      const error = await rpc.call(h.unique('rpc-nobody'), 'anything', [], { timeoutMs: 1_500 }).catch((e: unknown) => e);
      const elapsed = performance.now() - began;
      if (error instanceof RpcNoResponders) expect(elapsed).toBeLessThan(1_500);
      else {
        expect(error).toBeInstanceOf(RpcTimeout);
        expect(elapsed).toBeGreaterThanOrEqual(1_499);
      }
    });

    scenario(adapter, '27 rpc remote error: name, message and data arrive typed; the call is not retried', ['rpc'], async (h) => {
      const service = h.unique('rpc-error');
      let calls = 0;
      class OutOfStock extends Error {
        override name = 'OutOfStock';
        readonly data = { sku: 'A-1', available: 0 };
      }
      await h.startService(service, [rpcRoute(h, 'reserve', () => { calls += 1; throw new OutOfStock('no stock for A-1'); })]);
      const rpc = await client(h);
      const error = await rpc.call(service, 'reserve', ['A-1'], { timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RemoteError);
      expect(error).toMatchObject({ remoteName: 'OutOfStock', remoteMessage: 'no stock for A-1', data: { sku: 'A-1', available: 0 } });
      expect(calls).toBe(1);
    });

    scenario(adapter, '28 rpc introspection: list-targets and get-target describe exposed targets', ['rpc'], async (h) => {
      const service = h.unique('rpc-describe');
      await h.startService(service, [
        rpcRoute(h, 'add', (a: number, b: number) => a + b, 'adds two numbers'),
        rpcRoute(h, 'ping', () => 'pong'),
      ]);
      const rpc = await client(h);
      const targets = await rpc.listTargets(service, { timeoutMs: 5_000 });
      expect([...targets].sort((x, y) => x.name.localeCompare(y.name))).toEqual([
        { name: 'add', description: 'adds two numbers', arity: 2, target: 'add', args: [], kwargs: [], docstring: 'adds two numbers' },
        { name: 'ping', description: null, arity: 0, target: 'ping', args: [], kwargs: [], docstring: null },
      ]);
      expect(await rpc.getTarget(service, 'add', { timeoutMs: 5_000 })).toMatchObject({ name: 'add', description: 'adds two numbers', arity: 2, target: 'add' });
      await expect(rpc.getTarget(service, 'nope', { timeoutMs: 5_000 })).rejects.toBeInstanceOf(RpcTargetNotFound);
    });

    scenario(adapter, '43 rpc payload limits: the client refuses an oversized request unsent; a service answers one typed, without running it', ['rpc'], async (h) => {
      const service = h.unique('rpc-limits');
      let runs = 0;
      await h.startService(service, [rpcRoute(h, 'store', (text: string) => ((runs += 1), text.length))], 10, { maxPayloadBytes: 2_048 });
      const rpc = await client(h);
      const big = 'x'.repeat(4_096);
      const refused = await rpc.call(service, 'store', [big], { timeoutMs: 5_000, maxPayloadBytes: 1_024 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(PayloadTooLarge);
      expect((refused as PayloadTooLarge).maxPayloadBytes).toBe(1_024);
      const answered = await rpc.call(service, 'store', [big], { timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(answered).toBeInstanceOf(RemoteError);
      expect((answered as RemoteError).remoteName).toBe('PayloadTooLarge');
      expect(await rpc.call(service, 'store', ['small'], { timeoutMs: 5_000 })).toBe(5);
      expect(runs).toBe(1);
    });

    scenario(adapter, '44 rpc introspection off: list-targets and get-target are unknown targets; no command reaches user code but its own target', ['rpc'], async (h) => {
      const service = h.unique('rpc-closed');
      let runs = 0;
      await h.startService(service, [rpcRoute(h, 'ping', () => ((runs += 1), 'pong'))], 10, { rpcIntrospection: false });
      const rpc = await client(h);
      expect(await rpc.call(service, 'ping', [], { timeoutMs: 5_000 })).toBe('pong');
      await expect(rpc.listTargets(service, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(RpcTargetNotFound);
      await expect(rpc.getTarget(service, 'ping', { timeoutMs: 5_000 })).rejects.toBeInstanceOf(RpcTargetNotFound);
      // Where a request for an unknown target is unroutable (a queue or subject per target), the client
      // cannot ask the closed service why: no responders is then its honest answer.
      for (const command of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'Ping']) {
        const error = await rpc.call(service, command, [], { timeoutMs: 5_000 }).catch((e: unknown) => e);
        expect(error instanceof RpcTargetNotFound || error instanceof RpcNoResponders, `${command}: ${String(error)}`).toBe(true);
      }
      expect(runs).toBe(1);
    });

    scenario(adapter, '31 unencodable rpc result: the caller gets a remote error at once; the service keeps answering', ['rpc'], async (h) => {
      const service = h.unique('rpc-unencodable');
      await h.startService(service, [
        rpcRoute(h, 'big', () => ({ n: 10n })),
        rpcRoute(h, 'cycle', () => {
          const value: Record<string, unknown> = { ok: true };
          value['self'] = value;
          return value;
        }),
        rpcRoute(h, 'badError', () => {
          throw Object.assign(new Error('with bad data'), { data: { n: 1n } });
        }),
        rpcRoute(h, 'next', (x: number) => x + 1),
      ]);
      const rpc = await client(h);
      expect(await rpc.call(service, 'next', [0], { timeoutMs: 30_000 })).toBe(1);
      for (const [index, target] of ['big', 'cycle', 'badError'].entries()) {
        const began = performance.now();
        const error = await rpc.call(service, target, [], { timeoutMs: 10_000 }).catch((e: unknown) => e);
        expect(error, target).toBeInstanceOf(RemoteError);
        expect(performance.now() - began, `${target} answered well before the timeout`).toBeLessThan(2_000);
        if (target === 'badError') expect(error).toMatchObject({ remoteName: 'Error', remoteMessage: 'with bad data' });
        else expect(error).toMatchObject({ remoteName: 'EncodeError' });
        expect(await rpc.call(service, 'next', [index + 1], { timeoutMs: 10_000 })).toBe(index + 2);
      }
    });

    scenario(adapter, '37 rpc deadline: a request whose caller gave up is not run after an outage', ['rpc'], async (h) => {
      const service = h.unique('rpc-deadline');
      const ran: string[] = [];
      const routes = () => [rpcRoute(h, 'record', (tag: string) => { ran.push(tag); return tag; })];
      const first = await h.startService(service, routes());
      const rpc = await client(h);
      expect(await rpc.call(service, 'record', ['warm'], { timeoutMs: 30_000 })).toBe('warm');
      await first.stop();
      const error = await rpc.call(service, 'record', ['late'], { timeoutMs: 300 }).catch((e: unknown) => e);
      expect(error instanceof RpcTimeout || error instanceof RpcNoResponders, String(error)).toBe(true);
      await h.startService(service, routes());
      expect(await rpc.call(service, 'record', ['after'], { timeoutMs: 30_000 })).toBe('after');
      expect(await staysQuiet(() => ran.includes('late'), 1_000)).toBe(true);
    });
  });
}
