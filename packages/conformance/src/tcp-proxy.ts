import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback between clients and a broker, to cut the network in fault tests: `cut()`
 * destroys every open connection and refuses new ones until `restore()`.
 */
export class TcpProxy {
  readonly targetHost: string;
  readonly targetPort: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #cut = false;
  #port = 0;

  constructor(target: { host: string; port: number }) {
    this.targetHost = target.host;
    this.targetPort = target.port;
    this.#server = createServer((client) => this.#accept(client));
  }

  /** The proxy's port on 127.0.0.1 (after start). */
  get port(): number {
    return this.#port;
  }

  /** Listens on 127.0.0.1 (port 0 picks a free one); resolves with the port. */
  async start(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address ? address.port : port;
    return this.#port;
  }

  /** Drops every connection and refuses new ones. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  restore(): void {
    this.#cut = false;
  }

  /** Cuts for `ms`, then restores. */
  async cutFor(ms: number): Promise<void> {
    this.cut();
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.restore();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.#cut) {
      client.destroy();
      return;
    }
    const upstream = connect(this.targetPort, this.targetHost);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
