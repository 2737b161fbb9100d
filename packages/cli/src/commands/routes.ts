import { describeError, targetName, type Route, type Runner, type Target } from '@micro-framework/core';
import type { Output } from '../output.ts';
import { loadRunner } from '../service-module.ts';

export interface RoutesOptions {
  readonly json?: boolean;
}

/** One route as `routes` prints it. */
export interface RouteDescription {
  readonly context: string;
  /** The route's label (`<RouteClass>.<target>` unless set). */
  readonly route: string;
  readonly target: string;
  /** A CallbackRoute's callback target. */
  readonly callback?: string;
  readonly entrypoint: string;
  /** Queue, exchange, routing key, subject, stream, consumer, topic, group, dead-letter names... as the entrypoint names them. */
  readonly names: Record<string, unknown>;
  /** Why the entrypoint could not name them (an unnamed listener target, an invalid config). */
  readonly error?: string;
  readonly backoff: Record<string, unknown> | null;
}

/** A route's callback target when it is a CallbackRoute (of whichever copy of core the module loaded). */
function callbackOf(route: Route): string | undefined {
  const { callbackTarget, callbackMethodName } = route as Route & { callbackTarget?: Target; callbackMethodName?: string };
  return callbackTarget === undefined ? undefined : targetName(callbackTarget, callbackMethodName);
}

/**
 * What a runner's routes consume and expose, computed without connecting to a broker: each context is
 * bound to the runner (as start does first: config merged, nothing opened) so entrypoints can derive
 * their queue, subject and topic names. A route whose names cannot be derived carries the reason.
 */
export function describeRoutes(runner: Runner): RouteDescription[] {
  return runner.contexts.flatMap((context) => {
    if (!context.isBound) context.bind(runner);
    return context.routes.map((route) => {
      let names: Record<string, unknown> = {};
      let error: string | undefined;
      try {
        names = route.entrypoint.brokerNames();
      } catch (thrown) {
        const { name, message } = describeError(thrown);
        error = `${name}: ${message}`;
      }
      const callback = callbackOf(route);
      return {
        context: context.label,
        route: route.metricLabel,
        target: targetName(route.target, route.methodName),
        ...(callback === undefined ? {} : { callback }),
        entrypoint: route.entrypoint.constructor.name,
        names,
        ...(error === undefined ? {} : { error }),
        backoff: route.backoff?.summary() ?? null,
      };
    });
  });
}

const text = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** `routes <module>`: prints the service's routes, their broker names and backoffs; exit 1 when a route cannot name them. */
export async function routesCommand(path: string, options: RoutesOptions, output: Output): Promise<number> {
  const runner = await loadRunner(path);
  const routes = describeRoutes(runner);
  const failed = routes.some((route) => route.error !== undefined);
  if (options.json) {
    output.out(JSON.stringify({ service: runner.config.serviceName, routes }, null, 2));
    return failed ? 1 : 0;
  }
  output.out(`service ${runner.config.serviceName}: ${routes.length} route(s)`);
  for (const route of routes) {
    output.out(`- ${route.route} (context ${route.context}) <- ${route.entrypoint}`);
    if (route.callback) output.out(`    callback: ${route.callback}`);
    for (const [name, value] of Object.entries(route.names)) output.out(`    ${name}: ${text(value)}`);
    if (route.error) output.out(`    error: ${route.error}`);
    if (route.backoff) output.out(`    backoff: ${Object.entries(route.backoff).map(([name, value]) => `${name}=${text(value)}`).join(' ')}`);
  }
  return failed ? 1 : 0;
}
