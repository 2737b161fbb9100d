import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { optionsDigest, secret } from '../src/index.ts';

describe('optionsDigest', () => {
  it('tells apart options that differ in a credential, and shows none of it', () => {
    const secret = 'tok-3f9a1c77e2';
    const base = { servers: ['nats://127.0.0.1:4222'], token: secret };
    const digest = optionsDigest(base);
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    expect(digest).not.toContain(secret);
    expect(optionsDigest({ token: secret, servers: ['nats://127.0.0.1:4222'] })).toBe(digest);
    expect(optionsDigest({ ...base, token: `${secret}x` })).not.toBe(digest);
    expect(optionsDigest({ ...base, tls: { ca: Buffer.from('a') } })).not.toBe(optionsDigest({ ...base, tls: { ca: Buffer.from('b') } }));
  });

  it('counts a Secret by its value, and cannot be checked against a guess outside the process', () => {
    const password = 'hunter2';
    expect(optionsDigest({ password: secret(password) })).toBe(optionsDigest({ password: secret(password) }));
    expect(optionsDigest({ password: secret(password) })).not.toBe(optionsDigest({ password: secret('hunter3') }));
    expect(optionsDigest({ password: secret(password) })).not.toBe(optionsDigest({ password }));
    // An unkeyed hash of the canonical form (what an attacker holding a logged key would compute) never matches.
    const guess = createHash('sha256').update(JSON.stringify(['o', [['password', ['v', password]]]])).digest('hex').slice(0, 16);
    expect(optionsDigest({ password })).not.toBe(guess);
  });

  it('counts functions and class instances by identity, and survives cycles', () => {
    const authenticator = (): undefined => undefined;
    expect(optionsDigest({ authenticator })).toBe(optionsDigest({ authenticator }));
    expect(optionsDigest({ authenticator })).not.toBe(optionsDigest({ authenticator: (): undefined => undefined }));
    class Mechanism {}
    const mechanism = new Mechanism();
    expect(optionsDigest({ sasl: mechanism })).not.toBe(optionsDigest({ sasl: new Mechanism() }));
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    expect(optionsDigest(cyclic)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('never takes a string for a function or bytes, ignores undefined members, and never throws', () => {
    const authenticator = (): undefined => undefined;
    const withFunction = optionsDigest({ authenticator });
    for (let id = 0; id < 50; id += 1) expect(optionsDigest({ authenticator: `#${id}` })).not.toBe(withFunction);
    expect(optionsDigest({ a: 1, b: undefined })).toBe(optionsDigest({ a: 1 }));
    const throwing = Object.defineProperty({}, 'password', { enumerable: true, get: () => { throw new Error('no'); } });
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i += 1) deep = { deep };
    for (const options of [throwing, { tls: proxy }, deep]) expect(optionsDigest(options)).toMatch(/^[0-9a-f]{16}$/);
  });
});
