import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Route, Runner, secret } from '@micro-framework/core';
import { testCertificates, waitFor, type TestCertificates } from '@micro-framework/conformance';
import { NatsRpcListener, SubjectListener } from '@micro-framework/nats';
import { NatsTestServer } from '@micro-framework/nats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './cli.ts';

// The command line reaches a secured broker through --broker-options: here a NATS server of the
// test's own that requires TLS and a password (one with characters a URL would have to encode).
const password = `cli/p@ss%${randomUUID().slice(0, 8)}`;
let certificates: TestCertificates;
let server: NatsTestServer;
let dir: string;
let runner: Runner;
const received: unknown[] = [];

beforeAll(async () => {
  certificates = testCertificates();
  server = await NatsTestServer.start({
    auth: { user: 'ops', pass: password },
    tls: { certFile: certificates.serverCertFile, keyFile: certificates.serverKeyFile },
  });
  dir = mkdtempSync(join(tmpdir(), 'cli-secured-'));
  runner = new Runner({
    config: { serviceName: 'vault', nats: { servers: server.url, tls: { caFile: certificates.caFile }, user: 'ops', pass: secret(password) } },
    contexts: [{ routes: [
      new Route({ target: function unlock(code: string) { return `unlocked ${code}`; }, entrypoint: new NatsRpcListener() }),
      new Route({ target: function audited(payload: unknown) { received.push(payload); }, entrypoint: new SubjectListener({ subject: 'vault.audited' }) }),
    ] }],
  });
  await runner.start();
}, 60_000);

afterAll(async () => {
  await runner?.stop({ timeoutMs: 5_000 });
  await server?.stop();
  certificates?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('--broker-options', () => {
  it('a module options file (password from the environment, never in the file): call and emit over TLS', async () => {
    const module = join(dir, 'nats-options.mjs');
    const core = new URL('../../core/src/index.ts', import.meta.url).href;
    writeFileSync(module, `import { Secret } from ${JSON.stringify(core)};\nexport default { tls: { caFile: ${JSON.stringify(certificates.caFile)} }, user: 'ops', pass: Secret.fromEnv('VAULT_NATS_PASSWORD') };\n`);
    const env = { VAULT_NATS_PASSWORD: password, NODE_OPTIONS: '--conditions=@micro-framework/source' };
    const called = await cli(['call', 'vault', 'unlock', '"7"', '--broker', 'nats', '--url', server.url, '--broker-options', module], { env });
    expect(called.stderr).toBe('');
    expect(called.stdout.trim()).toBe('unlocked 7');
    const emitted = await cli(['emit', 'vault', 'audited', '{"by":"cli"}', '--broker', 'nats', '--url', server.url, '--broker-options', module], { env });
    expect(emitted.code, emitted.stderr).toBe(0);
    await waitFor(() => received.length === 1, 'the event emitted over TLS');
    expect(received).toEqual([{ by: 'cli' }]);
    expect(called.stdout + called.stderr + emitted.stdout + emitted.stderr).not.toContain(password);
  });

  it('a JSON options file holding the address; a wrong CA or password fails typed; a bad file is a usage error', async () => {
    const json = join(dir, 'nats-options.json');
    writeFileSync(json, JSON.stringify({ servers: server.url, tls: { caFile: certificates.caFile }, user: 'ops', pass: password }));
    const called = await cli(['call', 'vault', 'unlock', '"8"', '--broker', 'nats', '--broker-options', json]);
    expect(called.stdout.trim(), called.stderr).toBe('unlocked 8');

    const wrongCa = join(dir, 'wrong-ca.json');
    writeFileSync(wrongCa, JSON.stringify({ tls: { caFile: certificates.otherCaFile }, user: 'ops', pass: password }));
    const refused = await cli(['call', 'vault', 'unlock', '"9"', '--broker', 'nats', '--url', server.url, '--broker-options', wrongCa]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('TlsHandshakeFailed');
    expect(refused.stderr).not.toContain(password);

    const wrongPassword = join(dir, 'wrong-password.json');
    writeFileSync(wrongPassword, JSON.stringify({ tls: { caFile: certificates.caFile }, user: 'ops', pass: 'not-it' }));
    const denied = await cli(['call', 'vault', 'unlock', '"9"', '--broker', 'nats', '--url', server.url, '--broker-options', wrongPassword]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('AuthenticationFailed');

    const notObject = join(dir, 'array.json');
    writeFileSync(notObject, '[1]');
    const usage = await cli(['call', 'vault', 'unlock', '--broker', 'nats', '--broker-options', notObject]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('must hold an object');
    const missing = await cli(['call', 'vault', 'unlock', '--broker', 'nats', '--broker-options', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
  });
});
