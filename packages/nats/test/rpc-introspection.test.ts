import { randomUUID } from 'node:crypto';
import { Route, Runner, decodeJson, encodeRpcRequest } from '@micro-framework/core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsRpcListener } from '../src/index.ts';
import { NatsTestServer } from '../src/testing/index.ts';

let server: NatsTestServer;

beforeAll(async () => {
  server = await NatsTestServer.start();
});

afterAll(async () => {
  await server?.stop();
});

describe('the introspection subjects of a service', () => {
  it('answer __list_targets__ and __get_target__ only: a request there naming another target runs nothing', async () => {
    const service = `intro-${randomUUID().slice(0, 8)}`;
    let runs = 0;
    function adminOp(): string {
      runs += 1;
      return 'admin ran';
    }
    const runner = new Runner({
      config: { serviceName: service, nats: { servers: server.url }, rpcIntrospection: false },
      contexts: [{ routes: [new Route({ target: adminOp, entrypoint: new NatsRpcListener() })] }],
    });
    let raw: NatsConnection | undefined;
    try {
      await runner.start();
      raw = await connect({ servers: server.url });
      for (const subject of [`${service}.rpc.__list_targets__`, `${service}.rpc.__get_target__`]) {
        const reply = await raw.request(subject, encodeRpcRequest('adminOp', []), { timeout: 5_000 });
        expect(JSON.stringify(decodeJson(reply.data))).not.toContain('admin ran');
      }
      // The target itself, on its own subject, still runs: the count above would have seen it.
      const direct = await raw.request(`${service}.rpc.adminOp`, encodeRpcRequest('adminOp', []), { timeout: 5_000 });
      expect(JSON.stringify(decodeJson(direct.data))).toContain('admin ran');
      expect(runs).toBe(1);
    } finally {
      await raw?.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  });
});
