import { createHash, createHmac, randomBytes } from 'node:crypto';
import { Secret } from './secret.ts';

const identities = new WeakMap<object, number>();
let nextIdentity = 0;

function identity(value: object): string {
  let id = identities.get(value);
  if (id === undefined) identities.set(value, (id = (nextIdentity += 1)));
  return `#${id}`;
}

/**
 * A tagged canonical form: every value says its kind (a string can never pass for a function or
 * bytes), keys sorted, undefined members dropped (as `{}`); bytes and Secrets by content; functions, class
 * instances, cycles and anything that cannot be read (a throwing getter, a revoked Proxy) by identity.
 */
function canonical(value: unknown, path: Set<object>): unknown {
  if (value === undefined) return ['u'];
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') return ['v', value];
  if (typeof value === 'bigint' || typeof value === 'symbol') return ['s', typeof value, String(value)];
  if (typeof value === 'function') return ['id', identity(value)];
  if (value instanceof Secret) return ['secret', value.reveal()];
  const object = value as object;
  try {
    if (ArrayBuffer.isView(object)) {
      return ['b', createHash('sha256').update(new Uint8Array(object.buffer, object.byteOffset, object.byteLength)).digest('hex')];
    }
    if (path.has(object) || path.size > 64) return ['id', identity(object)];
    const prototype: unknown = Object.getPrototypeOf(object);
    if (!Array.isArray(object) && prototype !== Object.prototype && prototype !== null) return ['id', identity(object)];
    path.add(object);
    try {
      if (Array.isArray(object)) return ['a', object.map((item: unknown) => canonical(item, path))];
      const record = object as Record<string, unknown>;
      const members: unknown[] = [];
      for (const key of Object.keys(record).sort()) {
        const member = record[key];
        if (member !== undefined) members.push([key, canonical(member, path)]);
      }
      return ['o', members];
    } finally {
      path.delete(object);
    }
  } catch {
    return ['id', identity(object)];
  }
}

/** This process's key: a digest means nothing outside the process that made it. */
const processKey = randomBytes(32);

/**
 * A short one-way digest of a set of connection options, so that routes whose options differ in
 * anything (other credentials, TLS settings, client id) never share a connection, while the key
 * that tells them apart shows no secret. Equal plain values give equal digests; a Secret counts by
 * its value, functions (an nkey authenticator, a SASL provider) and other class instances by
 * identity, bytes by content. Keyed with a random per-process key (HMAC), so a digest that reaches
 * a log cannot be used to guess a password offline.
 */
export function optionsDigest(options: unknown): string {
  return createHmac('sha256', processKey)
    .update(JSON.stringify(canonical(options, new Set())))
    .digest('hex')
    .slice(0, 16);
}
