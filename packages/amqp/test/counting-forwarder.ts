import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder on loopback that counts the connections made through it: proves how many times a
 * client tried to connect (one attempt, not a hidden retry loop) without timing anything.
 */
export class CountingForwarder {
  connections = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(targetPort: number) {
    this.#server = createServer((inbound) => {
      this.connections += 1;
      const outbound = createConnection(targetPort, '127.0.0.1');
      for (const socket of [inbound, outbound]) {
        this.#sockets.add(socket);
        socket.on('error', () => undefined);
        socket.once('close', () => this.#sockets.delete(socket));
      }
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      inbound.once('close', () => outbound.destroy());
      outbound.once('close', () => inbound.destroy());
    });
  }

  /** Listens on a free loopback port; resolves with it. */
  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    return (this.#server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
