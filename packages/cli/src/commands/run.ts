import { describeError } from '@micro-framework/core';
import type { Output } from '../output.ts';
import { loadRunner } from '../service-module.ts';
import { UsageError } from '../usage-error.ts';

export interface RunOptions {
  readonly envFile?: string;
  /** Stop deadline on SIGINT/SIGTERM, ms. */
  readonly stopTimeout: number;
}

const routeCount = (runner: { contexts: ReadonlyArray<{ routes: readonly unknown[] }> }): number =>
  runner.contexts.reduce((count, context) => count + context.routes.length, 0);

/**
 * `run <module>`: loads the environment file (if any) before importing the module, starts the
 * Runner it exports and stops it gracefully on SIGINT or SIGTERM (a second signal exits at once).
 * Resolves with the exit code once the runner stopped: 0 after a clean stop (a signal during the
 * start included), 1 when it could not start (the error's name and message on stderr) or stopped
 * with errors, 2 when the module or the environment file is unusable.
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
  const service = runner.config.serviceName;
  if (runner.state !== 'idle' && runner.state !== 'running') throw new UsageError(`${path} exports the runner of ${service} already ${runner.state}`);
  // A service on the in-memory broker holds no socket or timer: this keeps the process up until it stops.
  const alive = setInterval(() => undefined, 2 ** 30);
  let signalled = false;
  const onSignal = (): void => {
    signalled = true;
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const stopped = new Promise<number>((resolve) => {
    runner.stopOnSignals({
      timeoutMs: options.stopTimeout,
      onStopped: (error) => {
        clearInterval(alive);
        if (error) {
          const { name, message } = describeError(error);
          output.err(`${service} stopped with errors: ${name}: ${message}`);
        } else output.err(`${service} stopped`);
        resolve(error ? 1 : 0);
      },
    });
  });
  if (runner.state === 'running') {
    output.err(`${service} was started by ${path} itself (${routeCount(runner)} routes); Ctrl-C stops it`);
    return stopped;
  }
  try {
    await runner.start();
  } catch (error) {
    // Ctrl-C while it started: the start gave up because of the stop asked for, not by failing.
    if (signalled) return stopped;
    clearInterval(alive);
    const { name, message } = describeError(error);
    output.err(`${service} could not start: ${name}: ${message}`);
    return 1;
  }
  output.err(`${service} running (${routeCount(runner)} routes); Ctrl-C stops it`);
  return stopped;
}
