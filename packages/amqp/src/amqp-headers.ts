import type { Headers } from '@micro-framework/core';

/**
 * AMQP header tables carry numbers, booleans, nested tables and bytes; @micro-framework headers are
 * strings. Strings stay as they are, bytes become UTF-8 text, and anything else becomes its JSON.
 */
export function headersFromAmqp(table: Record<string, unknown> | undefined): Headers {
  const headers: Headers = {};
  for (const [name, value] of Object.entries(table ?? {})) {
    if (value === undefined || value === null) continue;
    if (typeof value === 'string') headers[name] = value;
    else if (Buffer.isBuffer(value)) headers[name] = value.toString('utf8');
    else if (typeof value === 'object') headers[name] = JSON.stringify(value);
    else headers[name] = String(value);
  }
  return headers;
}
