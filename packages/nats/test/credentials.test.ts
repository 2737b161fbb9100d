import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { AuthenticationFailed, ConfigurationError, InsecureCredentials, Route, Runner, secret } from '@micro-framework/core';
import { TcpProxy, secretProbe, waitFor } from '@micro-framework/conformance';
import { nkeys, type Authenticator } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamListener, NatsConnectionExtension, NatsPublisher, NatsRpcClient, NatsRpcListener, natsConnectionKey, resolveNatsOptions, type NatsOptions } from '../src/index.ts';
import { NatsTestOperator, NatsTestServer, type NatsTestServerOptions } from '../src/testing/index.ts';

// Issue #15: each kind of NATS credentials as a structured value, on a server of this suite's own
// that requires it: accepted when right, AuthenticationFailed when refused, never printed.
const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;

/** Runs an RPC target with `good`, calls it, then starts a service with each of `refused`; returns what each start threw. */
async function signIn(good: NatsOptions, refused: NatsOptions[], probe = secretProbe()): Promise<unknown[]> {
  function ping(): string {
    return 'pong';
  }
  const service = unique('signed-in');
  const runner = new Runner({ config: { serviceName: service, nats: good, logger: probe.logger }, contexts: [{ routes: [new Route({ target: ping, entrypoint: new NatsRpcListener() })] }] });
  const client = new NatsRpcClient({ nats: good });
  try {
    await runner.start();
    expect(await client.call(service, 'ping', [], { timeoutMs: 5_000 })).toBe('pong');
  } finally {
    await client.close();
    await runner.stop({ timeoutMs: 5_000 });
  }
  const errors: unknown[] = [];
  for (const options of refused) {
    const refusedRunner = new Runner({ config: { serviceName: unique('refused'), nats: options, logger: probe.logger }, contexts: [{ routes: [new Route({ target: ping, entrypoint: new NatsRpcListener() })] }] });
    const error = await refusedRunner.start().then(() => undefined, (failure: unknown) => failure);
    await refusedRunner.stop({ timeoutMs: 5_000 });
    probe.keep(error);
    errors.push(error);
  }
  return errors;
}

function suite(name: string, server: () => NatsTestServerOptions, body: (get: () => NatsTestServer) => void): void {
  describe(name, () => {
    let started: NatsTestServer;
    beforeAll(async () => {
      started = await NatsTestServer.start(server());
    });
    afterAll(async () => {
      await started?.stop();
    });
    body(() => started);
  });
}

const pass = `pa/ss@wo%rd-${randomBytes(12).toString('hex')}`;
suite('user and password (with / @ and % in it)', () => ({ auth: { user: 'svc', pass } }), (server) => {
  it('signs in with a structured password or one percent-encoded in the URL; a wrong one fails with AuthenticationFailed', async () => {
    const probe = secretProbe();
    const errors = await signIn({ servers: server().url, user: 'svc', pass: secret(pass) }, [
      { servers: server().url, user: 'svc', pass: secret(`${pass}x`) },
      { servers: server().url, user: 'other', pass },
    ], probe);
    expect(errors.map((error) => (error as Error).constructor)).toEqual([AuthenticationFailed, AuthenticationFailed]);
    expect((errors[1] as Error).message).toContain('user other: Authorization Violation');
    await signIn({ servers: `nats://svc:${encodeURIComponent(pass)}@127.0.0.1:${server().port}` }, [], probe);
    expect(probe.leaks(pass)).toEqual([]);
    expect(probe.leaks(encodeURIComponent(pass))).toEqual([]);
  });
});

describe('a password changed on the server while a service is connected', () => {
  const first = `first-${randomBytes(12).toString('hex')}`;
  let server: NatsTestServer;
  beforeAll(async () => {
    server = await NatsTestServer.start({ auth: { user: 'svc', pass: first } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('logs each refused reconnection as AuthenticationFailed naming the user, never a password, and answers and consumes again once the password is back', async () => {
    const probe = secretProbe();
    const second = `second-${randomBytes(12).toString('hex')}`;
    const service = unique('changed');
    function ping(): string {
      return 'pong';
    }
    const stream = unique('ROTATED').replace(/-/g, '_');
    const stored: unknown[] = [];
    function store(payload: unknown): void {
      stored.push(payload);
    }
    const runner = new Runner({
      config: { serviceName: service, nats: { servers: server.url, user: 'svc', pass: secret(first) }, logger: probe.logger },
      contexts: [{ routes: [new Route({ target: ping, entrypoint: new NatsRpcListener() }), new Route({ target: store, entrypoint: new JetStreamListener({ stream, subjects: [`${stream}.in`] }) })] }],
    });
    const client = new NatsRpcClient({ nats: { servers: server.url, user: 'svc', pass: secret(first) } });
    const publisher = new NatsPublisher({ nats: { servers: server.url, user: 'svc', pass: secret(first) } });
    try {
      await runner.start();
      await server.restart({ auth: { user: 'svc', pass: second } });
      await waitFor(() => probe.lines.filter((line) => line.includes('AuthenticationFailed')).length >= 3, 'several refused logins to be logged', 30_000);
      expect(probe.lines.find((line) => line.includes('AuthenticationFailed'))).toContain(`NATS at 127.0.0.1:${server.port} refused the credentials (user svc: Authorization Violation)`);
      // nats.js would have closed the connection for good after two refusals in a row.
      expect(probe.lines.some((line) => line.includes('closed for good'))).toBe(false);
      await server.restart({ auth: { user: 'svc', pass: first } });
      await waitFor(async () => (await client.call(service, 'ping', [], { timeoutMs: 1_000 }).catch(() => undefined)) === 'pong', 'the service to answer again with the password restored', 30_000);
      await waitFor(async () => (await publisher.publish(`${stream}.in`, { n: 1 }).then(() => true, () => false)), 'a publish with the password restored', 30_000);
      await waitFor(() => stored.length > 0, 'the service to consume again with the password restored', 30_000);
      expect(probe.lines.some((line) => line.includes('ClosedConnectionError'))).toBe(false);
    } finally {
      await publisher.close();
      await client.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
    expect(probe.leaks(first)).toEqual([]);
    expect(probe.leaks(second)).toEqual([]);
  });
});

const token = `t0k/en@%-${randomBytes(12).toString('hex')}`;
suite('token', () => ({ auth: { token } }), (server) => {
  it('signs in with a token as a Secret or in the URL; a wrong one fails with AuthenticationFailed', async () => {
    const probe = secretProbe();
    const errors = await signIn({ servers: server().url, token: secret(token) }, [{ servers: server().url, token: secret(`wrong-${token}`) }], probe);
    expect(errors[0]).toBeInstanceOf(AuthenticationFailed);
    expect((errors[0] as Error).message).toContain('(token: Authorization Violation)');
    await signIn({ servers: `nats://${encodeURIComponent(token)}@127.0.0.1:${server().port}` }, [], probe);
    expect(probe.leaks(token)).toEqual([]);
    expect(probe.leaks(token.slice(10, 26))).toEqual([]);
  });
});

const user = nkeys.createUser();
const seed = new TextDecoder().decode(user.getSeed());
suite('nkey seed', () => ({ auth: { nkey: user.getPublicKey() } }), (server) => {
  it('signs in with the seed; an unknown user fails with AuthenticationFailed and a broken seed with ConfigurationError, neither naming the seed', async () => {
    const probe = secretProbe();
    const stranger = new TextDecoder().decode(nkeys.createUser().getSeed());
    const broken = `${seed.slice(0, -4)}${seed.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    const errors = await signIn({ servers: server().url, nkeySeed: secret(seed) }, [
      { servers: server().url, nkeySeed: secret(stranger) },
      { servers: server().url, nkeySeed: secret(broken) },
    ], probe);
    expect(errors[0]).toBeInstanceOf(AuthenticationFailed);
    expect((errors[0] as Error).message).toMatch(/\(nkey U[A-Z2-7]{55}: Authorization Violation\)/);
    expect(errors[1]).toBeInstanceOf(ConfigurationError);
    expect((errors[1] as Error).message).toContain('nats.nkeySeed is not usable (nkeys: invalid checksum)');
    for (const text of [seed, stranger, broken, seed.slice(3, 19), broken.slice(-16)]) expect(probe.leaks(text)).toEqual([]);
  });
});

const operator = new NatsTestOperator();
suite('creds file (operator mode)', () => ({ operator }), (server) => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'micro-framework-creds-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs in with a .creds file and consumes from JetStream; a user of an unknown account fails with AuthenticationFailed', async () => {
    const probe = secretProbe();
    const good = join(dir, 'svc.creds');
    const goodText = operator.userCreds('svc');
    writeFileSync(good, goodText, { mode: 0o600 });
    const stranger = join(dir, 'stranger.creds');
    writeFileSync(stranger, operator.userCreds('stranger', { account: 'stranger' }), { mode: 0o600 });
    const errors = await signIn({ servers: server().url, credsFile: good }, [
      { servers: server().url, credsFile: stranger },
      { servers: server().url, credsFile: join(dir, 'missing.creds') },
      { servers: server().url },
    ], probe);
    expect(errors[0]).toBeInstanceOf(AuthenticationFailed);
    expect((errors[0] as Error).message).toContain(`(creds file ${stranger}: Authorization Violation)`);
    expect(errors[1]).toBeInstanceOf(ConfigurationError);
    expect((errors[1] as Error).message).toContain('nats.credsFile: cannot read');
    expect(errors[2]).toBeInstanceOf(AuthenticationFailed);

    const stream = unique('CREDS').replace(/-/g, '_');
    const stored: unknown[] = [];
    function store(payload: unknown): void {
      stored.push(payload);
    }
    const runner = new Runner({
      config: { serviceName: unique('creds'), nats: { servers: server().url, credsFile: good }, logger: probe.logger },
      contexts: [{ routes: [new Route({ target: store, entrypoint: new JetStreamListener({ stream, subjects: [`${stream}.in`] }) })] }],
    });
    const publisher = new NatsPublisher({ nats: { servers: server().url, credsFile: good } });
    try {
      await runner.start();
      await publisher.publish(`${stream}.in`, { n: 1 });
      await waitFor(() => stored.length === 1, 'the message consumed with creds');
    } finally {
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
    const seedLine = goodText.split('\n').find((line) => line.startsWith('SU'))!;
    expect(seedLine).toMatch(/^SU/);
    expect(probe.leaks(seedLine)).toEqual([]);
  });

  it('signs in again with the last usable content when the creds file is found emptied or garbled at a reconnection', async () => {
    const file = join(dir, 'renewed.creds');
    const goodText = operator.userCreds('svc');
    writeFileSync(file, goodText, { mode: 0o600 });
    const extension = new NatsConnectionExtension({ servers: server().url, credsFile: file });
    try {
      await extension.setup();
      for (const broken of ['', '-----BEGIN NATS USER JWT-----\ngarbled\n']) {
        // A renewal caught half way: the file is empty or cut short when the client reconnects.
        writeFileSync(file, broken);
        await server().restart();
        await waitFor(() => extension.isConnected, 'the connection to come back with the last usable creds', 20_000);
        expect(extension.connection.isClosed()).toBe(false);
        writeFileSync(file, goodText);
      }
    } finally {
      await extension.stop();
    }
  });
  it('opens a new connection with the last usable creds, and says so, when nats.js closed the connection for good and the file is found garbled', async () => {
    const probe = secretProbe();
    const file = join(dir, 'reopened.creds');
    writeFileSync(file, operator.userCreds('svc'), { mode: 0o600 });
    const proxy = new TcpProxy({ host: '127.0.0.1', port: server().port });
    await proxy.start();
    function ping(): string {
      return 'pong';
    }
    const service = unique('reopened');
    const nats: NatsOptions = { servers: `nats://127.0.0.1:${proxy.port}`, credsFile: file, maxReconnectAttempts: 2, reconnectTimeWait: 100 };
    const runner = new Runner({ config: { serviceName: service, nats, logger: probe.logger }, contexts: [{ routes: [new Route({ target: ping, entrypoint: new NatsRpcListener() })] }] });
    const client = new NatsRpcClient({ nats: { servers: server().url, credsFile: file } });
    try {
      await runner.start();
      expect(await client.call(service, 'ping', [], { timeoutMs: 5_000 })).toBe('pong');
      writeFileSync(file, '-----BEGIN NATS USER JWT-----\ngarbled\n');
      proxy.cut();
      await waitFor(() => probe.lines.some((line) => line.includes('was closed for good')), 'the connection to close for good', 10_000);
      proxy.restore();
      await waitFor(async () => (await client.call(service, 'ping', [], { timeoutMs: 1_000 }).catch(() => undefined)) === 'pong', 'the service to answer on a new connection', 15_000);
      expect(probe.lines.some((line) => line.includes('the NATS options cannot be read again (ConfigurationError: nats.credsFile'))).toBe(true);
    } finally {
      await client.close();
      await runner.stop({ timeoutMs: 5_000 });
      await proxy.close();
    }
  });
});

describe('credentials over plaintext beyond loopback', () => {
  it('refuses a password or a token for nats://192.0.2.1 with InsecureCredentials before any connection attempt', async () => {
    const probe = secretProbe();
    const password = `pw-${randomBytes(8).toString('hex')}`;
    for (const nats of [
      { servers: 'nats://192.0.2.1:4222', user: 'svc', pass: secret(password) },
      { servers: ['nats://127.0.0.1:4222', '192.0.2.1'], token: password },
      { servers: `nats://svc:${password}@192.0.2.1:4222` },
    ] satisfies NatsOptions[]) {
      function ping(): string {
        return 'pong';
      }
      const runner = new Runner({ config: { serviceName: unique('insecure'), nats, logger: probe.logger }, contexts: [{ routes: [new Route({ target: ping, entrypoint: new NatsRpcListener() })] }] });
      // 192.0.2.1 (TEST-NET-1) answers nothing: a connection attempt would wait for nats.js's 20 s timeout.
      const began = performance.now();
      const error = await runner.start().then(() => undefined, (failure: unknown) => failure);
      expect(performance.now() - began).toBeLessThan(5_000);
      expect(error).toBeInstanceOf(InsecureCredentials);
      expect((error as Error).message).toMatch(/^NATS at 192\.0\.2\.1: refusing to send a (password|token) over a plaintext connection/);
      probe.keep(error);
      await runner.stop({ timeoutMs: 5_000 });
      const publisher = new NatsPublisher({ nats });
      await expect(publisher.publish('x', {})).rejects.toBeInstanceOf(InsecureCredentials);
      await publisher.close();
    }
    expect(probe.leaks(password)).toEqual([]);
  });

  it('accepts them with TLS (tls option or tls:// URL) or allowInsecure, and nkeys and creds files over plaintext (the seed never crosses)', async () => {
    const pass = secret('x');
    await expect(resolveNatsOptions({ servers: 'nats://192.0.2.1', user: 'svc', pass, allowInsecure: true })).resolves.toMatchObject({ tls: false });
    await expect(resolveNatsOptions({ servers: 'tls://192.0.2.1', user: 'svc', pass })).resolves.toMatchObject({ tls: true, address: '192.0.2.1:4222' });
    await expect(resolveNatsOptions({ servers: 'nats://192.0.2.1', user: 'svc', pass, tls: { rejectUnauthorized: true } })).resolves.toMatchObject({ tls: true });
    await expect(resolveNatsOptions({ servers: 'nats://192.0.2.1', nkeySeed: secret(seed) })).resolves.toMatchObject({ tls: false, credentials: `nkey ${user.getPublicKey()}` });
    await expect(resolveNatsOptions({ servers: 'nats://localhost:4222', user: 'svc', pass })).resolves.toMatchObject({ tls: false, credentials: 'user svc' });
    // A tls:// URL alone makes TLS required (nats.js itself ignores the scheme).
    expect((await resolveNatsOptions({ servers: 'tls://192.0.2.1', user: 'svc', pass })).connection.tls).toEqual({});
  });

  it('refuses a password or token over TLS that does not verify the server unless allowInsecure; a user alone is no secret', async () => {
    const pass = secret('x');
    const unverified = resolveNatsOptions({ servers: 'nats://192.0.2.1', user: 'svc', pass, tls: { rejectUnauthorized: false } });
    await expect(unverified).rejects.toBeInstanceOf(InsecureCredentials);
    await expect(unverified).rejects.toThrow('TLS that does not verify the server');
    await expect(resolveNatsOptions({ servers: 'tls://192.0.2.1', token: pass, tls: { rejectUnauthorized: false } })).rejects.toBeInstanceOf(InsecureCredentials);
    await expect(resolveNatsOptions({ servers: 'nats://192.0.2.1', user: 'svc', pass, tls: { rejectUnauthorized: false }, allowInsecure: true })).resolves.toMatchObject({ tls: true });
    await expect(resolveNatsOptions({ servers: 'nats://192.0.2.1', user: 'svc' })).resolves.toMatchObject({ tls: false, credentials: 'user svc' });
  });

  it('refuses debug: true with a password or token (nats.js prints the CONNECT line) unless allowInsecure', async () => {
    await expect(resolveNatsOptions({ servers: 'nats://127.0.0.1:4222', user: 'svc', pass: secret('x'), debug: true })).rejects.toThrow('nats.debug prints the CONNECT line, a password in it');
    await expect(resolveNatsOptions({ servers: 'nats://127.0.0.1:4222', token: secret('x'), debug: true })).rejects.toBeInstanceOf(ConfigurationError);
    await expect(resolveNatsOptions({ servers: 'nats://127.0.0.1:4222', user: 'svc', pass: secret('x'), debug: true, allowInsecure: true })).resolves.toMatchObject({ credentials: 'user svc' });
  });

  it('reads credentials of a URL with / + unencoded or no scheme, and names only the host when they cannot be read', async () => {
    const probe = secretProbe();
    const password = `Zm9v/YmFy+${randomBytes(8).toString('hex')}`;
    for (const servers of [`nats://svc:${password}@192.0.2.1:4222`, `svc:${password}@192.0.2.1:4222`, `nats://${password}@192.0.2.1`]) {
      const error = await resolveNatsOptions({ servers }).then(() => undefined, (failure: unknown) => failure);
      expect(error).toBeInstanceOf(InsecureCredentials);
      probe.keep(error);
    }
    const resolved = await resolveNatsOptions({ servers: [`svc:${password}@127.0.0.1:4222`, `tls://svc:${password}@localhost`] });
    expect(resolved).toMatchObject({ credentials: 'user svc', address: '127.0.0.1:4222,localhost:4222' });
    expect(resolved.connection.servers).toEqual(['nats://127.0.0.1:4222', 'tls://localhost:4222']);
    for (const servers of [`nats://svc:${password}%zz@127.0.0.1:4222`, `nats://svc:${password}@127.0.0.1:notaport`, `nats://svc:${password}@`]) {
      const error = await resolveNatsOptions({ servers }).then(() => undefined, (failure: unknown) => failure);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/^nats\.servers: .*(127\.0\.0\.1|"")/);
      probe.keep(error);
    }
    // A URL mistyped without its `@`: the part after the colon is not shown.
    const mistyped = await resolveNatsOptions({ servers: `nats://svc:${password}` }).then(() => undefined, (failure: unknown) => failure);
    expect((mistyped as Error).message).toBe('nats.servers: the address of host "svc" is not valid');
    probe.keep(mistyped);
    expect(probe.leaks(password)).toEqual([]);
    expect(probe.leaks(password.slice(0, 8))).toEqual([]);
  });

  it('refuses a URL whose user information could be read two ways, a path after the host, and different credentials in two URLs, never naming them', async () => {
    const probe = secretProbe();
    const word = randomBytes(8).toString('hex');
    const refused: [string | string[], RegExp][] = [
      // Read at the last `@`, this dialled 127.0.0.9 with the password `pw…@127.0.0.1:4222/x`.
      [`nats://svc:pw${word}@127.0.0.1:4222/x@127.0.0.9`, /more than one "@"/],
      [`nats://svc:pw${word}@127.0.0.1:4222/x`, /^nats\.servers: the URL of host "127\.0\.0\.1" has a path/],
      [`nats://svc:pw${word}@127.0.0.1:4222?x=1`, /has a path, query or fragment/],
      // A password with an unencoded `@` and the host forgotten: `ss…` is neither dialled nor named.
      [`nats://svc:p${word}@ss${word}`, /names a host without a dot or a port/],
      [`nats://${word}@tok${word}`, /names a host without a dot or a port/],
      [['nats://alice:pwA' + word + '@127.0.0.1:4222', 'nats://bob:pwB' + word + '@127.0.0.2:4222'], /carry different credentials \(127\.0\.0\.1:4222, 127\.0\.0\.2:4222\)/],
      [['nats://svc:pwA' + word + '@127.0.0.1:4222', 'nats://svc:pwB' + word + '@127.0.0.2:4222'], /carry different credentials/],
      [`nats://svc:100%-${word}@127.0.0.1:4222`, /not valid percent-encoding/],
    ];
    for (const [servers, message] of refused) {
      const error = await resolveNatsOptions({ servers }).then(() => undefined, (failure: unknown) => failure);
      expect(error, String(servers)).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toMatch(/127\.0\.0\.9|ss[0-9a-f]|tok|alice|bob/);
      probe.keep(error);
    }
    expect(probe.leaks(word)).toEqual([]);
  });

  it('reads user information percent-decoded, the same credentials in several URLs, a lone trailing slash and a comma-separated server string', async () => {
    const signIn = async (servers: string | string[]): Promise<{ servers: unknown; auth: unknown; address: string }> => {
      const resolved = await resolveNatsOptions({ servers });
      return { servers: resolved.connection.servers, auth: (resolved.connection.authenticator as Authenticator | undefined)?.('nonce'), address: resolved.address };
    };
    expect(await signIn('nats://svc:a%41b%40c%25@127.0.0.1:4222/')).toEqual({ servers: ['nats://127.0.0.1:4222'], auth: { user: 'svc', pass: 'aAb@c%' }, address: '127.0.0.1:4222' });
    expect(await signIn('tls://svc:Zm9v/YmFy+@nats:4222')).toMatchObject({ auth: { user: 'svc', pass: 'Zm9v/YmFy+' } });
    expect(await signIn('nats://svc:pw@localhost')).toMatchObject({ auth: { user: 'svc', pass: 'pw' } });
    expect(await signIn(['nats://svc:p%77@127.0.0.1:4222', 'nats://svc:pw@127.0.0.2:4222', 'nats://127.0.0.3'])).toMatchObject({ auth: { user: 'svc', pass: 'pw' } });
    expect(await signIn('nats://svc:pw@127.0.0.1:4222, nats://127.0.0.1:4223,')).toEqual({
      servers: ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223'],
      auth: { user: 'svc', pass: 'pw' },
      address: '127.0.0.1:4222,127.0.0.1:4223',
    });
    expect(natsConnectionKey({ servers: 'nats://127.0.0.1:4222,nats://127.0.0.1:4223' })).toMatch(/^nats:127\.0\.0\.1:4222,127\.0\.0\.1:4223:/);
  });

  it('refuses two kinds of credentials and a tls option with an unknown key', async () => {
    await expect(resolveNatsOptions({ user: 'svc', pass: 'x', token: 'y' })).rejects.toThrow('nats: give one kind of credentials, not password and token');
    await expect(resolveNatsOptions({ tls: { rejectUnauthorised: false } as never })).rejects.toThrow('tls: unknown option "rejectUnauthorised"');
  });
});

describe('options that hold secrets', () => {
  it('print *** and share one connection key only when equal, with no secret in it', () => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const wrapped = secret(password);
    const options: NatsOptions = { servers: 'nats://127.0.0.1:4222', user: 'svc', pass: wrapped, nkeySeed: secret(seed), tls: { key: secret('-----BEGIN PRIVATE KEY-----\nabc') } };
    expect(inspect(options)).not.toContain(password);
    expect(inspect(options)).not.toContain(seed);
    expect(inspect(options)).toContain('Secret(***)');
    expect(JSON.stringify(options)).toBe('{"servers":"nats://127.0.0.1:4222","user":"svc","pass":"***","nkeySeed":"***","tls":{"key":"***"}}');
    // Equal options (new objects, equal Secrets) share a connection; other credentials do not.
    const key = natsConnectionKey({ servers: 'nats://127.0.0.1:4222', user: 'svc', pass: wrapped });
    expect(natsConnectionKey({ servers: 'nats://127.0.0.1:4222', user: 'svc', pass: wrapped })).toBe(key);
    expect(natsConnectionKey({ servers: 'nats://127.0.0.1:4222', user: 'svc', pass: secret(password) })).toBe(key);
    expect(natsConnectionKey({ servers: 'nats://127.0.0.1:4222', user: 'svc', pass: password })).toBe(natsConnectionKey({ servers: 'nats://127.0.0.1:4222', user: 'svc', pass: password }));
    expect(natsConnectionKey({ servers: 'nats://127.0.0.1:4222', user: 'svc', pass: secret('other') })).not.toBe(key);
    expect(natsConnectionKey({ servers: `nats://svc:${password}@127.0.0.1:4222` })).not.toContain(password);
    expect(key).not.toContain(password);
  });
});
