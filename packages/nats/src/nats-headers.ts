import type { Headers } from '@micro-framework/core';
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
