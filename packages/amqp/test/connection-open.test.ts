import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { AuthenticationFailed } from '@micro-framework/core';
import { secretProbe, waitFor } from '@micro-framework/conformance';
import { describe, expect, it } from 'vitest';
import { AmqpConnection, defaultHandshakeTimeoutMs } from '../src/index.ts';
import { CountingForwarder } from './counting-forwarder.ts';
import { unique } from './helpers.ts';

// What happens after TCP connects and before the connection is open: the AMQP handshake.

describe('a vhost that is refused or missing', () => {
  it('fails start at its first attempt with AuthenticationFailed naming the vhost (connection.open answered by connection.close)', async () => {
    const { keep, leaks } = secretProbe();
    const forwarder = new CountingForwarder(5672);
    const vhost = unique('no-such-vhost');
    const connection = new AmqpConnection({ url: `amqp://guest:guest@127.0.0.1:${await forwarder.start()}/${vhost}` });
    try {
      const error = await connection.setup().then(() => undefined, (failure: unknown) => failure);
      keep(error);
      expect(error).toBeInstanceOf(AuthenticationFailed);
      expect((error as Error).message).toContain(`user "guest" (PLAIN, from the URL): access to vhost "${vhost}" refused, or the vhost does not exist`);
      expect(forwarder.connections).toBe(1);
      expect(leaks('guest:guest')).toEqual([]);
    } finally {
      await connection.stop();
      await forwarder.close();
    }
  });
});

describe('a peer that accepts TCP and never answers', () => {
  it('is given up by the default handshake timeout: the attempt closes its socket instead of waiting forever', async () => {
    const sockets: Socket[] = [];
    const closed: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      // Reads what the client sends (so that its end is seen), never answers.
      socket.resume();
      socket.on('error', () => undefined);
      socket.once('close', () => closed.push(socket));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const connection = new AmqpConnection({ url: `amqp://127.0.0.1:${port}` });
    const setup = connection.setup().then(() => 'connected', (error: unknown) => error);
    try {
      await waitFor(() => sockets.length >= 1, 'the first attempt to connect');
      // The client ends the silent attempt after defaultHandshakeTimeoutMs (the server never closes it).
      await waitFor(() => closed.includes(sockets[0]!), 'the client to give up the silent handshake', defaultHandshakeTimeoutMs + 10_000);
      expect(defaultHandshakeTimeoutMs).toBe(10_000);
    } finally {
      await connection.stop();
      expect(await setup).not.toBe('connected');
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  }, 60_000);
});
