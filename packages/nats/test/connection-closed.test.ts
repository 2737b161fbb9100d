import { randomUUID } from 'node:crypto';
import { Route, Runner } from '@micro-framework/core';
import { TcpProxy, secretProbe, waitFor } from '@micro-framework/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamListener, NatsConnectionExtension, NatsPublisher, NatsRpcClient, NatsRpcListener, SubjectListener, type NatsOptions } from '../src/index.ts';
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

  it('is replaced again when the new connection closes for good while the routes still subscribe on it', async () => {
    const extension = new NatsConnectionExtension({ servers: `nats://127.0.0.1:${proxy.port}`, maxReconnectAttempts: 2, reconnectTimeWait: 100 });
    await extension.setup();
    const reopened: unknown[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      // The first reopen's listener is held until its connection has closed for good.
      extension.onReopen(async (connection) => {
        reopened.push(connection);
        if (reopened.length === 1) await held;
      });
      const first = extension.connection;
      proxy.cut();
      await waitFor(() => first.isClosed(), 'the first connection to close for good', 10_000);
      proxy.restore();
      await waitFor(() => reopened.length === 1, 'a second connection, its listener running', 15_000);
      const second = extension.connection;
      proxy.cut();
      await waitFor(() => second.isClosed(), 'the second connection to close for good', 10_000);
      proxy.restore();
      await waitFor(() => extension.isConnected, 'a third connection', 15_000);
      expect(extension.connection).not.toBe(second);
      expect(reopened).toHaveLength(2);
      expect(reopened[1]).toBe(extension.connection);
    } finally {
      release();
      proxy.restore();
      await extension.stop();
    }
  });

  it('fails the RPC calls waiting on a client connection nats.js closed for good with a ConnectionError, not ExtensionIsStopped', async () => {
    const service = `held-${randomUUID().slice(0, 8)}`;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let called = 0;
    async function hold(): Promise<string> {
      called++;
      await held;
      return 'late';
    }
    const runner = new Runner({ config: { serviceName: service, nats: { servers: server.url } }, contexts: [{ routes: [new Route({ target: hold, entrypoint: new NatsRpcListener() })] }] });
    const client = new NatsRpcClient({ nats: { servers: `nats://127.0.0.1:${proxy.port}`, maxReconnectAttempts: 2, reconnectTimeWait: 100 } });
    try {
      await runner.start();
      const call = client.call(service, 'hold', [], { timeoutMs: 30_000 }).then(() => undefined, (error: unknown) => error);
      await waitFor(() => called === 1, 'the call to reach the service', 5_000);
      proxy.cut();
      const error = await call;
      expect(error).toMatchObject({ name: 'ConnectionError' });
      expect((error as Error).message).toContain(`the NATS connection to 127.0.0.1:${proxy.port} was closed for good`);
    } finally {
      release();
      proxy.restore();
      await client.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  });
});
