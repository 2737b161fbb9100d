import { ConfigurationError } from './errors.ts';

/**
 * Service configuration. A runner holds the defaults; a context may override any key. Adapters read
 * their own keys (broker URLs...) from here.
 */
export interface Config {
  /** The service's name: queue names, consumer groups and RPC addresses derive from it. */
  readonly serviceName: string;
  /** How many workers of one context run at once (and the prefetch / in-flight limit). */
  readonly maxWorkers: number;
  /** Default maxPayloadBytes of every route (see RouteOptions.maxPayloadBytes); default none. */
  readonly maxPayloadBytes?: number;
  /**
   * Whether RPC answers `__list_targets__` and `__get_target__` (micro_framework's introspection
   * commands). Default true; false answers them as unknown targets.
   */
  readonly rpcIntrospection?: boolean;
  readonly [key: string]: unknown;
}

export const defaultMaxWorkers = 10;

/** Merges runner defaults with a context's overrides (later wins) and validates the result. */
export function mergeConfig(...layers: ReadonlyArray<Partial<Config> | undefined>): Config {
  const merged: Record<string, unknown> = { maxWorkers: defaultMaxWorkers };
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer)) if (value !== undefined) merged[key] = value;
  }
  const { serviceName, maxWorkers } = merged;
  if (typeof serviceName !== 'string' || serviceName.length === 0) {
    throw new ConfigurationError('config.serviceName must be a non-empty string');
  }
  if (typeof maxWorkers !== 'number' || !Number.isInteger(maxWorkers) || maxWorkers < 1) {
    throw new ConfigurationError(`config.maxWorkers must be a positive integer, got ${String(maxWorkers)}`);
  }
  const { maxPayloadBytes, rpcIntrospection } = merged;
  if (maxPayloadBytes !== undefined && (typeof maxPayloadBytes !== 'number' || !Number.isSafeInteger(maxPayloadBytes) || maxPayloadBytes < 1)) {
    throw new ConfigurationError(`config.maxPayloadBytes must be a positive integer, got ${String(maxPayloadBytes)}`);
  }
  if (rpcIntrospection !== undefined && typeof rpcIntrospection !== 'boolean') {
    throw new ConfigurationError('config.rpcIntrospection must be a boolean');
  }
  return merged as Config;
}
