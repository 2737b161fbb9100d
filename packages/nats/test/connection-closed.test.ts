import { randomUUID } from 'node:crypto';
import { Route, Runner } from '@micro-framework/core';
import { TcpProxy, secretProbe, waitFor } from '@micro-framework/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamListener, NatsPublisher, NatsRpcClient, NatsRpcListener, SubjectListener, type NatsOptions } from '../src/index.ts';
import { NatsTestServer } from '../src/testing/index.ts';

// nats.js closes a connection for good when it runs out of reconnection attempts: that must be
// said, the service must open another and serve on it, and a publisher or RPC client must not keep
// the closed connection as its live one.
let server: NatsTestServer;
let proxy: TcpProxy;

beforeAll(async () => {
  server = await NatsTestServer.start();
  proxy = new TcpProxy({ host: '127.0.0.1', port: server.port });
  await proxy.start();
});

afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});

describe('a connection nats.js closes for good', () => {
  it('is logged and replaced: the service answers, consumes core subjects and JetStream again; a publisher and an RPC client open another', async () => {
    const probe = secretProbe();
    const nats: NatsOptions = { servers: `nats://127.0.0.1:${proxy.port}`, maxReconnectAttempts: 2, reconnectTimeWait: 100 };
    const service = `closed-${randomUUID().slice(0, 8)}`;
    const stream = `CLOSED_${randomUUID().slice(0, 8)}`;
    const stored: unknown[] = [];
    const heard: unknown[] = [];
    function ping(): string {
      return 'pong';
    }
    function store(payload: unknown): void {
      stored.push(payload);
    }
    function hear(payload: unknown): void {
      heard.push(payload);
    }
    const runner = new Runner({
      config: { serviceName: service, nats, logger: probe.logger },
      contexts: [{ routes: [
        new Route({ target: ping, entrypoint: new NatsRpcListener() }),
        new Route({ target: store, entrypoint: new JetStreamListener({ stream, subjects: [`${stream}.in`] }) }),
        new Route({ target: hear, entrypoint: new SubjectListener({ subject: `${stream}.heard` }) }),
      ] }],
    });
    const publisher = new NatsPublisher({ nats });
    const client = new NatsRpcClient({ nats });
    try {
      await runner.start();
      expect(await client.call(service, 'ping', [], { timeoutMs: 5_000 })).toBe('pong');
      proxy.cut();
      await waitFor(() => probe.lines.some((line) => line.includes('was closed for good')), 'the closed connection to be logged', 20_000);
      expect(probe.lines.find((line) => line.includes('was closed for good'))).toContain(`connection to 127.0.0.1:${proxy.port} was closed for good`);
      proxy.restore();
      await waitFor(async () => (await client.call(service, 'ping', [], { timeoutMs: 1_000 }).catch(() => undefined)) === 'pong', 'the service to answer on a new connection', 20_000);
      await waitFor(async () => {
        await publisher.publishCore(`${stream}.heard`, { n: 1 }).catch(() => undefined);
        return heard.length > 0;
      }, 'a core message heard on the new connection', 10_000);
      await publisher.publish(`${stream}.in`, { n: 2 });
      await waitFor(() => stored.length > 0, 'a JetStream message consumed on the new connection', 20_000);
      expect(probe.lines.some((line) => line.includes('restored'))).toBe(true);
    } finally {
      await publisher.close();
      await client.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  });
});
