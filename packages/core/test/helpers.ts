import { Entrypoint, Runner, type Route } from '../src/index.ts';

/** An entrypoint driven by the test itself: each `send` is one route call. */
export class DirectEntrypoint extends Entrypoint {
  send(args: unknown[], meta = {}) {
    return this.callRoute(Symbol('entry'), args, meta);
  }
}

/** Starts a runner holding the given routes in one context; returns it for stop(). */
export async function startRunner(routes: Route[], config: { maxWorkers?: number } = {}): Promise<Runner> {
  const runner = new Runner({ config: { serviceName: 'unit', ...config }, contexts: [{ routes }] });
  await runner.start();
  return runner;
}

/** Polls `check` until it returns true or the deadline passes (then throws with `what`). */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
