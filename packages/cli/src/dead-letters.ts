import { DeadLetterHeader, RetryHeader, type Headers } from '@micro-framework/core';

/** One dead letter as `dlq list` shows it. */
export interface DeadLetterEntry {
  /** Where it sits: queue position, stream sequence, or partition/offset. */
  readonly position: string;
  readonly reason: string;
  readonly attempts: string;
  readonly error: string;
  /** Where it came from: the listener's queue, subject or topic. */
  readonly original: string;
  /** When its first and last attempts failed (ISO time), when the headers tell. */
  readonly firstFailure?: string;
  readonly lastFailure?: string;
  readonly body: string;
}

/**
 * Headers that describe a dead letter or carry retry state, written by core (DeadLetterHeader,
 * RetryHeader), by an adapter (origin, Kafka's due time and group, JetStream's sequence) or by
 * RabbitMQ's own dead-lettering of a delay queue (x-death and its summaries).
 */
const stateHeaders: ReadonlySet<string> = new Set<string>([
  ...Object.values(DeadLetterHeader),
  ...Object.values(RetryHeader),
  'x-retry-due',
  'x-stream-sequence',
  'x-consumer-group',
  'x-death',
]);
const statePrefixes = ['x-original-', 'x-first-death-', 'x-last-death-'];

/** Whether header `name` describes a dead letter or its retries (and so is left out of a replay). */
export function isDeadLetterStateHeader(name: string): boolean {
  return stateHeaders.has(name) || statePrefixes.some((prefix) => name.startsWith(prefix));
}

/**
 * The message's own headers for its replay: every dead-letter description and retry state removed, so
 * the route sees a first attempt; `keep` names state headers to carry over all the same.
 */
export function replayHeaders<V>(headers: Readonly<Record<string, V>>, keep: readonly string[] = []): Record<string, V> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => keep.includes(name) || !isDeadLetterStateHeader(name)));
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** An epoch-ms header value as an ISO time; undefined when absent or not a time. */
function isoTime(value: string | undefined): string | undefined {
  const ms = Number(value);
  return value && Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : undefined;
}

/** A dead letter described from its headers and body (`original` read by the caller's adapter). */
export function describeDeadLetter(position: string, headers: Headers, body: Uint8Array, original: string): DeadLetterEntry {
  const name = headers[DeadLetterHeader.errorName];
  const message = headers[DeadLetterHeader.errorMessage];
  const text = utf8.decode(body);
  const firstFailure = isoTime(headers[DeadLetterHeader.firstFailureTime]);
  const lastFailure = isoTime(headers[DeadLetterHeader.lastFailureTime]);
  return {
    position,
    reason: headers[DeadLetterHeader.reason] ?? '?',
    attempts: headers[DeadLetterHeader.attempts] ?? '?',
    error: name || message ? `${name ?? 'Error'}: ${message ?? ''}` : '?',
    original,
    ...(firstFailure ? { firstFailure } : {}),
    ...(lastFailure ? { lastFailure } : {}),
    body: text.length > 200 ? `${text.slice(0, 200)}…` : text,
  };
}
