/** Message headers as they travel on every broker: string values only, so they survive any protocol. */
export type Headers = Record<string, string>;

/**
 * The retry context of one message. It travels with the message (headers on the broker, meta in
 * process), so a retry scheduled before a restart keeps its count afterwards.
 */
export interface RetryState {
  /** Retries already made before this attempt: 0 on the first attempt. */
  readonly retryCount: number;
  /** When the first attempt failed (epoch ms). */
  readonly firstErrorTime?: number;
  /** When the latest retry was scheduled (epoch ms). */
  readonly lastRetryTime?: number;
  /** Name and message of the latest failure. */
  readonly lastErrorName?: string;
  readonly lastErrorMessage?: string;
}

/** What an entrypoint knows about one call besides its arguments. */
export interface Meta {
  readonly headers: Headers;
  readonly retry: RetryState;
  /** Queue, topic or subject the message came from. */
  readonly channel?: string;
  /** True when the broker says it delivered this message before (crash or give-back). */
  readonly redelivered?: boolean;
  readonly [key: string]: unknown;
}

export const initialRetryState: RetryState = Object.freeze({ retryCount: 0 });

/** Builds a Meta, filling in empty headers and a first-attempt retry state. */
export function createMeta(partial: Partial<Meta> = {}): Meta {
  return { ...partial, headers: partial.headers ?? {}, retry: partial.retry ?? initialRetryState };
}
