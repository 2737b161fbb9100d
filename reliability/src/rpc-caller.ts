import { MicroFrameworkError, RemoteError, RpcTargetNotFound, type RpcClient } from '@micro-framework/core';
import { rpcTargetName, type EchoRequest } from './service-contract.ts';

/** How the RPC calls of a run ended. */
export interface RpcFigures {
  readonly calls: number;
  /** The target's answer came back, and it was the right one. */
  readonly ok: number;
  /** An answer came back that is not the one asked for (a mixed-up reply). */
  readonly wrongAnswer: number;
  /** The target threw as asked and the caller got a RemoteError: the expected failure. */
  readonly remoteErrorAsked: number;
  /** Failed with a framework error (RpcTimeout, RpcNoResponders, RemoteError not asked for...), by class name. */
  readonly failedTyped: Record<string, number>;
  /**
   * Typed failures that say something false: RpcTargetNotFound, when the target always exists (the
   * service may be starting or stopping, but it has the target). Also counted in `failedTyped`.
   */
  readonly misleading: number;
  /** Failed with something that is not a framework error, by name: the caller cannot tell what happened. */
  readonly failedUntyped: Record<string, number>;
  /** Neither answer nor error long after the call's timeout. */
  readonly hung: number;
  readonly hungIds: string[];
  /** When (epoch ms) the first few failures of each kind happened, to set them beside the faults. */
  readonly failureTimes: Record<string, number[]>;
  readonly timeoutMs: number;
}

export interface RpcCallerOptions {
  readonly service: string;
  /** Calls in flight at once. Default 4. */
  readonly concurrency?: number;
  /** Each call's timeout. Default 2 s. */
  readonly timeoutMs?: number;
  /** Pause between two calls of one loop. Default 50 ms. */
  readonly pauseMs?: number;
  /** One call in `failEvery` asks the target to throw. Default 25. */
  readonly failEvery?: number;
  /** A call still unsettled this long after its timeout counts as hung. Default 15 s. */
  readonly hangAfterMs?: number;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function bump(counts: Record<string, number>, name: string): void {
  counts[name] = (counts[name] ?? 0) + 1;
}

/**
 * Calls the consumer's RPC target from outside, in parallel with the publishers and through every
 * fault, until stopped; then waits for every call to settle or be declared hung. The rule: every call
 * ends, with the answer or a typed error, within its timeout plus a margin.
 */
export class RpcCaller {
  readonly #client: RpcClient;
  readonly #options: Required<RpcCallerOptions>;
  readonly #loops: Promise<void>[] = [];
  #stopped = false;
  #next = 0;
  readonly #figures = { calls: 0, ok: 0, wrongAnswer: 0, remoteErrorAsked: 0, misleading: 0, hung: 0 };
  readonly #failedTyped: Record<string, number> = {};
  readonly #failedUntyped: Record<string, number> = {};
  readonly #hungIds: string[] = [];
  readonly #failureTimes: Record<string, number[]> = {};

  constructor(client: RpcClient, options: RpcCallerOptions) {
    this.#client = client;
    this.#options = { concurrency: 4, timeoutMs: 2_000, pauseMs: 50, failEvery: 25, hangAfterMs: 15_000, ...options };
  }

  start(): void {
    for (let i = 0; i < this.#options.concurrency; i += 1) this.#loops.push(this.#loop());
  }

  /** Stops calling; resolves with the figures once every call settled or was declared hung. */
  async stop(): Promise<RpcFigures> {
    this.#stopped = true;
    await Promise.all(this.#loops);
    return { ...this.#figures, failedTyped: this.#failedTyped, failedUntyped: this.#failedUntyped, hungIds: this.#hungIds, failureTimes: this.#failureTimes, timeoutMs: this.#options.timeoutMs };
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      const n = this.#next++;
      await this.#call({ id: `rpc${n}`, fail: n % this.#options.failEvery === this.#options.failEvery - 1 });
      await pause(this.#options.pauseMs);
    }
  }

  #failed(counts: Record<string, number>, name: string): void {
    bump(counts, name);
    const times = (this.#failureTimes[name] ??= []);
    if (times.length < 10) times.push(Date.now());
  }

  async #call(request: EchoRequest): Promise<void> {
    const { service, timeoutMs, hangAfterMs } = this.#options;
    this.#figures.calls += 1;
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), timeoutMs + hangAfterMs)));
    const call = this.#client.call<{ id: string }>(service, rpcTargetName, [request], { timeoutMs }).then(
      (answer) => ({ answer }),
      (error: unknown) => ({ error }),
    );
    const settled = await Promise.race([call, hang]);
    clearTimeout(timer);
    if (settled === 'hung') {
      this.#figures.hung += 1;
      this.#hungIds.push(request.id);
    } else if ('answer' in settled) {
      if (settled.answer?.id === request.id && !request.fail) this.#figures.ok += 1;
      else this.#figures.wrongAnswer += 1;
    } else if (request.fail && settled.error instanceof RemoteError) {
      this.#figures.remoteErrorAsked += 1;
    } else if (settled.error instanceof MicroFrameworkError) {
      if (settled.error instanceof RpcTargetNotFound) this.#figures.misleading += 1;
      this.#failed(this.#failedTyped, settled.error.constructor.name);
    } else {
      this.#failed(this.#failedUntyped, settled.error instanceof Error ? settled.error.name : typeof settled.error);
    }
  }
}
