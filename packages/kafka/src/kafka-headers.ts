import type { Headers } from '@micro-framework/core';
import type { IHeaders } from 'kafkajs';

/** Kafka record headers (bytes or strings, possibly repeated) as @micro-framework headers: UTF-8, last value wins. */
export function headersFromKafka(headers: IHeaders | undefined): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name] = Buffer.isBuffer(last) ? last.toString('utf8') : String(last);
  }
  return out;
}
