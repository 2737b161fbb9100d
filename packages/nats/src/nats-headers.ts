import { DecodeError, type Headers } from '@micro-framework/core';
import { headers as createHeaders, type MsgHdrs } from '@nats-io/transport-node';

/** NATS headers as @micro-framework headers (the first value of each key). */
export function headersFromNats(hdrs: MsgHdrs | undefined): Headers {
  const out: Headers = {};
  if (!hdrs) return out;
  for (const key of hdrs.keys()) out[key] = hdrs.get(key);
  return out;
}

/** @micro-framework headers as NATS headers; undefined when empty (no header block on the wire). */
export function headersToNats(headers: Headers | undefined): MsgHdrs | undefined {
  const entries = Object.entries(headers ?? {});
  if (entries.length === 0) return undefined;
  const hdrs = createHeaders();
  for (const [key, value] of entries) hdrs.set(key, value);
  return hdrs;
}

/**
 * The headers of a received message, or why they cannot be read: a client of another language can
 * send a header block nats.js refuses to parse (a name with a space, say), and reading it throws.
 * Never throws: the headers are then empty and `unreadable` says why.
 */
export function readNatsHeaders(msg: { readonly headers?: MsgHdrs }): { headers: Headers; unreadable?: DecodeError } {
  try {
    return { headers: headersFromNats(msg.headers) };
  } catch (error) {
    return { headers: {}, unreadable: new DecodeError('the message headers cannot be read', { cause: error }) };
  }
}
