import { deadLetterOutcome, deliveryOutcomeOf, type DeliveryOutcome } from './delivery-outcome.ts';
import { ConfigurationError, DecodeError } from './errors.ts';
import { Extension } from './extension.ts';
import type { Headers, Meta, RetryState } from './meta.ts';
import { decodePayload, type PayloadFormat } from './payload-decoder.ts';
import { readRetryHeaders } from './retry-headers.ts';
import type { Route } from './route.ts';
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
  /** Further meta for the target (redelivered, partition...). */
  readonly meta?: Partial<Meta>;
}

/**
 * Where calls come from (a queue, a topic, a subject, an RPC address, a timer). An entrypoint is
 * bound to one route and hands it each message through `callRoute`; it acks, gives back or replies
 * according to what the route returned.
 */
export abstract class Entrypoint extends Extension {
  #route: Route | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();

  /** Binds this entrypoint to its route. Called by the route; an entrypoint serves one route. */
  bindRoute(route: Route): void {
    if (this.#route && this.#route !== route) {
      throw new ConfigurationError(`${this.constructor.name} is already bound to another route`);
    }
    this.#route = route;
  }

  get route(): Route {
    if (!this.#route) throw new ConfigurationError(`${this.constructor.name} is not bound to a route`);
    return this.#route;
  }

  /** Number of route calls this entrypoint started that have not settled. */
  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  /**
   * Runs the route for one message. Resolves to the final worker (result or exception set), or null
   * when a retry was scheduled on the broker (the original may be acked). Rejects with
   * ExtensionIsStopped when the route is stopped: the message must go back to the broker.
   */
  async callRoute(entryId: unknown, args: readonly unknown[], meta?: Partial<Meta>): Promise<Worker | null> {
    const call = this.route.startRoute(entryId, args, meta);
    this.#inFlight.add(call);
    try {
      return await call;
    } finally {
      this.#inFlight.delete(call);
    }
  }

  /**
   * Decodes the message, applies the payload filter, runs the route and says what to do with the
   * message. A body that cannot be decoded never reaches the route: it comes back as a `decode` dead
   * letter. Never rejects: a refusal (stopped route) or a failure to finish is a `give-back`.
   */
  async deliver(entryId: unknown, message: IncomingMessage): Promise<DeliveryOutcome> {
    const { headers, retry: fromHeaders } = readRetryHeaders(message.headers);
    const retry = message.retry ?? fromHeaders;
    let payload: unknown;
    try {
      payload = decodePayload(message.body, message.format ?? 'json');
    } catch (error) {
      return deadLetterOutcome(error as DecodeError, { headers, originalChannel: message.channel, retry });
    }
    if (message.payloadFilter && !message.payloadFilter(payload)) return { action: 'ack' };
    const meta = { ...message.meta, headers, retry, channel: message.channel };
    const [result] = await Promise.allSettled([this.callRoute(entryId, [payload], meta)]);
    return deliveryOutcomeOf(result, message.channel);
  }

  /**
   * Delivers the message of `entryId` again after `delayMs`, carrying `retry`. Resolves only once the
   * broker has accepted the retry; rejects otherwise (the original is then given back, never lost).
   * Entrypoints without broker-delayed retries throw ConfigurationError: use the in-process Backoff.
   */
  async scheduleRetry(_entryId: unknown, _retry: RetryState, _delayMs: number): Promise<void> {
    throw new ConfigurationError(
      `${this.constructor.name} cannot schedule broker-delayed retries; use the in-process Backoff`,
    );
  }

  /** Waits until every in-flight route call settled or the timeout passed; true when all settled. */
  protected async drain(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
    });
    const settled = Promise.allSettled([...this.#inFlight]).then(() => true as const);
    try {
      return await Promise.race([settled, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}
