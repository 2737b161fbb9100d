import { abortableDelay, settledWithin } from './abortable-delay.ts';
import {
  deadLetterCopy,
  outcomeOfWorker,
  type DeadLetterCopy,
  type DeliveryOutcome,
} from './delivery-outcome.ts';
import { ConfigurationError, DecodeError, ExtensionIsStopped, PayloadTooLarge, toError } from './errors.ts';
import { Extension } from './extension.ts';
import { GiveBackLedger, defaultGiveBackPolicy, giveBackDelay, giveBackPolicyOf, messageFingerprint, type GiveBackPolicy } from './give-back-policy.ts';
import type { Headers, Meta, RetryState } from './meta.ts';
import { decodePayload, type PayloadFormat } from './payload-decoder.ts';
import { readRetryHeaders } from './retry-headers.ts';
import type { Route } from './route.ts';
import type { SettledAction, Settlement } from './settlement.ts';
import { summarizeError, type RouteLabels, type ServiceObserver } from './telemetry.ts';
import type { Worker } from './worker.ts';

/** One message as a listener received it, before decoding. */
export interface IncomingMessage {
  readonly body: Uint8Array;
  /** The headers as they came, retry headers included. */
  readonly headers: Headers;
  /** Queue, topic or subject: meta.channel and the dead letter's original channel. */
  readonly channel: string;
  readonly format?: PayloadFormat;
  readonly payloadFilter?: (payload: unknown) => boolean;
  /** Retry state kept outside the headers (say, a KV store); default the one in the headers. */
  readonly retry?: RetryState;
  /**
   * The message's identity across redeliveries (stream sequence, topic-partition-offset), to count
   * how often the service handed it back; a function is called only when needed. Default a digest
   * of channel, headers and body.
   */
  readonly id?: string | (() => string);
  /** Why the message could not be read (a malformed header block, say): it is dead-lettered with reason `decode`. */
  readonly unreadable?: unknown;
  /** Further meta for the target (redelivered, partition...). */
  readonly meta?: Partial<Meta>;
}

/**
 * Where calls come from (a queue, a topic, a subject, an RPC address, a timer). An entrypoint is
 * bound to one route and hands it each message it receives, typed `D` (its broker's delivery), which
 * reaches the route as its entry id and comes back to `scheduleRetry`.
 */
export abstract class Entrypoint<D = unknown> extends Extension {
  #route: Route<D> | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #giveBacks = new GiveBackLedger();
  /** False until this entrypoint first counted a hand-back: until then its ledger is empty (no need to ask). */
  #gaveBack = false;

  /** Binds this entrypoint to its route. Called by the route; an entrypoint serves one route. */
  bindRoute(route: Route<D>): void {
    if (this.#route && this.#route !== route) {
      throw new ConfigurationError(`${this.constructor.name} is already bound to another route`);
    }
    this.#route = route;
  }

  get route(): Route<D> {
    if (!this.#route) throw new ConfigurationError(`${this.constructor.name} is not bound to a route`);
    return this.#route;
  }

  /**
   * The broker names this entrypoint consumes or exposes (queue, exchange, topic, group, subject...),
   * for the start-up summary and the command line. Default none; adapters override it.
   */
  brokerNames(): Record<string, unknown> {
    return {};
  }

  /**
   * `messaging.system` of the spans of this entrypoint's attempts (rabbitmq, kafka, nats...);
   * undefined (the default) starts no span.
   */
  get messagingSystem(): string | undefined {
    return undefined;
  }

  /**
   * The configured name this entrypoint consumes when messages arrive on many (a subject with
   * wildcards, a stream): span names use it, never the received subject, so they stay few. Default
   * undefined: the channel a message came on names its span.
   */
  get destinationTemplate(): string | undefined {
    return undefined;
  }

  /**
   * Why this entrypoint cannot take messages now (its connection is down, its consumer is being
   * replaced), or undefined when it can. `/readyz` answers 503 with these reasons. Default ready.
   */
  readiness(): string | undefined {
    return undefined;
  }

  /** Number of deliveries and route calls this entrypoint started that have not settled. */
  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  /** Aborted once the route stops taking work: cuts delayed hand-backs short. */
  get stopSignal(): AbortSignal {
    return this.route.stopSignal;
  }

  /**
   * Runs the route for one call. Resolves to the final worker (result or exception set), or null
   * when a retry was scheduled on the broker (the original may be acked). Rejects with
   * ExtensionIsStopped when the route is stopped: the message must go back to the broker.
   */
  callRoute(entryId: D, args: readonly unknown[], meta?: Partial<Meta>): Promise<Worker | null> {
    try {
      return this.track(this.route.startRoute(entryId, args, meta));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * Handles one message from decode to settlement, with the one failure policy every adapter shares:
   * decide (see decide), then carry the decision out through `settlement`. A dead letter that cannot
   * be stored, or a failure to settle, hands the message back after a growing delay, at most
   * `config.giveBack.limit` times, then dead-letters it with reason `give-back-limit`. Never rejects.
   */
  deliver(delivery: D, message: IncomingMessage, settlement: Settlement<D>): Promise<SettledAction> {
    return this.track(this.#deliver(delivery, message, settlement));
  }

  /**
   * What to do with one message: refuse a body over the route's maxPayloadBytes undecoded (a
   * `too-large` dead letter), decode it (a failure is a `decode` dead letter), apply the payload
   * filter (a throw is a `filter` dead letter, false an ack), run the route and map its result.
   * Never rejects: whatever is thrown on the way becomes an Error inside an outcome.
   */
  decide(delivery: D, message: IncomingMessage): Promise<DeliveryOutcome> {
    return this.#decide(delivery, message, false);
  }

  /**
   * decide; `tracked` when the call runs inside a delivery already counted in flight (deliver):
   * the route call then is not counted a second time (callRoute not overridden), since the
   * delivery cannot settle before it.
   */
  async #decide(delivery: D, message: IncomingMessage, tracked: boolean): Promise<DeliveryOutcome> {
    const { headers, retry: fromHeaders } = readRetryHeaders(message.headers);
    const retry = message.retry ?? fromHeaders;
    const limit = this.route.maxPayloadBytes;
    if (limit !== undefined && message.body.byteLength > limit) {
      return { action: 'dead-letter', ...deadLetterCopy(new PayloadTooLarge(message.body.byteLength, limit, 'message'), { headers, originalChannel: message.channel, retry }, 'too-large') };
    }
    let payload: unknown;
    try {
      if (message.unreadable !== undefined) throw message.unreadable;
      payload = decodePayload(message.body, message.format ?? 'json');
    } catch (error) {
      return { action: 'dead-letter', ...deadLetterCopy(DecodeError.from(error), { headers, originalChannel: message.channel, retry }, 'decode') };
    }
    if (message.payloadFilter) {
      try {
        if (!message.payloadFilter(payload)) return { action: 'ack' };
      } catch (error) {
        return { action: 'dead-letter', ...deadLetterCopy(toError(error), { headers, originalChannel: message.channel, retry }, 'filter') };
      }
    }
    try {
      const meta = { ...message.meta, headers, retry, channel: message.channel };
      const worker =
        tracked && this.callRoute === ownEntrypointSteps.callRoute
          ? await this.route.startRoute(delivery, [payload], meta)
          : await this.callRoute(delivery, [payload], meta);
      return outcomeOfWorker(worker, message.channel);
    } catch (thrown) {
      const error = toError(thrown);
      const stopping = error instanceof ExtensionIsStopped && this.route.isStopped;
      return { action: 'give-back', cause: stopping ? 'stopping' : 'failure', error };
    }
  }

  /**
   * Delivers the message of `entryId` again after `delayMs`, carrying `retry`. Resolves only once the
   * broker has accepted the retry; rejects otherwise (the original is then given back, never lost),
   * or with DeliveryLimitReached when the broker will not deliver it again. Entrypoints without
   * broker-delayed retries throw ConfigurationError: use the in-process Backoff.
   */
  async scheduleRetry(_entryId: D, _retry: RetryState, _delayMs: number): Promise<void> {
    throw new ConfigurationError(
      `${this.constructor.name} cannot schedule broker-delayed retries; use the in-process Backoff`,
    );
  }

  /** Waits until every in-flight delivery and route call settled or the timeout passed; true when all settled. */
  protected async drain(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight.size === 0) return true;
    return settledWithin(Promise.allSettled([...this.#inFlight]), timeoutMs);
  }

  /** Counts `work` as in flight until it settles: drain (and so stop) waits for it. */
  protected async track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    try {
      return await work;
    } finally {
      this.#inFlight.delete(work);
    }
  }

  async #deliver(delivery: D, message: IncomingMessage, settlement: Settlement<D>): Promise<SettledAction> {
    try {
      if (this.isBound && this.runner.telemetry.wants('received')) this.runner.telemetry.emit('received', this.route.labels);
      const outcome = this.decide === ownEntrypointSteps.decide ? await this.#decide(delivery, message, true) : await this.decide(delivery, message);
      switch (outcome.action) {
        case 'ack':
          return await this.#done(delivery, message, settlement, 'acked');
        case 'retry-scheduled':
          return await this.#done(delivery, message, settlement, 'retry-scheduled');
        case 'dead-letter':
          try {
            await settlement.deadLetter(delivery, outcome);
          } catch (error) {
            return await this.#failedToSettle(delivery, message, settlement, toError(error), false);
          }
          this.#deadLettered(outcome);
          return await this.#done(delivery, message, settlement, 'dead-lettered');
        case 'give-back':
          if (outcome.cause === 'stopping') return await this.#giveBack(delivery, settlement, 0, { cause: 'stopping', count: 0 });
          return await this.#failedToSettle(delivery, message, settlement, outcome.error, true);
      }
    } catch {
      // A fault of the policy itself (it leaves nothing unhandled): hand back, slowly.
      return this.#giveBack(delivery, settlement, defaultGiveBackPolicy.maxDelayMs, { cause: 'failure', count: 0 }).catch(() => 'given-back' as const);
    }
  }

  /**
   * For an adapter that could not even hand the message to `deliver` (its retry state could not be
   * read, say): counts the failure like any failure to settle, hands the message back after the
   * growing delay, and dead-letters it (`give-back-limit`) past the limit. Never rejects.
   */
  protected async handBackUnsettled(delivery: D, message: IncomingMessage, settlement: Settlement<D>, error: unknown): Promise<SettledAction> {
    return this.track(
      this.#failedToSettle(delivery, message, settlement, toError(error), true).catch(() =>
        this.#giveBack(delivery, settlement, defaultGiveBackPolicy.maxDelayMs, { cause: 'failure', count: 0 }).catch(() => 'given-back' as const),
      ),
    );
  }

  async #done(delivery: D, message: IncomingMessage, settlement: Settlement<D>, action: SettledAction): Promise<SettledAction> {
    try {
      const acking = settlement.ack(delivery);
      // A synchronous ack (most adapters) is not awaited: nothing to wait for.
      if (acking !== undefined) await acking;
    } catch {
      // The channel is gone: the broker delivers the message again.
    }
    if (this.#gaveBack && this.#giveBacks.size > 0) this.#giveBacks.forget(this.#identity(message));
    return action;
  }

  /**
   * The service could not settle the message (`error`). Hand it back after a growing delay; past the
   * limit (or where the protocol cannot hand back), dead-letter it with reason `give-back-limit`
   * unless it was the dead letter that failed; where even that fails, leave it to the broker with
   * the longest delay.
   */
  async #failedToSettle(
    delivery: D,
    message: IncomingMessage,
    settlement: Settlement<D>,
    error: Error,
    mayDeadLetter: boolean,
  ): Promise<SettledAction> {
    const policy = this.#policy();
    const identity = this.#identity(message);
    this.#gaveBack = true;
    const count = this.#giveBacks.increment(identity);
    if (count <= policy.limit && settlement.giveBackDelay !== 'none') {
      return this.#giveBack(delivery, settlement, giveBackDelay(policy, count), { cause: 'failure', count, error });
    }
    if (mayDeadLetter) {
      const { headers, retry } = readRetryHeaders(message.headers);
      const copy: DeadLetterCopy = deadLetterCopy(error, { headers, originalChannel: message.channel, retry: message.retry ?? retry }, 'give-back-limit');
      try {
        await settlement.deadLetter(delivery, copy);
        this.#deadLettered(copy);
        return await this.#done(delivery, message, settlement, 'dead-lettered');
      } catch {
        // Not even the dead letter can be stored: the broker keeps the message.
      }
    }
    if (settlement.giveBackDelay === 'none') return this.#dropped({ cause: 'failure', error });
    return this.#giveBack(delivery, settlement, policy.maxDelayMs, { cause: 'failure', count, error });
  }

  /** The context's give-back policy (validated when the context was bound). */
  #policy(): GiveBackPolicy {
    return giveBackPolicyOf(this.context.config);
  }

  /** Hands the message back after `delayMs`; a stop cuts a delay waited in process short. */
  async #giveBack(
    delivery: D,
    settlement: Settlement<D>,
    delayMs: number,
    why: { cause: 'stopping' | 'failure'; count: number; error?: Error },
  ): Promise<SettledAction> {
    if (settlement.giveBackDelay === 'none') return this.#dropped(why);
    this.#emit('givenBack', { cause: why.cause, count: why.count, delayMs, ...(why.error ? { error: summarizeError(why.error) } : {}) });
    let delay = delayMs;
    if (settlement.giveBackDelay === 'process' && delay > 0) {
      await abortableDelay(delay, this.stopSignal).catch(() => undefined);
      delay = 0;
    }
    try {
      await settlement.giveBack(delivery, delay);
    } catch {
      // The channel is gone: the broker delivers the message again.
    }
    return 'given-back';
  }

  /** Reports a message the protocol could not take back (at most once): it is gone. */
  #dropped(why: { cause: 'stopping' | 'failure'; error?: Error }): 'dropped' {
    this.#emit('dropped', { cause: why.cause, ...(why.error ? { error: summarizeError(why.error) } : {}) });
    return 'dropped';
  }

  /** Reports a stored dead letter: its reason, the failed attempt's number and error. */
  #deadLettered(copy: DeadLetterCopy): void {
    this.#emit('deadLettered', { reason: copy.reason, attempt: copy.attempt, error: summarizeError(copy.error) });
  }

  /** Reports an event about this entrypoint's route, when bound to a runner. */
  #emit<K extends 'deadLettered' | 'givenBack' | 'dropped'>(name: K, event: Omit<Parameters<NonNullable<ServiceObserver[K]>>[0], keyof RouteLabels>): void {
    if (!this.isBound) return;
    this.runner.telemetry.emit(name, { ...this.route.labels, ...event } as Parameters<NonNullable<ServiceObserver[K]>>[0]);
  }

  #identity(message: IncomingMessage): string {
    const { id } = message;
    if (typeof id === 'function') return id();
    return id ?? messageFingerprint(message.channel, message.headers, message.body);
  }
}

/**
 * Entrypoint's own steps as the module defined them: a step is taken without its async layer only while
 * an instance still has exactly these (not overridden by a subclass, nor replaced on the prototype by
 * a spy or an instrumentation wrapper, which then run as before).
 */
const ownEntrypointSteps = { callRoute: Entrypoint.prototype.callRoute, decide: Entrypoint.prototype.decide };
