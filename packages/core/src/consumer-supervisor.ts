import { abortableDelay } from './abortable-delay.ts';
import { noTelemetry, summarizeError, type Telemetry } from './telemetry.ts';

export interface ConsumerSupervisorOptions {
  /**
   * Starts the consume loop; resolves once it consumes. It receives a signal aborted by stop(): a
   * start that sees it aborted must release what it opened.
   */
  readonly start: (signal: AbortSignal) => Promise<void>;
  /** First wait before a restart; doubles per failed attempt. Default 500 ms. */
  readonly minDelayMs?: number;
  /** Longest wait between restarts. Default 10 s. */
  readonly maxDelayMs?: number;
  /** Told of each restart attempt that failed (for logs). */
  readonly onRestartFailed?: (error: unknown, attempt: number) => void;
  /** What the consumer is, in reports (a queue, topic or durable name). */
  readonly name?: string;
  /** Where crashes and restarts are reported (consumerCrashed, consumerReplaced). */
  readonly telemetry?: Telemetry;
}

/**
 * Keeps a consume loop running: when the loop ends or crashes while it should run (a JetStream
 * iterator that ends, a kafkajs consumer that gives up), `lost()` starts it again after a growing
 * delay, until it runs; never a silently idle consumer, never a hot restart loop. `stop()` cancels a
 * pending restart and waits for one under way, so no consumer starts after stop.
 */
export class ConsumerSupervisor {
  readonly #options: ConsumerSupervisorOptions;
  readonly #stopping = new AbortController();
  #restarting: Promise<void> | undefined;
  #restarts = 0;
  /** A restart's start() is running. */
  #starting = false;
  /** The loss reported while a restart's start() ran, if any. */
  #lostWhileStarting: unknown;

  constructor(options: ConsumerSupervisorOptions) {
    this.#options = options;
  }

  /** How many times the loop was started again after it was lost. */
  get restarts(): number {
    return this.#restarts;
  }

  get isStopped(): boolean {
    return this.#stopping.signal.aborted;
  }

  /** Starts the loop the first time; rejects when that start fails (the caller decides). */
  async start(): Promise<void> {
    await this.#options.start(this.#stopping.signal);
  }

  /**
   * The loop ended or crashed (`error`, when known): start it again, after a delay, unless stopped.
   * A loss reported while a restart is starting the loop makes that restart fail (and try again);
   * one reported while the restart waits its delay changes nothing.
   */
  lost(error?: unknown): void {
    if (this.isStopped) return;
    if (this.#restarting) {
      // Lost again while a restart is starting it: that start must not count as a replacement.
      if (this.#starting) this.#lostWhileStarting = error ?? new Error('the consume loop ended while starting');
      return;
    }
    this.#report('consumerCrashed', error ?? new Error('the consume loop ended'), this.#options.minDelayMs ?? 500);
    this.#restarting = this.#restart().finally(() => {
      this.#restarting = undefined;
    });
  }

  /** No restart from now on; resolves once a restart under way has settled. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#restarting;
  }

  async #restart(): Promise<void> {
    const min = this.#options.minDelayMs ?? 500;
    const max = this.#options.maxDelayMs ?? 10_000;
    for (let attempt = 1; !this.isStopped; attempt += 1) {
      try {
        await abortableDelay(Math.min(max, min * 2 ** (attempt - 1)), this.#stopping.signal);
      } catch {
        return;
      }
      try {
        this.#starting = true;
        this.#lostWhileStarting = undefined;
        try {
          await this.#options.start(this.#stopping.signal);
        } finally {
          this.#starting = false;
        }
        // A start that saw the stop released what it opened: nothing was replaced.
        if (this.isStopped) return;
        if (this.#lostWhileStarting !== undefined) throw this.#lostWhileStarting;
        this.#restarts += 1;
        (this.#options.telemetry ?? noTelemetry).emit('consumerReplaced', { consumer: this.#options.name ?? 'consumer' });
        return;
      } catch (error) {
        this.#options.onRestartFailed?.(error, attempt);
        this.#report('consumerCrashed', error, Math.min(max, min * 2 ** attempt));
      }
    }
  }

  #report(name: 'consumerCrashed', error: unknown, delayMs: number): void {
    (this.#options.telemetry ?? noTelemetry).emit(name, { consumer: this.#options.name ?? 'consumer', delayMs, error: summarizeError(error) });
  }
}
