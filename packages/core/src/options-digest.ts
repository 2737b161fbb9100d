import { createHash } from 'node:crypto';

const identities = new WeakMap<object, number>();
let nextIdentity = 0;

function identity(value: object): string {
  let id = identities.get(value);
  if (id === undefined) identities.set(value, (id = (nextIdentity += 1)));
  return `#${id}`;
}

/** JSON with sorted keys; bytes by content, functions and class instances by identity. */
function canonical(value: unknown, path: Set<object>): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'function') return identity(value);
    if (typeof value === 'bigint' || typeof value === 'symbol') return String(value);
    return value;
  }
  if (ArrayBuffer.isView(value)) return `bytes:${createHash('sha256').update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)).digest('hex')}`;
  if (path.has(value)) return identity(value);
  const prototype: unknown = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) return identity(value);
  path.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => canonical(item, path));
    const record = value as Record<string, unknown>;
    return Object.keys(record)
      .sort()
      .map((key) => [key, canonical(record[key], path)]);
  } finally {
    path.delete(value);
  }
}

/**
 * A short one-way digest of a set of connection options, so that routes whose options differ in
 * anything (other credentials, TLS settings, client id) never share a connection, while the key
 * that tells them apart shows no secret. Equal plain values give equal digests; functions (an nkey
 * authenticator, a SASL provider) and class instances count by identity, bytes by content.
 */
export function optionsDigest(options: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(options, new Set())) ?? 'undefined')
    .digest('hex')
    .slice(0, 16);
}
