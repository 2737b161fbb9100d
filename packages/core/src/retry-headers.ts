import type { Headers, RetryState } from './meta.ts';
import { safeHeaderValue } from './safe-header.ts';

/** Header names that carry the retry state on the wire. Every adapter uses these. */
export const RetryHeader = {
  count: 'x-retry-count',
  firstErrorTime: 'x-first-error-time',
  lastRetryTime: 'x-last-retry-time',
  lastErrorName: 'x-last-error-name',
  lastErrorMessage: 'x-last-error-message',
} as const;

const retryHeaderNames: ReadonlySet<string> = new Set(Object.values(RetryHeader));

/** Writes the retry state into headers (returns a new object; other headers are kept); error texts made header-safe. */
export function writeRetryHeaders(headers: Headers, state: RetryState): Headers {
  const out: Headers = { ...headers, [RetryHeader.count]: String(state.retryCount) };
  if (state.firstErrorTime !== undefined) out[RetryHeader.firstErrorTime] = String(state.firstErrorTime);
  if (state.lastRetryTime !== undefined) out[RetryHeader.lastRetryTime] = String(state.lastRetryTime);
  if (state.lastErrorName !== undefined) out[RetryHeader.lastErrorName] = safeHeaderValue(state.lastErrorName);
  if (state.lastErrorMessage !== undefined) out[RetryHeader.lastErrorMessage] = safeHeaderValue(state.lastErrorMessage);
  return out;
}

function readNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Splits headers into the user's headers and the retry state. Missing or malformed retry headers give
 * a first-attempt state; they never throw.
 */
export function readRetryHeaders(headers: Headers): { headers: Headers; retry: RetryState } {
  const user: Headers = {};
  // Object.keys, not Object.entries: the same own enumerable names, without a pair per header.
  const names = Object.keys(headers);
  for (let index = 0; index < names.length; index += 1) {
    const name = names[index]!;
    if (!retryHeaderNames.has(name)) user[name] = headers[name]!;
  }
  const count = readNumber(headers[RetryHeader.count]);
  const retry: RetryState = {
    retryCount: count !== undefined && count >= 0 ? Math.floor(count) : 0,
    firstErrorTime: readNumber(headers[RetryHeader.firstErrorTime]),
    lastRetryTime: readNumber(headers[RetryHeader.lastRetryTime]),
    lastErrorName: headers[RetryHeader.lastErrorName],
    lastErrorMessage: headers[RetryHeader.lastErrorMessage],
  };
  return { headers: user, retry };
}
