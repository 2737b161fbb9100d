import { DecodeError } from './errors.ts';

/**
 * How a listener turns a message body into the target's first argument: `json` (default) parses
 * UTF-8 JSON, `raw` passes the bytes as they came. A `json` failure is a DecodeError: the message is
 * dead-lettered with reason `decode`.
 */
export type PayloadFormat = 'json' | 'raw';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Decodes a body; throws DecodeError for invalid UTF-8 or JSON in `json` format. */
export function decodePayload(body: Uint8Array, format: PayloadFormat): unknown {
  if (format === 'raw') return body;
  try {
    return JSON.parse(utf8.decode(body));
  } catch (error) {
    throw DecodeError.from(error);
  }
}

/** Encodes a payload: bytes as they are, anything else as UTF-8 JSON (undefined becomes null). */
export function encodePayload(payload: unknown): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  return encoder.encode(JSON.stringify(payload === undefined ? null : payload));
}
