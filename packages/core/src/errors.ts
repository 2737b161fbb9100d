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

/**
 * A message or request is larger than the route's or the client's `maxPayloadBytes`. A consumed
 * message is dead-lettered with reason `too-large` without being decoded; an RPC client refuses to
 * send such a request. Never retried.
 */
export class PayloadTooLarge extends MicroFrameworkError {
  readonly sizeBytes: number;
  readonly maxPayloadBytes: number;

  constructor(sizeBytes: number, maxPayloadBytes: number, what = 'payload') {
    super(`${what} of ${sizeBytes} bytes exceeds maxPayloadBytes ${maxPayloadBytes}`, { retryable: false });
    this.sizeBytes = sizeBytes;
    this.maxPayloadBytes = maxPayloadBytes;
  }
}

/**
 * A route, entrypoint or extension had not finished stopping when its stop's deadline (plus a short
 * grace) passed: the stop went on without it and reports this error. What it holds may be left open.
 */
export class StopTimedOut extends MicroFrameworkError {
  constructor(what: string) {
    super(`${what} did not stop within its deadline; the stop went on without it`, { retryable: false });
  }
}

/** The configuration is invalid (missing service name, wrong backoff for an entrypoint...). */
export class ConfigurationError extends MicroFrameworkError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: false });
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

/**
 * A value was thrown that is not an Error (a string, a BigInt, a plain object, undefined...). Its
 * message describes the value; `thrown` keeps it as it was. Retryable like any user error.
 */
export class NonErrorThrown extends MicroFrameworkError {
  readonly thrown: unknown;

  constructor(thrown: unknown) {
    super(describeValue(thrown));
    this.thrown = thrown;
  }
}

/** A value could not be encoded (an RPC result or a payload JSON cannot represent: BigInt, a cycle...). */
export class EncodeError extends MicroFrameworkError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: false });
  }
}

/**
 * The broker will not deliver the message again (JetStream max_deliver, a quorum queue's delivery
 * limit), so no broker-delayed retry can be scheduled: the route treats its retries as spent.
 */
export class DeliveryLimitReached extends MicroFrameworkError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/**
 * Turns anything thrown into an Error, keeping Error instances as they are. Never throws: not on a
 * BigInt, a cyclic object, undefined, nor a Proxy whose every trap throws.
 */
export function toError(thrown: unknown): Error {
  try {
    if (thrown instanceof Error) return thrown;
  } catch {
    // A Proxy whose getPrototypeOf trap throws: describe it like any other value.
  }
  return new NonErrorThrown(thrown);
}

/**
 * The name and message of an error, read without trusting it: a getter that throws, or a name or
 * message that is not a string, gives a description instead of an exception.
 */
export function describeError(error: unknown): { name: string; message: string } {
  const read = (key: 'name' | 'message'): string => {
    try {
      const value = (error as Record<string, unknown>)[key];
      return typeof value === 'string' ? value : describeValue(value);
    } catch {
      return key === 'name' ? 'Error' : '[unreadable]';
    }
  };
  return { name: read('name') || 'Error', message: read('message') };
}

/** A short text for any value, for error messages and logs; never throws. */
export function describeValue(value: unknown): string {
  try {
    switch (typeof value) {
      case 'string':
        return value;
      case 'bigint':
        return `${value.toString()}n`;
      case 'undefined':
        return 'undefined';
      case 'function':
        return `[function ${value.name || 'anonymous'}]`;
      case 'object':
        return value === null ? 'null' : stringifyObject(value);
      default:
        return String(value);
    }
  } catch {
    return '[unprintable value]';
  }
}

/** JSON of an object with cycles marked and BigInts written as numbers-with-n, or its tag. */
function stringifyObject(value: object): string {
  try {
    const seen = new WeakSet<object>();
    const text = JSON.stringify(value, (_key, item: unknown) => {
      if (typeof item === 'bigint') return `${item.toString()}n`;
      if (typeof item === 'object' && item !== null) {
        if (seen.has(item)) return '[Circular]';
        seen.add(item);
      }
      return item;
    });
    if (text !== undefined) return text;
  } catch {
    // A throwing toJSON or getter: fall back to the object's tag.
  }
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return '[unprintable value]';
  }
}

/**
 * A target running in a worker thread or child process did not finish because the thread or process
 * died (exit, uncaught exception outside the call, out of memory). The pool replaces it; the call
 * is retryable and follows the route's backoff like any failure.
 */
export class WorkerCrashed extends MicroFrameworkError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
  }
}

/**
 * A target running in a worker thread or child process ran longer than `workerTimeoutMs`: the thread
 * or process was stopped and replaced. Retryable.
 */
export class WorkerTimeout extends MicroFrameworkError {
  readonly timeoutMs: number;

  constructor(target: string, timeoutMs: number) {
    super(`${target} ran longer than workerTimeoutMs (${timeoutMs} ms) and was stopped`);
    this.timeoutMs = timeoutMs;
  }
}
