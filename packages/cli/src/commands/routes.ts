import type { Runner } from '@micro-framework/core';
import type { Output } from '../output.ts';
import { loadRunner } from '../service-module.ts';

export interface RoutesOptions {
  readonly json?: boolean;
}

/** One route as `routes` prints it. */
export interface RouteDescription {
  readonly context: string;
  readonly route: string;
  readonly entrypoint: string;
  readonly names: Record<string, unknown>;
  readonly backoff: Record<string, unknown> | null;
}

/**
 * What a runner's routes consume and expose, computed without connecting to a broker: each context is
 * bound to the runner (config merged) so entrypoints can name their queues, topics and subjects.
 */
export function describeRoutes(runner: Runner): RouteDescription[] {
  return runner.contexts.flatMap((context) => {
    if (!context.isBound) context.bind(runner);
    return context.routes.map((route) => ({
      context: context.label,
      route: route.metricLabel,
      entrypoint: route.entrypoint.constructor.name,
      names: route.entrypoint.brokerNames(),
      backoff: route.backoff?.summary() ?? null,
    }));
  });
}

const text = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** `routes <module>`: prints the service's routes, their broker names and backoffs. */
export async function routesCommand(path: string, options: RoutesOptions, output: Output): Promise<number> {
  const runner = await loadRunner(path);
  const routes = describeRoutes(runner);
  if (options.json) {
    output.out(JSON.stringify({ service: runner.config.serviceName, routes }, null, 2));
    return 0;
  }
  output.out(`service ${runner.config.serviceName}: ${routes.length} route(s)`);
  for (const route of routes) {
    output.out(`- ${route.route} (context ${route.context}) <- ${route.entrypoint}`);
    for (const [name, value] of Object.entries(route.names)) output.out(`    ${name}: ${text(value)}`);
    if (route.backoff) output.out(`    backoff: ${Object.entries(route.backoff).map(([name, value]) => `${name}=${text(value)}`).join(' ')}`);
  }
  return 0;
}
