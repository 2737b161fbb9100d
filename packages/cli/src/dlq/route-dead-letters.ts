import type { BrokerName } from '../brokers.ts';
import { describeRoutes, type RouteDescription } from '../commands/routes.ts';
import { loadRunner } from '../service-module.ts';
import { UsageError } from '../usage-error.ts';

/** The name under which each broker's listeners report their dead-letter destination (see `routes`). */
const deadLetterName: Record<BrokerName, string> = {
  amqp: 'deadLetterQueue',
  nats: 'deadLetterStream',
  kafka: 'deadLetterTopic',
};

/** Whether `route` is the one the user named: by its label (`Route.handleOrder`) or its target (`handleOrder`). */
function named(route: RouteDescription, name: string): boolean {
  return route.route === name || route.target === name;
}

/**
 * The dead-letter destination of the route named `name` (label or target name) of the service
 * module at `path`, on `broker`: what its listener reports, derived as `routes` does, without a
 * broker. A UsageError when no route or several match, or when the route has no dead letters there.
 */
export async function routeDeadLetters(path: string, name: string, broker: BrokerName): Promise<string> {
  const runner = await loadRunner(path);
  const routes = describeRoutes(runner).filter((route) => named(route, name));
  if (routes.length === 0) throw new UsageError(`${path} has no route named ${name} (micro-framework routes ${path} lists them)`);
  if (routes.length > 1) throw new UsageError(`${name} names ${routes.length} routes of ${path} (${routes.map((route) => `${route.route} in context ${route.context}`).join(', ')}): give the dead-letter destination itself`);
  const [route] = routes as [RouteDescription];
  if (route.error) throw new UsageError(`route ${route.route}: ${route.error}`);
  const destination = route.names[deadLetterName[broker]];
  if (typeof destination !== 'string') throw new UsageError(`route ${route.route} (${route.entrypoint}) has no dead letters on --broker ${broker}`);
  return destination;
}
