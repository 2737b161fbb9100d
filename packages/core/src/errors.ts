/**
 * Every error the framework raises is a MicroFrameworkError. `retryable` tells a Backoff whether the
 * failure may be tried again; user errors are retryable unless marked with `markNonRetryable`.
 */
export class MicroFrameworkError extends Error {
  /** Whether a backoff may retry the call that failed with this error. */
  readonly retryable: boolean;

  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? true;
  }
}

/** A stopped extension (route, entrypoint, runner) refuses new work: the message goes back to the broker. */
export class ExtensionIsStopped extends MicroFrameworkError {
  constructor(what: string) {
    super(`${what} is stopped and accepts no new work`, { retryable: false });
  }
}

/** A message could not be decoded or translated; it is dead-lettered with reason `decode`, never retried. */
export class DecodeError extends MicroFrameworkError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: false });
  }

  static from(error: unknown): DecodeError {
    if (error instanceof DecodeError) return error;
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new DecodeError(`could not decode message: ${text}`, { cause: error });
  }
}

/** The configuration is invalid (missing service name, wrong backoff for an entrypoint...). */
export class ConfigurationError extends MicroFrameworkError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** An RPC call named a target the service does not expose. */
export class RpcTargetNotFound extends MicroFrameworkError {
  readonly service: string;
  readonly target: string;

  constructor(service: string, target: string) {
    super(`service "${service}" has no RPC target "${target}"`, { retryable: false });
    this.service = service;
    this.target = target;
  }
}

/** No reply came before the caller's deadline. The late reply, if any, is dropped. */
export class RpcTimeout extends MicroFrameworkError {
  readonly timeoutMs: number;

  constructor(service: string, target: string, timeoutMs: number) {
    super(`RPC ${service}.${target} got no reply within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** Nothing listens for the call: fails fast where the protocol can tell (no responders, unroutable). */
export class RpcNoResponders extends MicroFrameworkError {
  constructor(service: string, target: string) {
    super(`no service answers RPC ${service}.${target}`);
  }
}

/** The remote target threw: carries the remote error's name, message and data. Never retried. */
export class RemoteError extends MicroFrameworkError {
  readonly remoteName: string;
  readonly remoteMessage: string;
  readonly data: unknown;

  constructor(remoteName: string, remoteMessage: string, data?: unknown) {
    super(`${remoteName}: ${remoteMessage}`, { retryable: false });
    this.remoteName = remoteName;
    this.remoteMessage = remoteMessage;
    this.data = data;
  }
}

/** Wraps a user error that must not be retried: the backoff is skipped, the callback or dead letter runs. */
export class NonRetryableError extends MicroFrameworkError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: false });
  }
}

const nonRetryableMark = Symbol.for('@micro-framework/non-retryable');

/** Marks any error as non-retryable without changing its class; returns the same error. */
export function markNonRetryable<E extends Error>(error: E): E {
  Object.defineProperty(error, nonRetryableMark, { value: true, enumerable: false });
  return error;
}

/** True unless the error is a framework error with `retryable: false` or was marked non-retryable. */
export function isRetryable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true;
  if ((error as Record<symbol, unknown>)[nonRetryableMark] === true) return false;
  if (error instanceof MicroFrameworkError) return error.retryable;
  return true;
}

/** Turns anything thrown into an Error, keeping Error instances as they are. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown) ?? String(thrown));
}
