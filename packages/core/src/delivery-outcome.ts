import { deadLetterHeaders, type DeadLetterReason } from './dead-letter.ts';
import { DecodeError, isRetryable } from './errors.ts';
import type { Headers } from './meta.ts';
import type { Worker } from './worker.ts';

/**
 * What an entrypoint does with a message once `deliver` returned:
 * - `ack`: the route finished (success, or a callback ran and succeeded), or the payload filter
 *   dropped the message (no worker then);
 * - `retry-scheduled`: a broker-delayed retry was accepted; ack the original;
 * - `dead-letter`: publish the body with `headers` (the message's own headers plus the dead-letter
 *   description) to the dead-letter destination, then ack;
 * - `give-back`: the route refused or could not finish; requeue / nak / do not commit.
 */
export type DeliveryOutcome =
  | { readonly action: 'ack'; readonly worker?: Worker }
  | { readonly action: 'retry-scheduled' }
  | { readonly action: 'dead-letter'; readonly reason: DeadLetterReason; readonly error: Error; readonly headers: Headers }
  | { readonly action: 'give-back'; readonly error: unknown };

/** Why a failed call is dead-lettered: decode, non-retryable error, or retries exhausted. */
export function deadLetterReasonOf(error: Error): DeadLetterReason {
  if (error instanceof DecodeError) return 'decode';
  if (!isRetryable(error)) return 'non-retryable';
  return 'exhausted';
}

/** The dead-letter outcome of `error`, described for the message's channel and retry state. */
export function deadLetterOutcome(
  error: Error,
  context: { headers: Headers; originalChannel: string; retry: Worker['meta']['retry'] },
): DeliveryOutcome {
  const reason = deadLetterReasonOf(error);
  return {
    action: 'dead-letter',
    reason,
    error,
    headers: deadLetterHeaders(context.headers, { reason, originalChannel: context.originalChannel, retry: context.retry, error }),
  };
}

/** Maps the route's result (or its rejection) to what the entrypoint must do. */
export function deliveryOutcomeOf(result: PromiseSettledResult<Worker | null>, originalChannel: string): DeliveryOutcome {
  if (result.status === 'rejected') return { action: 'give-back', error: result.reason };
  const worker = result.value;
  if (worker === null) return { action: 'retry-scheduled' };
  if (worker.exception) {
    return deadLetterOutcome(worker.exception, { headers: worker.meta.headers, originalChannel, retry: worker.meta.retry });
  }
  return { action: 'ack', worker };
}
