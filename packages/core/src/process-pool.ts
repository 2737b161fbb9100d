import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EncodeError, ExtensionIsStopped, WorkerCrashed, WorkerTimeout, describeError } from './errors.ts';
import type { WorkerCall, WorkerReply } from './worker-call.ts';
import { isCloneError, siblingModule, type WorkerPool, type WorkerPoolOptions } from './worker-pool.ts';

/** How long a new child process may take to say it is ready. */
const readyTimeoutMs = 30_000;

/** Every child process of every pool of this process: one exit hook kills those left. */
const liveChildren = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const each of liveChildren) each.kill('SIGKILL');
  });
}

type Outcome = { reply: WorkerReply } | { error: Error };

/** One child process and the call it runs, if any. */
interface Child {
  readonly process: ChildProcess;
  tasks: number;
  current: { readonly id: number; readonly label: string; readonly settle: (outcome: Outcome) => void } | undefined;
}

const usable = (child: Child): boolean => child.process.connected && child.process.exitCode === null && child.process.signalCode === null;

/**
 * Process mode: up to `size` child processes (fork, structured-clone IPC), one call at a time each,
 * started on demand. A call past the timeout kills its process (SIGKILL) and fails with WorkerTimeout;
 * a process that exits under a call fails it with WorkerCrashed; after `maxTasksPerWorker` calls a
 * process is retired. A process that cannot start fails the call that asked for it, and calls waiting
 * for a process are served by the next one. Children exit when the IPC channel closes, so none
 * outlives the service, and an exit hook kills any left.
 */
export class ProcessPool implements WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #idle: Child[] = [];
  /** Children started or starting: they count towards `size`, and a close ends them all. */
  readonly #all = new Set<ChildProcess>();
  readonly #children = new Set<Child>();
  readonly #waiting: Array<{ readonly label: string; readonly resolve: (child: Child) => void; readonly reject: (error: Error) => void }> = [];
  /** The outcomes of the calls running now (a stop waits for them). */
  readonly #inFlight = new Set<Promise<unknown>>();
  #nextId = 1;
  #closing = false;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
  }

  async run(call: WorkerCall, label: string): Promise<WorkerReply> {
    const child = await this.#acquire(label);
    const id = this.#nextId++;
    const { timeoutMs, maxTasksPerWorker } = this.#options;
    const running = new Promise<Outcome>((settle) => {
      let timer: NodeJS.Timeout | undefined;
      child.current = {
        id,
        label,
        settle: (outcome) => {
          clearTimeout(timer);
          child.current = undefined;
          settle(outcome);
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
    if (outcome.error instanceof EncodeError && usable(child)) this.#release(child);
    else this.#retire(child, 'SIGKILL');
    throw outcome.error;
  }

  #sendError(error: unknown, label: string): Error {
    if (isCloneError(error)) return new EncodeError(`the arguments of ${label} cannot cross into a child process (only structured-cloneable values can): ${describeError(error).message}`, { cause: error });
    return new WorkerCrashed(`could not send ${label} to its child process: ${describeError(error).message}`, { cause: error });
  }

  async #acquire(label: string): Promise<Child> {
    for (;;) {
      if (this.#closing) throw new ExtensionIsStopped(`the child processes of ${label}`);
      const idle = this.#idle.pop();
      if (idle) {
        if (usable(idle)) return idle;
        this.#retire(idle, 'SIGKILL');
        continue;
      }
      if (this.#all.size < this.#options.size) return this.#spawn(label);
      return new Promise<Child>((resolve, reject) => this.#waiting.push({ label, resolve, reject }));
    }
  }

  /** Hands a free child to the next waiting call, or keeps it idle. */
  #release(child: Child): void {
    if (!this.#children.has(child)) return;
    if (!usable(child)) {
      this.#retire(child, 'SIGKILL');
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve(child);
    else this.#idle.push(child);
  }

  /** Starts a child process; resolves once it said it is ready. A failure also starts one for the next waiting call. */
  async #spawn(label: string): Promise<Child> {
    let spawned: ChildProcess;
    try {
      spawned = fork(fileURLToPath(siblingModule('process-entry')), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    } catch (error) {
      throw new WorkerCrashed(`could not start a child process for ${label}: ${describeError(error).message}`, { cause: error });
    }
    track(spawned);
    this.#all.add(spawned);
    const child: Child = { process: spawned, tasks: 0, current: undefined };
    spawned.on('exit', (code, signal) => {
      this.#all.delete(spawned);
      this.#forget(child);
      const current = child.current;
      current?.settle({ error: new WorkerCrashed(`the child process running ${current.label} exited (${code ?? signal}) during the call`) });
      this.#refill();
    });
    spawned.on('error', (error) => this.#options.onError(error));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new WorkerCrashed(`the child process for ${label} did not start within ${readyTimeoutMs} ms`)), readyTimeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          spawned.off('message', onMessage);
          spawned.off('exit', onExit);
          spawned.off('error', onError);
        };
        const onMessage = (message: unknown): void => {
          if ((message as { ready?: unknown } | null)?.ready !== true) return;
          done();
          resolve();
        };
        const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
          done();
          reject(new WorkerCrashed(`the child process for ${label} exited (${code ?? signal}) before it was ready`));
        };
        const onError = (error: Error): void => {
          done();
          reject(new WorkerCrashed(`could not start a child process for ${label}: ${error.message}`, { cause: error }));
        };
        spawned.on('message', onMessage);
        spawned.once('exit', onExit);
        spawned.once('error', onError);
      });
    } catch (error) {
      spawned.kill('SIGKILL');
      // A process that failed to spawn may never emit 'exit': its slot is freed here, and a waiting call gets another try.
      this.#all.delete(spawned);
      queueMicrotask(() => this.#refill());
      if (this.#closing) throw new ExtensionIsStopped(`the child processes of ${label}`);
      throw error;
    }
    if (this.#closing) {
      spawned.kill('SIGKILL');
      throw new ExtensionIsStopped(`the child processes of ${label}`);
    }
    spawned.on('message', (message: { id?: unknown; reply?: WorkerReply } | null) => {
      if (child.current && message?.id === child.current.id && message.reply) child.current.settle({ reply: message.reply });
    });
    this.#children.add(child);
    return child;
  }

  /** A process left: a call waiting for one gets a new process (whose failure, in turn, fails that call and tries the next). */
  #refill(): void {
    if (this.#closing || this.#waiting.length === 0 || this.#all.size >= this.#options.size) return;
    const waiter = this.#waiting.shift()!;
    this.#spawn(waiter.label).then(waiter.resolve, (error: unknown) => {
      waiter.reject(error instanceof Error ? error : new WorkerCrashed(String(error)));
      this.#refill();
    });
  }

  #forget(child: Child): void {
    this.#children.delete(child);
    const at = this.#idle.indexOf(child);
    if (at >= 0) this.#idle.splice(at, 1);
  }

  /** Ends a process: by closing its channel (it exits by itself), or by a signal. */
  #retire(child: Child, signal?: NodeJS.Signals): void {
    this.#forget(child);
    if (signal || !child.process.connected) child.process.kill(signal ?? 'SIGKILL');
    else child.process.disconnect();
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
    // Whatever is left (calls past the deadline, processes still starting) is killed.
    const left = [...this.#all];
    const exited = left.map((spawned) => new Promise((resolve) => (spawned.exitCode !== null || spawned.signalCode !== null ? resolve(undefined) : spawned.once('exit', resolve))));
    for (const spawned of left) {
      const child = [...this.#children].find((each) => each.process === spawned);
      if (child && !child.current && spawned.connected) this.#retire(child);
      else spawned.kill('SIGKILL');
    }
    await Promise.all(exited);
  }
}
