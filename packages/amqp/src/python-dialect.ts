import { rpcDeadlineOf, type Headers } from '@micro-framework/core';

/**
 * How RPC replies differ for micro_framework's Python callers, which send no `x-rpc-deadline`
 * header (every client of this package does):
 * - the JSON reply is sent as a JSON string (their client parses the decoded body once more);
 * - a missing target is `RPCTargetDoesNotExist`, the exception their client raises by that name;
 * - `kwargs` stays empty (their client calls `ExceptionClass(*args, **kwargs)`, and Python's builtin
 *   exceptions take no keyword arguments); the error's data goes in `exception.data` instead;
 * - an exception name their client could call as something other than an exception class (it looks
 *   names up among Python's builtins: `eval`, `open`...) is sent as `RemoteError`, with the name
 *   kept in the message. Only names starting with a capital letter pass.
 */
export function isPythonCaller(headers: Headers): boolean {
  return rpcDeadlineOf(headers) === undefined;
}

const safeExceptionName = /^[A-Z][A-Za-z0-9_]*$/;
const fromUtf8 = new TextDecoder();
const toUtf8 = new TextEncoder();

/** The reply bytes (as every adapter encodes them) rewritten for a Python caller; see isPythonCaller. */
export function pythonReplyBody(reply: Uint8Array): Uint8Array {
  const text = fromUtf8.decode(reply);
  let adapted = text;
  try {
    const body = JSON.parse(text) as { data: unknown; exception: Record<string, unknown> | null };
    if (body.exception) {
      const { exception: name, message, kwargs } = body.exception;
      const renamed = name === 'RpcTargetNotFound' ? 'RPCTargetDoesNotExist' : String(name);
      const safe = safeExceptionName.test(renamed);
      const data = (kwargs as { data?: unknown } | undefined)?.data;
      body.exception = {
        ...body.exception,
        exception: safe ? renamed : 'RemoteError',
        message: safe ? message : `${renamed}: ${String(message)}`,
        kwargs: {},
        ...(data === undefined ? {} : { data }),
      };
      adapted = JSON.stringify(body);
    }
  } catch {
    // Not ours to fix: sent as it came, encoded as a string all the same.
  }
  return toUtf8.encode(JSON.stringify(adapted));
}
