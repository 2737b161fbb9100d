import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EncodeError, ExtensionIsStopped, WorkerCrashed, WorkerTimeout, describeError } from './errors.ts';
import type { WorkerCall, WorkerReply } from './worker-call.ts';
import { isCloneError, siblingModule, type WorkerPool, type WorkerPoolOptions } from './worker-pool.ts';

/** One child process and what it is doing. */
interface Child {
  readonly process: ChildProcess;
  tasks: number;
  /** The call it runs, if any. */
  current: { readonly id: number; readonly settle: (outcome: { reply: WorkerReply } | { error: Error }) => void } | undefined;
}

/**
 * Process mode: up to `size` child processes (fork, structured-clone IPC), one call at a time each,
 * started on demand. A call past the timeout kills its process (SIGKILL) and fails with WorkerTimeout;
 * a process that exits under a call fails it with WorkerCrashed; after `maxTasksPerWorker` calls a
 * process is retired. Children exit when the IPC channel closes, so none outlives the service, and a
 * process exit hook kills any left.
 */
export class ProcessPool implements WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #idle: Child[] = [];
  readonly #all = new Set<Child>();
  readonly #waiting: Array<{ resolve: (child: Child) => void; reject: (error: Error) => void }> = [];
  /** The outcomes of the calls running now (a stop waits for them). */
  readonly #inFlight = new Set<Promise<unknown>>();
  #starting = 0;
  #nextId = 1;
  #closing = false;
  readonly #killOnExit = (): void => {
    for (const child of this.#all) child.process.kill('SIGKILL');
  };

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
    process.once('exit', this.#killOnExit);
  }

  async run(call: WorkerCall, label: string): Promise<WorkerReply> {
    const child = await this.#acquire(label);
    const id = this.#nextId++;
    const { timeoutMs, maxTasksPerWorker } = this.#options;
    const running = new Promise<{ reply: WorkerReply } | { error: Error }>((settle) => {
      let timer: NodeJS.Timeout | undefined;
      child.current = {
        id,
        settle: (result) => {
          clearTimeout(timer);
          child.current = undefined;
          settle(result);
        },
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          child.current?.settle({ error: new WorkerTimeout(label, timeoutMs) });
          this.#retire(child, 'SIGKILL');
        }, timeoutMs);
      }
      try {
        child.process.send({ id, call }, (error) => {
          if (error) child.current?.settle({ error: this.#sendError(error, label) });
        });
      } catch (error) {
        child.current?.settle({ error: this.#sendError(error, label) });
      }
    });
    this.#inFlight.add(running);
    const outcome = await running;
    this.#inFlight.delete(running);
    if ('reply' in outcome) {
      child.tasks += 1;
      if (maxTasksPerWorker !== undefined && child.tasks >= maxTasksPerWorker) this.#retire(child);
      else this.#release(child);
      return outcome.reply;
    }
    // A call that could not be sent leaves its process usable; after any other failure the process
    // is gone already (timeout, exit) or is ended now: never left busy in the pool.
    if (outcome.error instanceof EncodeError && child.process.connected) this.#release(child);
    else if (this.#all.has(child)) this.#retire(child, 'SIGKILL');
    throw outcome.error;
  }

  #sendError(error: unknown, label: string): Error {
    if (isCloneError(error)) return new EncodeError(`the arguments of ${label} cannot cross into a child process (only structured-cloneable values can): ${describeError(error).message}`, { cause: error });
    return new WorkerCrashed(`could not send ${label} to its child process: ${describeError(error).message}`, { cause: error });
  }

  async #acquire(label: string): Promise<Child> {
    if (this.#closing) throw new ExtensionIsStopped(`the child processes of ${label}`);
    const idle = this.#idle.pop();
    if (idle) return idle;
    if (this.#all.size + this.#starting < this.#options.size) return this.#spawn(label);
    return new Promise<Child>((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  #release(child: Child): void {
    if (!this.#all.has(child)) return;
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve(child);
    else this.#idle.push(child);
  }

  /** Starts a child process; resolves once it said it is ready. */
  async #spawn(label: string): Promise<Child> {
    this.#starting += 1;
    try {
      const spawned = fork(fileURLToPath(siblingModule('process-entry')), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const child: Child = { process: spawned, tasks: 0, current: undefined };
      await new Promise<void>((resolve, reject) => {
        const onMessage = (message: unknown): void => {
          if ((message as { ready?: unknown }).ready === true) {
            spawned.off('exit', onExit);
            resolve();
          }
        };
        const onExit = (code: number | null, signal: NodeJS.Signals | null): void => reject(new WorkerCrashed(`the child process for ${label} exited (${code ?? signal}) before it was ready`));
        spawned.once('message', onMessage);
        spawned.once('exit', onExit);
        spawned.once('error', (error) => reject(new WorkerCrashed(`could not start a child process for ${label}: ${error.message}`, { cause: error })));
      });
      spawned.on('message', (message: { id?: unknown; reply?: WorkerReply }) => {
        if (child.current && message.id === child.current.id && message.reply) child.current.settle({ reply: message.reply });
      });
      spawned.on('exit', (code, signal) => {
        this.#forget(child);
        child.current?.settle({ error: new WorkerCrashed(`the child process running ${label} exited (${code ?? signal}) during the call`) });
        this.#refill(label);
      });
      spawned.on('error', (error) => this.#options.onError(error));
      this.#all.add(child);
      return child;
    } finally {
      this.#starting -= 1;
    }
  }

  /** A process left: a call waiting for one gets a new process. */
  #refill(label: string): void {
    if (this.#closing || this.#waiting.length === 0) return;
    if (this.#all.size + this.#starting >= this.#options.size) return;
    const waiter = this.#waiting.shift()!;
    this.#spawn(label).then(waiter.resolve, waiter.reject);
  }

  #forget(child: Child): void {
    this.#all.delete(child);
    const at = this.#idle.indexOf(child);
    if (at >= 0) this.#idle.splice(at, 1);
  }

  /** Ends a process: by closing its channel (it exits by itself), or by a signal. */
  #retire(child: Child, signal?: NodeJS.Signals): void {
    this.#forget(child);
    if (signal) child.process.kill(signal);
    else if (child.process.connected) child.process.disconnect();
    else child.process.kill('SIGKILL');
  }

  async close(deadline: number): Promise<void> {
    this.#closing = true;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(new ExtensionIsStopped('the child process pool'));
    for (const child of this.#idle.splice(0)) this.#retire(child);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#inFlight]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    const left = [...this.#all];
    const exited = left.map((child) => new Promise((resolve) => (child.process.exitCode !== null || child.process.signalCode !== null ? resolve(undefined) : child.process.once('exit', resolve))));
    for (const child of left) this.#retire(child, child.current ? 'SIGKILL' : undefined);
    await Promise.all(exited);
    process.off('exit', this.#killOnExit);
  }
}
