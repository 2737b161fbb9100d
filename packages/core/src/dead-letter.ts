import type { Headers, RetryState } from './meta.ts';

/** Why a message was dead-lettered. */
export type DeadLetterReason = 'decode' | 'exhausted' | 'non-retryable';

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

/** The headers a dead-lettered copy carries, added to the message's own headers. */
export function deadLetterHeaders(headers: Headers, info: DeadLetterInfo): Headers {
  const lastFailure = info.failedAt ?? Date.now();
  return {
    ...headers,
    [DeadLetterHeader.reason]: info.reason,
    [DeadLetterHeader.originalChannel]: info.originalChannel,
    [DeadLetterHeader.attempts]: String(info.retry.retryCount + 1),
    [DeadLetterHeader.errorName]: info.error.name,
    [DeadLetterHeader.errorMessage]: info.error.message,
    [DeadLetterHeader.firstFailureTime]: String(info.retry.firstErrorTime ?? lastFailure),
    [DeadLetterHeader.lastFailureTime]: String(lastFailure),
  };
}
