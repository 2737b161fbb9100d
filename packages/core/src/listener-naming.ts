import { ConfigurationError } from './errors.ts';
import type { Route } from './route.ts';
import { targetName } from './worker.ts';

const unnamed = new Set(['anonymous', 'injected', '']);

/**
 * The target name a listener puts in its queue or consumer name. Two routes of one service on the
 * same event must not share a queue, so an unnamed target (an inline arrow, or `inject` around an
 * anonymous function) is refused with a ConfigurationError: name the function.
 */
export function listenerTargetName(route: Route): string {
  const name = targetName(route.target, route.methodName);
  if (unnamed.has(name)) {
    throw new ConfigurationError(
      'a listener derives its queue name from the target name, and this target has none: use a named function (e.g. inject(deps, function handleOrder(...) {...}))',
    );
  }
  return name;
}
