import { describeError } from '@micro-framework/core';
import { UsageError } from '../brokers.ts';
import type { Output } from '../output.ts';
import { loadRunner } from '../service-module.ts';

export interface RunOptions {
  readonly envFile?: string;
  /** Stop deadline on SIGINT/SIGTERM, ms. */
  readonly stopTimeout: number;
}

/**
 * `run <module>`: loads the environment file (if any), imports the module, starts the Runner it
 * exports and stops it gracefully on SIGINT or SIGTERM (a second signal exits at once). Resolves
 * with the exit code once the runner stopped: 0 after a clean stop, 1 when it could not start (the
 * reason on stderr) or stopped with errors.
 */
export async function runCommand(path: string, options: RunOptions, output: Output): Promise<number> {
  if (options.envFile) {
    try {
      process.loadEnvFile(options.envFile);
    } catch (error) {
      throw new UsageError(`--env-file ${options.envFile}: ${describeError(error).message}`);
    }
  }
  const runner = await loadRunner(path);
  // A service on the in-memory broker holds no socket or timer: this keeps the process up until it stops.
  const alive = setInterval(() => undefined, 2 ** 30);
  const stopped = new Promise<number>((resolve) => {
    runner.stopOnSignals({
      timeoutMs: options.stopTimeout,
      onStopped: (error) => {
        clearInterval(alive);
        if (error) output.err(`${runner.config.serviceName} stopped with errors: ${describeError(error).message}`);
        resolve(error ? 1 : 0);
      },
    });
  });
  try {
    await runner.start();
  } catch (error) {
    clearInterval(alive);
    const { name, message } = describeError(error);
    output.err(`${runner.config.serviceName} could not start: ${name}: ${message}`);
    return 1;
  }
  output.err(`${runner.config.serviceName} running (${runner.contexts.reduce((count, context) => count + context.routes.length, 0)} routes); Ctrl-C stops it`);
  return stopped;
}
