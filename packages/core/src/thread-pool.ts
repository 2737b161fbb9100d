import type { Piscina } from 'piscina';
import { ConfigurationError, EncodeError, ExtensionIsStopped, WorkerCrashed, WorkerTimeout, describeError } from './errors.ts';
import type { WorkerCall, WorkerReply } from './worker-call.ts';
import { isCloneError, siblingModule, type WorkerPool, type WorkerPoolOptions } from './worker-pool.ts';

type PiscinaClass = typeof Piscina;

/** Loads the optional peer dependency, or says how to install it. */
async function loadPiscina(): Promise<PiscinaClass> {
  try {
    return (await import('piscina')).Piscina;
  } catch (error) {
    throw new ConfigurationError("workerMode 'thread' needs the optional peer dependency piscina (npm install piscina)", { cause: error });
  }
}

interface Generation {
  readonly pool: Piscina;
  /** Calls handed to this generation. */
  tasks: number;
  /** Calls of this generation not finished yet: a retired generation closes once none is left. */
  running: number;
  retired: boolean;
}

/** How long an idle thread stays (threads start on demand, up to `size` per generation). */
const idleThreadMs = 10_000;

/**
 * Thread mode on Piscina: up to `size` worker threads, started on demand, one call at a time each;
 * an idle thread exits after 10 s. A call past the timeout is aborted (Piscina terminates its
 * thread and starts another). Piscina cannot retire one thread after N calls, so
 * `maxTasksPerWorker` rotates generations: after size × N calls a fresh set of threads takes new
 * calls and the previous set ends once its calls finished (its idle threads leave meanwhile).
 * A stop waits for the calls in flight itself (Piscina's close does not count an aborted call as
 * done), then destroys every generation.
 */
export class ThreadPool implements WorkerPool {
  readonly #Piscina: PiscinaClass;
  readonly #options: WorkerPoolOptions;
  #current: Generation;
  /** Earlier generations still finishing their calls. */
  readonly #retiring = new Set<Generation>();
  /** Their closes under way. */
  readonly #closes = new Set<Promise<void>>();
  /** Every call handed to a generation and not finished yet. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing = false;

  private constructor(piscina: PiscinaClass, options: WorkerPoolOptions) {
    this.#Piscina = piscina;
    this.#options = options;
    this.#current = this.#generation();
  }

  static async create(options: WorkerPoolOptions): Promise<ThreadPool> {
    return new ThreadPool(await loadPiscina(), options);
  }

  #generation(): Generation {
    const pool = new this.#Piscina({
      filename: siblingModule('thread-entry').href,
      minThreads: 0,
      maxThreads: this.#options.size,
      concurrentTasksPerWorker: 1,
      idleTimeout: idleThreadMs,
    });
    // An error outside any task (a thread failing while idle) would otherwise crash the service.
    pool.on('error', (error: unknown) => this.#options.onError(error instanceof Error ? error : new Error(String(error))));
    return { pool, tasks: 0, running: 0, retired: false };
  }

  async run(call: WorkerCall, label: string): Promise<WorkerReply> {
    if (this.#closing) throw new ExtensionIsStopped(`the worker threads of ${label}`);
    const generation = this.#current;
    generation.tasks += 1;
    generation.running += 1;
    const { maxTasksPerWorker, size, timeoutMs } = this.#options;
    if (maxTasksPerWorker !== undefined && generation.tasks >= maxTasksPerWorker * size) this.#rotate();
    const signal = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
    const running = generation.pool.run(call, signal ? { signal } : {});
    this.#inFlight.add(running);
    try {
      return (await running) as WorkerReply;
    } catch (error) {
      if (signal?.aborted) throw new WorkerTimeout(label, timeoutMs!);
      if (isCloneError(error)) throw new EncodeError(`the arguments of ${label} cannot cross into a worker thread (only structured-cloneable values can): ${describeError(error).message}`, { cause: error });
      if (this.#closing) throw new ExtensionIsStopped(`the worker threads of ${label}`);
      throw new WorkerCrashed(`the worker thread running ${label} died: ${describeError(error).message}`, { cause: error });
    } finally {
      this.#inFlight.delete(running);
      generation.running -= 1;
      if (generation.retired && generation.running === 0) this.#end(generation);
    }
  }

  /** Closes a retired generation whose calls all finished. */
  #end(generation: Generation): void {
    if (!this.#retiring.delete(generation)) return;
    const closing = generation.pool
      .close()
      .catch((error: unknown) => this.#options.onError(error instanceof Error ? error : new Error(String(error))))
      .finally(() => this.#closes.delete(closing));
    this.#closes.add(closing);
  }

  #rotate(): void {
    const old = this.#current;
    this.#current = this.#generation();
    old.retired = true;
    this.#retiring.add(old);
  }

  async close(deadline: number): Promise<void> {
    this.#closing = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#inFlight, ...this.#closes]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    // Nothing is left to finish (or the deadline passed): end every thread of every generation.
    const pools = [this.#current.pool, ...[...this.#retiring].map((generation) => generation.pool)];
    await Promise.allSettled(pools.map((pool) => pool.destroy()));
  }
}
