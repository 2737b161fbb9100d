import { UsageError } from './usage-error.ts';

/** Parses a JSON command line argument; a UsageError naming `what` when it is not JSON. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${what} is not JSON: ${(error as Error).message}`);
  }
}

/** Positional RPC arguments: a JSON array, or one JSON value taken as the only argument. */
export function parseArgs(text: string | undefined): unknown[] {
  if (text === undefined) return [];
  const value = parseJson(text, 'args');
  return Array.isArray(value) ? value : [value];
}

/** RPC keyword arguments: a JSON object. */
export function parseKwargs(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  const value = parseJson(text, '--kwargs');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError('--kwargs must be a JSON object');
  return value as Record<string, unknown>;
}

/** `--header k=v` values as headers. */
export function parseHeaders(pairs: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--header ${pair}: expected name=value`);
    headers[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return headers;
}
