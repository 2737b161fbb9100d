import { DeadLetterHeader, RetryHeader, type Headers } from '@micro-framework/core';

/** One dead letter as `dlq list` shows it. */
export interface DeadLetterEntry {
  /** Where it sits: queue position, stream sequence, or partition/offset. */
  readonly position: string;
  readonly reason: string;
  readonly attempts: string;
  readonly error: string;
  /** Where `replay` sends it: a queue, subject or topic. */
  readonly original: string;
  readonly body: string;
}

/** Headers that describe a dead letter or carry retry state: a replayed message starts afresh without them. */
const stateHeaders = new Set<string>([
  ...Object.values(DeadLetterHeader),
  ...Object.values(RetryHeader),
  'x-retry-due',
  'x-stream-sequence',
]);

/** The message's own headers, its dead-letter description and retry state removed. */
export function replayHeaders(headers: Headers): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !stateHeaders.has(name) && !name.startsWith('x-original-')));
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** A dead letter described from its headers and body (`original` read by the caller's adapter). */
export function describeDeadLetter(position: string, headers: Headers, body: Uint8Array, original: string): DeadLetterEntry {
  const name = headers[DeadLetterHeader.errorName];
  const message = headers[DeadLetterHeader.errorMessage];
  const text = utf8.decode(body);
  return {
    position,
    reason: headers[DeadLetterHeader.reason] ?? '?',
    attempts: headers[DeadLetterHeader.attempts] ?? '?',
    error: name || message ? `${name ?? 'Error'}: ${message ?? ''}` : '?',
    original,
    body: text.length > 200 ? `${text.slice(0, 200)}…` : text,
  };
}
