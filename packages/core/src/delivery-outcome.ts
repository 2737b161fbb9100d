import { deadLetterDescription, type DeadLetterReason } from './dead-letter.ts';
import { DecodeError, PayloadTooLarge, isRetryable } from './errors.ts';
import type { Headers, RetryState } from './meta.ts';
import type { Worker } from './worker.ts';

/** What the dead-letter destination receives: why, the error, and the headers describing it. */
export interface DeadLetterCopy {
  readonly reason: DeadLetterReason;
  readonly error: Error;
  /** Which attempt failed last, from 1 (retries + 1). */
  readonly attempt: number;
  /** Only the dead-letter description (x-dead-letter-reason, x-error-name...), for adapters that keep the message's own header table. */
  readonly description: Headers;
  /** The message's headers (retry headers removed) plus the description. */
  readonly headers: Headers;
}

/**
 * What core decided for one message:
 * - `ack`: the route finished (success, or its callback succeeded), or the payload filter dropped it;
 * - `retry-scheduled`: a broker-delayed retry was accepted; the original is acked;
 * - `dead-letter`: the copy goes to the dead-letter destination, then the original is acked;
 * - `give-back`: the message returns to the broker, at once when the route is `stopping` (work taken
 *   but not started), after a growing delay and a bounded number of times on a `failure` (the service
 *   could not settle it: a retry or a dead letter it could not publish, a route that threw).
 */
export type DeliveryOutcome =
  | { readonly action: 'ack'; readonly worker?: Worker }
  | { readonly action: 'retry-scheduled' }
  | ({ readonly action: 'dead-letter' } & DeadLetterCopy)
  | { readonly action: 'give-back'; readonly cause: 'stopping' | 'failure'; readonly error: Error };

/** Where a message stood when it failed: its own headers, channel and retry state. */
export interface FailureContext {
  readonly headers: Headers;
  readonly originalChannel: string;
  readonly retry: RetryState;
}

/** Why a failed call is dead-lettered: decode, too large, non-retryable error, or retries exhausted. */
export function deadLetterReasonOf(error: Error): DeadLetterReason {
  if (error instanceof DecodeError) return 'decode';
  if (error instanceof PayloadTooLarge) return 'too-large';
  if (!isRetryable(error)) return 'non-retryable';
  return 'exhausted';
}

/** The dead-letter copy of a message that failed with `error` (reason derived from the error unless given). */
export function deadLetterCopy(error: Error, context: FailureContext, reason = deadLetterReasonOf(error)): DeadLetterCopy {
  const description = deadLetterDescription({ reason, error, originalChannel: context.originalChannel, retry: context.retry });
  return { reason, error, attempt: context.retry.retryCount + 1, description, headers: { ...context.headers, ...description } };
}

/** The dead-letter outcome of `error`, described for the message's channel and retry state. */
export function deadLetterOutcome(error: Error, context: FailureContext, reason?: DeadLetterReason): DeliveryOutcome {
  return { action: 'dead-letter', ...deadLetterCopy(error, context, reason) };
}

/** Maps the route's final worker (null: retry scheduled on the broker) to an outcome. */
export function outcomeOfWorker(worker: Worker | null, originalChannel: string): DeliveryOutcome {
  if (worker === null) return { action: 'retry-scheduled' };
  if (worker.exception) {
    return deadLetterOutcome(worker.exception, { headers: worker.meta.headers, originalChannel, retry: worker.meta.retry });
  }
  return { action: 'ack', worker };
}
