import { describeError } from './errors.ts';
import type { Headers, RetryState } from './meta.ts';
import { safeHeaderValue } from './safe-header.ts';

/**
 * Why a message was dead-lettered:
 * - `decode`: the body or a translator could not make arguments of it;
 * - `too-large`: the body is larger than the route's `maxPayloadBytes` (it was not decoded);
 * - `filter`: the listener's payload filter threw on it;
 * - `exhausted`: the target failed and its retries are spent (or its callback failed);
 * - `non-retryable`: the target failed with an error that must not be retried;
 * - `give-back-limit`: the service failed to settle it (a retry or hand-back it could not make)
 *   more times than the give-back policy allows.
 */
export type DeadLetterReason = 'decode' | 'too-large' | 'filter' | 'exhausted' | 'non-retryable' | 'give-back-limit';

/** Header names on a dead-lettered message. Every adapter uses these. */
export const DeadLetterHeader = {
  reason: 'x-dead-letter-reason',
  originalChannel: 'x-original-channel',
  attempts: 'x-attempts',
  errorName: 'x-error-name',
  errorMessage: 'x-error-message',
  firstFailureTime: 'x-first-failure-time',
  lastFailureTime: 'x-last-failure-time',
} as const;

export interface DeadLetterInfo {
  readonly reason: DeadLetterReason;
  readonly originalChannel: string;
  readonly retry: RetryState;
  readonly error: Error;
  /** When the last attempt failed (epoch ms); defaults to now. */
  readonly failedAt?: number;
}

/**
 * The headers that describe a dead letter (reason, channel, attempts, error, failure times), every
 * value safe for any broker's headers (see safeHeaderValue), however hostile the error.
 */
export function deadLetterDescription(info: DeadLetterInfo): Headers {
  const lastFailure = info.failedAt ?? Date.now();
  const error = describeError(info.error);
  return {
    [DeadLetterHeader.reason]: info.reason,
    [DeadLetterHeader.originalChannel]: safeHeaderValue(info.originalChannel),
    [DeadLetterHeader.attempts]: String(info.retry.retryCount + 1),
    [DeadLetterHeader.errorName]: safeHeaderValue(error.name),
    [DeadLetterHeader.errorMessage]: safeHeaderValue(error.message),
    [DeadLetterHeader.firstFailureTime]: String(info.retry.firstErrorTime ?? lastFailure),
    [DeadLetterHeader.lastFailureTime]: String(lastFailure),
  };
}

/** The headers a dead-lettered copy carries: the message's own headers plus its description. */
export function deadLetterHeaders(headers: Headers, info: DeadLetterInfo): Headers {
  return { ...headers, ...deadLetterDescription(info) };
}
