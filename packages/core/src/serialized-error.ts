import { ConfigurationError, DecodeError, DeliveryLimitReached, EncodeError, ExtensionIsStopped, MicroFrameworkError, NonErrorThrown, NonRetryableError, RemoteError, RpcNoResponders, RpcTargetNotFound, RpcTimeout, WorkerCrashed, WorkerTimeout, describeError, describeValue, isRetryable, markNonRetryable } from './errors.ts';

/**
 * An error as it crosses from a worker thread or child process: what structured clone would lose
 * (the class name, own enumerable properties, the cause chain, a non-Error thrown value, whether it
 * may be retried) written out as plain data.
 */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  /** Own enumerable properties that can be cloned; others as their description. */
  readonly props: Record<string, unknown>;
  readonly cause?: SerializedError;
  /** Set when the thrown value was not an Error: the value (when it can be cloned) or its description. */
  readonly thrown?: { readonly value?: unknown; readonly description: string };
  readonly retryable: boolean;
}

/** A class an error can be rebuilt as, matched by name. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RebuildableErrorClass = abstract new (...args: any[]) => Error;

/** How deep a cause chain is followed. */
const maxCauseDepth = 8;
/** Properties that are the error itself, not extra data. */
const ownFields = new Set(['name', 'message', 'stack', 'cause']);

function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

function readStack(error: object): string | undefined {
  try {
    const stack = (error as { stack?: unknown }).stack;
    return typeof stack === 'string' ? stack : undefined;
  } catch {
    return undefined;
  }
}

/** Turns anything thrown into plain data that survives structured clone. Never throws. */
export function serializeError(thrown: unknown, depth = 0): SerializedError {
  let isError: boolean;
  try {
    isError = thrown instanceof Error;
  } catch {
    isError = false;
  }
  if (!isError) {
    const description = describeValue(thrown);
    return { name: 'NonErrorThrown', message: description, props: {}, thrown: cloneable(thrown) ? { value: thrown, description } : { description }, retryable: true };
  }
  const error = thrown as Error;
  const { name, message } = describeError(error);
  const props: Record<string, unknown> = {};
  try {
    for (const key of Object.keys(error)) {
      if (ownFields.has(key)) continue;
      try {
        const value = (error as unknown as Record<string, unknown>)[key];
        props[key] = cloneable(value) ? value : describeValue(value);
      } catch {
        props[key] = '[unreadable]';
      }
    }
  } catch {
    // A Proxy refusing ownKeys: no extra properties.
  }
  let cause: SerializedError | undefined;
  try {
    const raw = (error as { cause?: unknown }).cause;
    if (raw !== undefined && depth < maxCauseDepth) cause = serializeError(raw, depth + 1);
  } catch {
    cause = undefined;
  }
  const stack = readStack(error);
  return { name, message, ...(stack === undefined ? {} : { stack }), props, ...(cause ? { cause } : {}), retryable: isRetryable(error) };
}

/** JavaScript's own error classes and the framework's, matched by name when an error is rebuilt. */
export const builtinErrorClasses: readonly RebuildableErrorClass[] = [
  Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError,
  MicroFrameworkError, ConfigurationError, DecodeError, DeliveryLimitReached, EncodeError, ExtensionIsStopped,
  NonRetryableError, RemoteError, RpcNoResponders, RpcTargetNotFound, RpcTimeout, WorkerCrashed, WorkerTimeout,
];

/**
 * Rebuilds an error serialized in a worker. Its class is the last of `classes` (then the built-in
 * ones) whose name equals the error's name, so `instanceof` and a Backoff's `retryOn` classes still
 * match; the class's constructor is not run (Error's is, with the class as new.target), and the
 * fields are copied. An unknown name
 * gives an Error carrying that name. Properties, stack and cause come back; so does a non-retryable mark.
 */
export function rebuildError(serialized: SerializedError, classes: readonly RebuildableErrorClass[] = []): Error {
  if (serialized.thrown) return new NonErrorThrown('value' in serialized.thrown ? serialized.thrown.value : serialized.thrown.description);
  const byName = new Map<string, RebuildableErrorClass>();
  for (const cls of [...builtinErrorClasses, ...classes]) byName.set(cls.name, cls);
  const cls = byName.get(serialized.name) ?? Error;
  // A real Error (with its internal slot, so structured clone and util.types.isNativeError know it)
  // whose prototype is the class's; the class's own constructor is not run.
  const error = Reflect.construct(Error, [serialized.message], cls) as Error;
  const define = (key: string, value: unknown, enumerable: boolean): void => {
    Object.defineProperty(error, key, { value, enumerable, writable: true, configurable: true });
  };
  if (error.name !== serialized.name) define('name', serialized.name, false);
  define('stack', serialized.stack ?? `${serialized.name}: ${serialized.message}`, false);
  for (const [key, value] of Object.entries(serialized.props)) define(key, value, true);
  if (serialized.cause) define('cause', rebuildError(serialized.cause, classes), false);
  if (!serialized.retryable && isRetryable(error)) markNonRetryable(error);
  return error;
}
