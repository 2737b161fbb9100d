import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AuthenticationFailed,
  ConfigurationError,
  InsecureCredentials,
  TlsHandshakeFailed,
  asTlsHandshakeFailed,
  isLoopbackHost,
  refuseInsecureCredentials,
  verifiesServer,
  resolveTls,
  secret,
} from '../src/index.ts';

describe('resolveTls', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tls-options-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('verifies the server unless rejectUnauthorized is false, said explicitly', async () => {
    expect((await resolveTls({})).rejectUnauthorized).toBe(true);
    expect((await resolveTls({ rejectUnauthorized: true })).rejectUnauthorized).toBe(true);
    expect((await resolveTls({ rejectUnauthorized: false })).rejectUnauthorized).toBe(false);
    await expect(resolveTls({ rejectUnauthorized: 'false' as unknown as boolean })).rejects.toThrow(ConfigurationError);
  });

  it('refuses an unknown key, so a typo cannot turn verification off', async () => {
    await expect(resolveTls({ rejectUnauthorised: false } as never)).rejects.toThrow(/unknown option "rejectUnauthorised"/);
  });

  it('reads files, reveals the key and passphrase, keeps the servername', async () => {
    const resolved = await resolveTls({
      caFile: [file('a.pem', 'CA-A'), file('b.pem', 'CA-B')],
      certFile: file('cert.pem', 'CERT'),
      keyFile: file('key.pem', 'KEY'),
      passphrase: secret('open sesame'),
      servername: 'broker.internal',
    });
    expect(resolved.ca).toEqual([Buffer.from('CA-A'), Buffer.from('CA-B')]);
    expect(resolved.cert).toEqual(Buffer.from('CERT'));
    expect(resolved.key).toEqual(Buffer.from('KEY'));
    expect(resolved.passphrase).toBe('open sesame');
    expect(resolved.servername).toBe('broker.internal');
    const inline = await resolveTls({ ca: 'CA', cert: 'CERT', key: secret('KEY') });
    expect(inline).toMatchObject({ ca: ['CA'], cert: 'CERT', key: 'KEY' });
  });

  it('names the file it cannot read, and refuses a value given inline and as a file', async () => {
    const error = (await resolveTls({ caFile: join(dir, 'missing.pem') }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('missing.pem');
    expect(error.message).toContain('ENOENT');
    await expect(resolveTls({ ca: 'CA', caFile: file('c.pem', 'C') })).rejects.toThrow(/ca or caFile, not both/);
  });
});

describe('connection security', () => {
  it('knows loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['192.0.2.1', 'broker.internal', '10.0.0.1', '127.0.0.1.nip.io', '::2']) expect(isLoopbackHost(host), host).toBe(false);
  });

  it('refuses credentials in plaintext beyond loopback unless allowed', () => {
    const check = { broker: 'RabbitMQ', what: 'a password', allowInsecure: undefined };
    expect(() => refuseInsecureCredentials({ ...check, hosts: ['192.0.2.1'], tls: false })).toThrow(InsecureCredentials);
    expect(() => refuseInsecureCredentials({ ...check, hosts: ['127.0.0.1', '192.0.2.1'], tls: false })).toThrow(/192\.0\.2\.1.*allowInsecure/);
    expect(() => refuseInsecureCredentials({ ...check, hosts: ['192.0.2.1'], tls: true })).not.toThrow();
    expect(() => refuseInsecureCredentials({ ...check, hosts: ['127.0.0.1'], tls: false })).not.toThrow();
    expect(() => refuseInsecureCredentials({ ...check, hosts: ['192.0.2.1'], tls: false, allowInsecure: true })).not.toThrow();
    expect(() => refuseInsecureCredentials({ ...check, hosts: ['192.0.2.1'], tls: false, what: undefined })).not.toThrow();
  });

  it('counts only TLS that verifies the server as safe for credentials', () => {
    expect(verifiesServer(undefined)).toBe(false);
    expect(verifiesServer({})).toBe(true);
    expect(verifiesServer({ rejectUnauthorized: true })).toBe(true);
    expect(verifiesServer({ rejectUnauthorized: false })).toBe(false);
  });

  it('recognises a TLS failure by its code, in the error or a cause', () => {
    const verify = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    const wrapped = new Error('connection failed', { cause: verify });
    const typed = asTlsHandshakeFailed(wrapped, 'Kafka', '127.0.0.1:9093');
    expect(typed).toBeInstanceOf(TlsHandshakeFailed);
    expect(typed?.code).toBe('SELF_SIGNED_CERT_IN_CHAIN');
    expect(typed?.retryable).toBe(false);
    expect(typed?.message).toContain('Kafka at 127.0.0.1:9093');
    expect(asTlsHandshakeFailed(Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'NATS', 'h')?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(asTlsHandshakeFailed(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'NATS', 'h')).toBeUndefined();
    expect(new AuthenticationFailed('NATS', '127.0.0.1:4222', 'user "svc"').message).toBe('NATS at 127.0.0.1:4222 refused the credentials (user "svc")');
  });
});
