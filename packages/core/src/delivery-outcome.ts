import type { DeadLetterReason } from './dead-letter.ts';
import { DecodeError, ExtensionIsStopped, isRetryable } from './errors.ts';
import type { Worker } from './worker.ts';

/**
 * What an entrypoint does with a message once its route returned:
 * - `ack`: the route finished (success, or a callback ran and succeeded);
 * - `retry-scheduled`: a broker-delayed retry was accepted; ack the original;
 * - `dead-letter`: publish a copy to the dead-letter destination, then ack;
 * - `give-back`: the route refused or could not finish; requeue / nak / do not commit.
 */
export type DeliveryOutcome =
  | { readonly action: 'ack'; readonly worker: Worker }
  | { readonly action: 'retry-scheduled' }
  | { readonly action: 'dead-letter'; readonly reason: DeadLetterReason; readonly worker: Worker; readonly error: Error }
  | { readonly action: 'give-back'; readonly error: unknown };

/** Why a failed worker is dead-lettered: decode, non-retryable error, or retries exhausted. */
export function deadLetterReasonOf(error: Error): DeadLetterReason {
  if (error instanceof DecodeError) return 'decode';
  if (!isRetryable(error)) return 'non-retryable';
  return 'exhausted';
}

/** Maps the route's result (or its rejection) to what the entrypoint must do. */
export function deliveryOutcomeOf(result: PromiseSettledResult<Worker | null>): DeliveryOutcome {
  if (result.status === 'rejected') return { action: 'give-back', error: result.reason };
  const worker = result.value;
  if (worker === null) return { action: 'retry-scheduled' };
  if (worker.exception) {
    return { action: 'dead-letter', reason: deadLetterReasonOf(worker.exception), worker, error: worker.exception };
  }
  return { action: 'ack', worker };
}

/** True when the rejection means the route was stopped (a normal give-back, not a fault to log). */
export function isStoppedRejection(outcome: DeliveryOutcome): boolean {
  return outcome.action === 'give-back' && outcome.error instanceof ExtensionIsStopped;
}
