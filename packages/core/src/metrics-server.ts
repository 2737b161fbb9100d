import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsRegistry } from './prometheus-metrics.ts';
import type { Runner } from './runner.ts';

/** `config.metrics`: the HTTP server of metrics and health checks (off unless enabled). */
export interface MetricsConfig {
  readonly enabled?: boolean;
  /** Default 0.0.0.0 (all interfaces: a scraper runs elsewhere); say 127.0.0.1 to keep it local. */
  readonly host?: string;
  /** Default 9464; 0 picks a free port (see Runner.metricsAddress). */
  readonly port?: number;
  /** Register the metrics in this prom-client Registry instead of a new one (to expose them with yours). */
  readonly registry?: MetricsRegistry;
  /** Metric name prefix. Default `micro_framework_`. */
  readonly prefix?: string;
}

export const defaultMetricsPort = 9464;

/**
 * Serves `/metrics` (the registry in Prometheus text format), `/healthz` (200 while the process
 * runs) and `/readyz` (200 when the runner runs and every entrypoint consumes over a live
 * connection; 503 with the reasons otherwise). Node's http module, nothing else.
 */
export class MetricsServer {
  readonly #runner: Runner;
  readonly #registry: MetricsRegistry | undefined;
  #server: Server | undefined;

  constructor(runner: Runner, registry?: MetricsRegistry) {
    this.#runner = runner;
    this.#registry = registry;
  }

  /** Where it listens, once started. */
  get address(): AddressInfo | undefined {
    const address = this.#server?.address();
    return address && typeof address === 'object' ? address : undefined;
  }

  /** Listens on host:port; rejects when the port is taken. */
  async start(host: string, port: number): Promise<void> {
    const server = createServer((request, response) => {
      this.#handle(request, response).catch(() => response.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // After listen, a server error (say, too many open files on accept) must not end the process.
    server.on('error', () => undefined);
    this.#server = server;
  }

  /** Stops listening and closes open connections. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Why the service is not ready (empty when it is). */
  notReadyReasons(): string[] {
    const runner = this.#runner;
    if (runner.state !== 'running') return [`runner is ${runner.state}`];
    const reasons: string[] = [];
    for (const context of runner.contexts) {
      for (const route of context.routes) {
        const reason = route.isStopped ? 'stopped' : route.entrypoint.readiness();
        if (reason) reasons.push(`${route.metricLabel}: ${reason}`);
      }
    }
    return reasons;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const path = pathOf(request.url);
      if (path === undefined) return send(response, 400, 'text/plain', 'bad request target\n');
      if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'text/plain', 'method not allowed\n');
      if (path === '/healthz') return send(response, 200, 'text/plain', 'ok\n');
      if (path === '/readyz') {
        const reasons = this.notReadyReasons();
        return reasons.length === 0 ? send(response, 200, 'text/plain', 'ready\n') : send(response, 503, 'text/plain', `${reasons.join('\n')}\n`);
      }
      if (path === '/metrics' && this.#registry) return send(response, 200, this.#registry.contentType, await this.#registry.metrics());
      return send(response, 404, 'text/plain', 'not found\n');
    } catch {
      send(response, 500, 'text/plain', 'metrics could not be collected\n');
    }
  }
}

/** The path of a request target (`/metrics?x=1` → `/metrics`); undefined when it is no path. */
function pathOf(target: string | undefined): string | undefined {
  if (target === undefined || !target.startsWith('/')) return undefined;
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  response.end(body);
}
