import { ConfigurationError, DecodeError, EncodeError, PayloadTooLarge, RemoteError, RpcTargetNotFound, describeError, describeValue } from './errors.ts';
import type { Headers } from './meta.ts';
import { withTraceContext } from './tracing.ts';

/** The request body every adapter sends (wire-compatible with the Python micro_framework and Nameko). */
export interface RpcRequestBody {
  readonly command: string;
  readonly command_args: readonly unknown[];
  readonly command_kwargs: Readonly<Record<string, unknown>>;
}

/** The error part of a reply. */
export interface RpcExceptionBody {
  readonly exception: string;
  readonly message: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly module: string | null;
}

/** The reply body: data on success, exception (and data null) on failure. */
export interface RpcReplyBody {
  readonly data: unknown;
  readonly exception: RpcExceptionBody | null;
}

/** Internal commands every RPC service answers. */
export const RpcCommand = {
  listTargets: '__list_targets__',
  getTarget: '__get_target__',
} as const;

/**
 * What list-targets and get-target return for one exposed target. `target`, `args`, `kwargs` and
 * `docstring` are micro_framework's keys (a Python service sends only those; a client fills `name`,
 * `description` and `arity` from them).
 */
export interface RpcTargetInfo {
  readonly name: string;
  readonly description: string | null;
  /** Declared parameter count of the target function (dependencies excluded). */
  readonly arity: number;
  readonly target: string;
  /** Names of the required parameters, where known (a Python service lists them). */
  readonly args: readonly string[];
  /** Names of the optional or keyword parameters, where known. */
  readonly kwargs: readonly string[];
  readonly docstring: string | null;
}

/** A target description as either side sends it, with both sides' keys filled in. */
export function normalizeTargetInfo(value: unknown): RpcTargetInfo {
  const info = (typeof value === 'object' && value !== null ? value : {}) as Partial<Record<keyof RpcTargetInfo, unknown>>;
  const names = (list: unknown): string[] => (Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : []);
  const text = (item: unknown): string | null => (typeof item === 'string' ? item : null);
  const name = text(info.name) ?? text(info.target) ?? '';
  const args = names(info.args);
  const description = text(info.description) ?? text(info.docstring);
  return {
    name,
    description,
    arity: typeof info.arity === 'number' ? info.arity : args.length,
    target: text(info.target) ?? name,
    args,
    kwargs: names(info.kwargs),
    docstring: text(info.docstring) ?? description,
  };
}

/** The exception names that read as RpcTargetNotFound: ours, and micro_framework's. */
const targetNotFoundNames = new Set(['RpcTargetNotFound', 'RPCTargetDoesNotExist']);

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeJson(value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value === undefined ? null : value));
}

/** Parses UTF-8 JSON; throws DecodeError on bad bytes or bad JSON. */
export function decodeJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(fromUtf8.decode(body));
  } catch (error) {
    throw DecodeError.from(error);
  }
}

/**
 * The encoded request of one call; throws PayloadTooLarge, before anything is sent, when it is
 * larger than `maxPayloadBytes`.
 */
export function encodeRpcRequest(target: string, args: readonly unknown[], options: { readonly kwargs?: Record<string, unknown>; readonly maxPayloadBytes?: number } = {}): Uint8Array {
  const limit = options.maxPayloadBytes;
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1)) {
    throw new ConfigurationError(`maxPayloadBytes must be a positive integer, got ${String(limit)}`);
  }
  const body = encodeJson(rpcRequestBody(target, args, options.kwargs));
  if (limit !== undefined && body.byteLength > limit) throw new PayloadTooLarge(body.byteLength, limit, `RPC request to ${target}`);
  return body;
}

export function rpcRequestBody(command: string, args: readonly unknown[], kwargs: Record<string, unknown> = {}): RpcRequestBody {
  return { command, command_args: args, command_kwargs: kwargs };
}

/**
 * Validates a decoded request; throws DecodeError when its shape is wrong. A request encoded twice
 * (a JSON string holding the JSON request, which micro_framework's services also accept) is read through.
 */
export function parseRpcRequest(value: unknown): RpcRequestBody {
  if (typeof value === 'string') value = decodeJson(utf8.encode(value));
  if (typeof value !== 'object' || value === null) throw new DecodeError('RPC request must be a JSON object');
  const { command, command_args: args = [], command_kwargs: kwargs = {} } = value as Record<string, unknown>;
  if (typeof command !== 'string') throw new DecodeError('RPC request has no string "command"');
  if (!Array.isArray(args)) throw new DecodeError('RPC request "command_args" must be an array');
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
    throw new DecodeError('RPC request "command_kwargs" must be an object');
  }
  return { command, command_args: args, command_kwargs: kwargs as Record<string, unknown> };
}

/** Arguments the target receives: the positional ones, then the keyword ones as one object if any. */
export function rpcCallArguments(request: RpcRequestBody): unknown[] {
  return Object.keys(request.command_kwargs).length > 0
    ? [...request.command_args, request.command_kwargs]
    : [...request.command_args];
}

export function rpcSuccessReply(data: unknown): RpcReplyBody {
  return { data: data === undefined ? null : data, exception: null };
}

/**
 * A reply carrying the error's name and message (read safely, see describeError); `data` (own
 * enumerable property) goes in kwargs. A RemoteError passes on the remote name and message.
 */
export function rpcErrorReply(error: Error): RpcReplyBody {
  const { name, message } = describeError(error);
  let data: unknown;
  try {
    data = (error as { data?: unknown }).data;
  } catch {
    data = undefined;
  }
  return {
    data: null,
    exception: {
      exception: error instanceof RemoteError ? error.remoteName : name,
      message: error instanceof RemoteError ? error.remoteMessage : message,
      args: [message],
      kwargs: data === undefined ? {} : { data },
      module: error instanceof RpcTargetNotFound ? '@micro-framework/core' : null,
    },
  };
}

/**
 * The bytes of a reply, whatever it holds. A result JSON cannot encode (a BigInt, a cycle, a
 * throwing toJSON) becomes an EncodeError reply; an error reply whose data cannot be encoded is sent
 * without its data. Never throws.
 */
export function encodeRpcReply(reply: RpcReplyBody): Uint8Array {
  try {
    return encodeJson(reply);
  } catch (failure) {
    if (reply.exception === null) {
      const reason = describeError(failure);
      return encodeRpcReply(rpcErrorReply(new EncodeError(`the result could not be encoded as JSON: ${reason.name}: ${reason.message}`)));
    }
    const { exception, message } = reply.exception;
    return encodeJson({ data: null, exception: { exception: describeValue(exception), message: describeValue(message), args: [describeValue(message)], kwargs: {}, module: null } });
  }
}

/** Header carrying when the caller stops waiting for a reply (epoch ms): a service drops a request past it. */
export const rpcDeadlineHeader = 'x-rpc-deadline';

/** The headers a request carries: its caller's deadline, and the active trace context. */
export function rpcRequestHeaders(timeoutMs: number, now = Date.now()): Headers {
  return withTraceContext({ [rpcDeadlineHeader]: String(now + timeoutMs) });
}

/** The caller's deadline of a request (epoch ms), if it sent one. */
export function rpcDeadlineOf(headers: Headers): number | undefined {
  const value = headers[rpcDeadlineHeader];
  if (value === undefined) return undefined;
  const deadline = Number(value);
  return Number.isFinite(deadline) ? deadline : undefined;
}

/**
 * Validates a decoded reply; throws DecodeError when its shape is wrong. A reply encoded twice (a
 * JSON string holding the JSON reply, as micro_framework's Python services send it) is read through.
 */
export function parseRpcReply(value: unknown): RpcReplyBody {
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch (error) {
      throw DecodeError.from(error);
    }
  }
  if (typeof value !== 'object' || value === null || !('exception' in value)) {
    throw new DecodeError('RPC reply must be an object with "data" and "exception"');
  }
  const reply = value as { data?: unknown; exception: unknown };
  if (reply.exception !== null && (typeof reply.exception !== 'object' || Array.isArray(reply.exception))) {
    throw new DecodeError('RPC reply "exception" must be null or an object');
  }
  return { data: reply.data ?? null, exception: reply.exception as RpcExceptionBody | null };
}

/** The reply's data, or the typed error it carries (RpcTargetNotFound or RemoteError). */
export function unwrapRpcReply(reply: RpcReplyBody, service: string, target: string): unknown {
  const failure = reply.exception;
  if (!failure) return reply.data;
  if (targetNotFoundNames.has(failure.exception)) throw new RpcTargetNotFound(service, target);
  // The error's data: in kwargs from this package's services, in `data` from replies to Python callers.
  const data = failure.kwargs?.['data'] ?? (failure as { data?: unknown }).data;
  throw new RemoteError(String(failure.exception), String(failure.message ?? ''), data);
}
