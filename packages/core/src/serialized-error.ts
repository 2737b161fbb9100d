import { AuthenticationFailed, InsecureCredentials, TlsHandshakeFailed } from './connection-security.ts';
import { ConfigurationError, DecodeError, PayloadTooLarge, DeliveryLimitReached, EncodeError, ExtensionIsStopped, MicroFrameworkError, NonErrorThrown, NonRetryableError, RemoteError, RpcNoResponders, RpcTargetNotFound, RpcTimeout, WorkerCrashed, WorkerTimeout, describeError, describeValue, isRetryable, markNonRetryable } from './errors.ts';

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
  /** An AggregateError's errors. */
  readonly errors?: readonly SerializedError[];
  /** The name of its constructor (a subclass that never set `name` is still told apart). */
  readonly className?: string;
  /** True for the framework's own errors (MicroFrameworkError): only those are rebuilt as the framework's classes. */
  readonly framework?: boolean;
  /** Set when the thrown value was not an Error: the value (when it can be cloned) or its description. */
  readonly thrown?: { readonly value?: unknown; readonly description: string };
  readonly retryable: boolean;
}

/** A class an error can be rebuilt as, matched by name. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RebuildableErrorClass = abstract new (...args: any[]) => Error;

/** On a rebuilt error whose class was not known where it was rebuilt: the class name it had, kept for the next crossing. */
const originalClassName = Symbol.for('@micro-framework/original-class-name');

/** How deep a cause chain is followed. */
const maxCauseDepth = 8;
/** Properties that are the error itself (or would change the rebuilt object's shape), not extra data. */
const ownFields = new Set(['name', 'message', 'stack', 'cause', 'errors', 'constructor', '__proto__']);
/** How many errors of an AggregateError are carried. */
const maxAggregated = 100;

/** `fn()`, or `fallback` when it throws (hostile getters, Proxy traps). */
function safely<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

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
  // Without a prototype, so a key like __proto__ is data, never a setter.
  const props = Object.create(null) as Record<string, unknown>;
  for (const key of safely(() => Object.keys(error), [] as string[])) {
    if (ownFields.has(key)) continue;
    const value = safely(() => (error as unknown as Record<string, unknown>)[key], '[unreadable]' as unknown);
    Object.defineProperty(props, key, { value: safely(() => cloneable(value), false) ? value : describeValue(value), enumerable: true, writable: true, configurable: true });
  }
  const rawCause = safely(() => (error as { cause?: unknown }).cause, undefined);
  const cause = rawCause !== undefined && depth < maxCauseDepth ? serializeError(rawCause, depth + 1) : undefined;
  const rawErrors = safely(() => (error instanceof AggregateError && Array.isArray(error.errors) ? (error.errors as unknown[]).slice(0, maxAggregated) : undefined), undefined);
  const errors = rawErrors && depth < maxCauseDepth ? rawErrors.map((each) => serializeError(each, depth + 1)) : undefined;
  const stack = readStack(error);
  const className = safely(() => {
    const kept = (error as unknown as Record<symbol, unknown>)[originalClassName];
    if (typeof kept === 'string') return kept;
    const ctor = (Object.getPrototypeOf(error) as { constructor?: unknown } | null)?.constructor;
    return typeof ctor === 'function' && typeof ctor.name === 'string' ? ctor.name : undefined;
  }, undefined);
  return {
    name,
    message,
    ...(stack === undefined ? {} : { stack }),
    props: { ...props },
    ...(cause ? { cause } : {}),
    ...(errors ? { errors } : {}),
    ...(className ? { className } : {}),
    framework: safely(() => error instanceof MicroFrameworkError, false),
    retryable: safely(() => isRetryable(error), true),
  };
}

/** JavaScript's own error classes, matched by name when an error is rebuilt. */
export const builtinErrorClasses: readonly RebuildableErrorClass[] = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError];

/** The framework's error classes: an error is rebuilt as one of them only when it was one. */
export const frameworkErrorClasses: readonly RebuildableErrorClass[] = [
  MicroFrameworkError, ConfigurationError, DecodeError, DeliveryLimitReached, EncodeError, ExtensionIsStopped,
  NonRetryableError, RemoteError, RpcNoResponders, RpcTargetNotFound, RpcTimeout, WorkerCrashed, WorkerTimeout,
  PayloadTooLarge, TlsHandshakeFailed, AuthenticationFailed, InsecureCredentials,
];

/**
 * Rebuilds an error serialized in a worker. A framework error comes back as the framework class of
 * its name, with its `retryable` as it was. Any other comes back as the first of `classes` (the
 * user's: a Backoff's `retryOn`, config.workerErrorClasses) whose name equals its constructor's name
 * or its `name`, else as the JavaScript error class of that name, else as an Error carrying the name;
 * so `instanceof` and `retryOn` still decide as they would in process. The class's constructor is
 * not run (Error's is, with the class as new.target); message, stack, own properties, cause and an
 * AggregateError's errors are copied, and a non-retryable mark comes back.
 */
export function rebuildError(serialized: SerializedError, classes: readonly RebuildableErrorClass[] = []): Error {
  if (serialized.thrown) return new NonErrorThrown('value' in serialized.thrown ? serialized.thrown.value : serialized.thrown.description);
  const named = (list: readonly RebuildableErrorClass[], name: string | undefined): RebuildableErrorClass | undefined =>
    name === undefined ? undefined : list.find((cls) => cls.name === name);
  const users = named(classes, serialized.className) ?? named(classes, serialized.name);
  const cls = serialized.framework
    ? // A subclass of a framework error the service names (say, one of NonRetryableError) is itself.
      (users ?? named(frameworkErrorClasses, serialized.className) ?? named(frameworkErrorClasses, serialized.name) ?? MicroFrameworkError)
    : (users ?? named(builtinErrorClasses, serialized.name) ?? Error);
  // A real Error (with its internal slot, so structured clone and util.types.isNativeError know it)
  // whose prototype is the class's; the class's own constructor is not run.
  const error = Reflect.construct(Error, [serialized.message], cls) as Error;
  const define = (key: PropertyKey, value: unknown, enumerable: boolean): void => {
    Object.defineProperty(error, key, { value, enumerable, writable: true, configurable: true });
  };
  if (error.name !== serialized.name) define('name', serialized.name, false);
  if (serialized.className !== undefined && serialized.className !== cls.name) define(originalClassName, serialized.className, false);
  define('stack', serialized.stack ?? `${serialized.name}: ${serialized.message}`, false);
  for (const [key, value] of Object.entries(serialized.props)) {
    if (!ownFields.has(key)) define(key, value, true);
  }
  if (serialized.framework) define('retryable', serialized.retryable, true);
  if (serialized.cause) define('cause', rebuildError(serialized.cause, classes), false);
  if (serialized.errors) define('errors', serialized.errors.map((each) => rebuildError(each, classes)), false);
  if (!serialized.retryable && isRetryable(error)) markNonRetryable(error);
  return error;
}
