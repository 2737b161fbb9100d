import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Route, Runner, secret } from '@micro-framework/core';
import { secretProbe, waitFor } from '@micro-framework/conformance';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsRpcListener } from '../src/index.ts';
import { NatsTestServer } from '../src/testing/index.ts';

// A password over plaintext is allowed to loopback servers only. A loopback server in a cluster
// announces its peers' client addresses; one beyond loopback must never get the password.
const pass = `cluster-${randomBytes(12).toString('hex')}`;
const address = Object.values(networkInterfaces()).flat().find((entry) => entry?.family === 'IPv4' && !entry.internal)?.address;

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe.skipIf(address === undefined)('a loopback server that announces a peer beyond loopback', () => {
  let first: NatsTestServer;
  let second: NatsTestServer;
  let sniffer: Server;
  const received: string[] = [];
  let dials = 0;

  beforeAll(async () => {
    // What listens at the announced address: a fake server that records what clients send it.
    sniffer = createServer((socket) => {
      dials += 1;
      socket.write('INFO {"server_id":"SNIFFER","version":"2.10.0","proto":1,"headers":true,"max_payload":1048576,"auth_required":true}\r\n');
      socket.on('data', (data) => void received.push(data.toString()));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => sniffer.listen(0, address, () => resolve()));
    const announced = (sniffer.address() as { port: number }).port;
    const [routeA, routeB] = [await freePort(), await freePort()];
    const auth = { user: 'svc', pass };
    first = await NatsTestServer.start({ auth, extraConfig: `server_name: a\ncluster { name: c, listen: "127.0.0.1:${routeA}", routes: ["nats-route://127.0.0.1:${routeB}"] }` });
    second = await NatsTestServer.start({ auth, extraConfig: `server_name: b\nclient_advertise: "${address}:${announced}"\ncluster { name: c, listen: "127.0.0.1:${routeB}", routes: ["nats-route://127.0.0.1:${routeA}"] }` });
    // The cluster stands once a message published on one server reaches a subscriber on the other.
    const [onFirst, onSecond] = await Promise.all([first, second].map((server) => connect({ servers: server.url, user: 'svc', pass })));
    const subject = `route.${randomUUID()}`;
    let routed = false;
    onSecond!.subscribe(subject, { callback: () => void (routed = true) });
    await onSecond!.flush();
    await waitFor(async () => {
      onFirst!.publish(subject);
      await onFirst!.flush();
      return routed;
    }, 'the two servers to form a cluster', 20_000);
    await Promise.all([onFirst!.close(), onSecond!.close()]);
  });
  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await new Promise((resolve) => sniffer?.close(resolve));
  });

  it('is never dialled with the password when the loopback server goes away', async () => {
    const probe = secretProbe();
    function ping(): string {
      return 'pong';
    }
    const runner = new Runner({
      config: { serviceName: `cluster-${randomUUID().slice(0, 8)}`, nats: { servers: first.url, user: 'svc', pass: secret(pass), reconnectTimeWait: 100 }, logger: probe.logger },
      contexts: [{ routes: [new Route({ target: ping, entrypoint: new NatsRpcListener() })] }],
    });
    try {
      await runner.start();
      await first.stop();
      await waitFor(() => probe.lines.some((line) => line.includes(' lost')), 'the lost connection to be logged', 10_000);
      // Reconnection attempts go on 100 ms apart; a client that follows the cluster dials the
      // announced address within the first few of them.
      const until = performance.now() + 3_000;
      while (performance.now() < until && dials === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(dials).toBe(0);
      expect(received.join('')).not.toContain(pass);
    } finally {
      await runner.stop({ timeoutMs: 5_000 });
    }
  });
});
