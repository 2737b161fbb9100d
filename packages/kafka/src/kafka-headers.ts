import type { Headers } from '@micro-framework/core';
import type { IHeaders } from 'kafkajs';

/**
 * Kafka record headers (bytes or strings, possibly repeated) as @micro-framework headers: UTF-8, last
 * value wins; `without` is left out.
 */
export function headersFromKafka(headers: IHeaders | undefined, without?: string): Headers {
  const out: Headers = {};
  if (!headers) return out;
  for (const name in headers) {
    if (!Object.hasOwn(headers, name) || name === without) continue;
    const value = headers[name];
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name] = Buffer.isBuffer(last) ? last.toString('utf8') : String(last);
  }
  return out;
}
