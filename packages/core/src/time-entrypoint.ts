import { Entrypoint } from './entrypoint.ts';
import { defaultStopTimeoutMs, type StopOptions } from './extension.ts';

export interface TimeEntrypointOptions {
  /** Milliseconds between the end of one call and the start of the next tick's. */
  readonly intervalMs: number;
  /** Fire once right after start instead of waiting a first interval. Default false. */
  readonly eager?: boolean;
}

/**
 * Calls its route every `intervalMs`. A tick never overlaps the previous call: the next one is
 * scheduled when the current call settles. The target receives no arguments; meta carries `tick`.
 */
export class TimeEntrypoint extends Entrypoint<number> {
  readonly intervalMs: number;
  readonly eager: boolean;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #ticks = 0;

  constructor(options: TimeEntrypointOptions) {
    super();
    if (!(options.intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${options.intervalMs}`);
    this.intervalMs = options.intervalMs;
    this.eager = options.eager ?? false;
  }

  override brokerNames(): Record<string, unknown> {
    return { intervalMs: this.intervalMs };
  }

  override async start(): Promise<void> {
    this.#schedule(this.eager ? 0 : this.intervalMs);
  }

  /** Cancels the next tick. */
  override async stopIntake(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Cancels the next tick and waits for a running call, up to the timeout. */
  override async stop(options: StopOptions = {}): Promise<void> {
    await this.stopIntake();
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#ticks += 1;
      this.callRoute(this.#ticks, [], { channel: 'timer', tick: this.#ticks })
        .catch(() => undefined)
        .finally(() => this.#schedule(this.intervalMs));
    }, delayMs);
  }
}
