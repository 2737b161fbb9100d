import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Runner } from '@micro-framework/core';
import { UsageError } from './usage-error.ts';

/** Does `value` look like a Runner (of whatever copy of @micro-framework/core the module uses)? */
function isRunner(value: unknown): value is Runner {
  const candidate = value as Partial<Runner> | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.start === 'function' && typeof candidate.stop === 'function' && Array.isArray(candidate.contexts);
}

/**
 * Imports the module at `path` (relative to the working directory) and returns the Runner it exports:
 * its default export, else its export named `runner`. A UsageError when there is no such file or it
 * exports neither; an error thrown while importing it reaches the caller as it is.
 */
export async function loadRunner(path: string): Promise<Runner> {
  const file = resolve(path);
  if (!existsSync(file)) throw new UsageError(`no module at ${path} (resolved to ${file})`);
  const loaded = (await import(pathToFileURL(file).href)) as { default?: unknown; runner?: unknown };
  const runner = isRunner(loaded.default) ? loaded.default : loaded.runner;
  if (!isRunner(runner)) throw new UsageError(`${path} exports no Runner (a default export, or one named "runner")`);
  return runner;
}
