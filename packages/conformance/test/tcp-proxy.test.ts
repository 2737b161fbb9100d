import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProxy, waitFor } from '../src/index.ts';

let echo: Server | undefined;
let proxy: TcpProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
});

async function startEcho(): Promise<number> {
  echo = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo!.listen(0, '127.0.0.1', () => resolve()));
  return (echo.address() as { port: number }).port;
}

function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(text));
    socket.once('data', (data) => {
      resolve(data.toString());
      socket.destroy();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed')));
  });
}

describe('TcpProxy', () => {
  it('relays bytes, drops open connections on cut, refuses new ones until restored', async () => {
    proxy = new TcpProxy({ host: '127.0.0.1', port: await startEcho() });
    const port = await proxy.start();
    expect(await roundTrip(port, 'before')).toBe('before');

    let closed = false;
    const open = connect(port, '127.0.0.1');
    open.on('error', () => undefined);
    open.on('close', () => (closed = true));
    await new Promise((resolve) => open.once('connect', resolve));
    proxy.cut();
    await waitFor(() => closed, 'the open connection to close', 5_000);
    await expect(roundTrip(port, 'during')).rejects.toThrow();

    proxy.restore();
    expect(await roundTrip(port, 'after')).toBe('after');
  });
});
