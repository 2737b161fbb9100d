import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { AuthenticationFailed, Route, Runner, TlsHandshakeFailed, secret, type Secret } from '@micro-framework/core';
import { secretProbe, testCertificates, waitFor, type TestCertificates } from '@micro-framework/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpConnection, AmqpEventListener, AmqpPublisher, AmqpRpcClient, AmqpRpcListener, PublishError, type AmqpOptions } from '../src/index.ts';
import { RabbitTestNode } from '../src/testing/index.ts';
import { CountingForwarder } from './counting-forwarder.ts';
import { unique } from './helpers.ts';

// A RabbitMQ node of this file's own (never the machine's): AMQP over TLS with client certificates
// required (fail_if_no_peer_cert), EXTERNAL (user = the certificate's CN) and PLAIN.
const user = unique('mf-tls');
// Every character a URL would have to escape, and a %41 that URL-decoding would turn into "A".
const password = `p/w@rd%41:#?${randomBytes(8).toString('hex')}`;
const passphrase = `pass-${randomBytes(8).toString('hex')}`;
const probe = secretProbe();
let certs: TestCertificates;
let node: RabbitTestNode;
let encryptedKeyFile = '';
let strangerCertFile = '';
let strangerKeyFile = '';

/** Runs openssl in the certificates' directory. */
function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: certs.dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

beforeAll(async () => {
  certs = testCertificates({ clientName: unique('mf-cert-user') });
  // The client key encrypted with a passphrase; and a certificate of the same CA whose CN is no user.
  encryptedKeyFile = join(certs.dir, 'client-key-encrypted.pem');
  openssl(['pkey', '-in', certs.clientKeyFile, '-aes256', '-passout', `pass:${passphrase}`, '-out', encryptedKeyFile]);
  strangerKeyFile = join(certs.dir, 'stranger-key.pem');
  strangerCertFile = join(certs.dir, 'stranger.pem');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', strangerKeyFile]);
  openssl(['req', '-new', '-key', strangerKeyFile, '-out', 'stranger.csr', '-subj', `/CN=${unique('stranger')}`]);
  openssl(['x509', '-req', '-in', 'stranger.csr', '-CA', certs.caFile, '-CAkey', certs.caKeyFile, '-CAcreateserial', '-out', strangerCertFile, '-days', '2']);
  node = await RabbitTestNode.start({
    tls: { caFile: certs.caFile, certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, failIfNoPeerCert: true },
    plugins: ['rabbitmq_auth_mechanism_ssl'],
    config: ['auth_mechanisms.1 = EXTERNAL', 'auth_mechanisms.2 = PLAIN', 'ssl_cert_login_from = common_name'],
  });
  await node.ctl(['add_user', user, password]);
  await node.ctl(['set_permissions', '-p', '/', user, '.*', '.*', '.*']);
  // The EXTERNAL user: named by the client certificate's CN, with no password at all.
  await node.ctl(['add_user', certs.clientName, randomBytes(16).toString('hex')]);
  await node.ctl(['clear_password', certs.clientName]);
  await node.ctl(['set_permissions', '-p', '/', certs.clientName, '.*', '.*', '.*']);
}, 180_000);

afterAll(async () => {
  await node?.stop();
  certs?.remove();
}, 120_000);

/** PLAIN over TLS with the client certificate the node requires, as a service would configure it. */
function plainOptions(overrides: Partial<AmqpOptions> = {}): AmqpOptions {
  return {
    url: node.tlsUrl,
    tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile },
    credentials: { mechanism: 'PLAIN', username: user, password: secret(password) },
    ...overrides,
  };
}

/** EXTERNAL: the client certificate (its key inline, encrypted, with a passphrase) is the login. */
function externalOptions(): AmqpOptions {
  return {
    url: node.tlsUrl,
    tls: { ca: certs.read(certs.caFile), cert: certs.read(certs.clientCertFile), key: secret(certs.read(encryptedKeyFile)), passphrase: secret(passphrase) },
    credentials: { mechanism: 'EXTERNAL' },
  };
}

/** The node's connections: who logged in, how, and whether over TLS. */
async function connections(): Promise<Array<{ user: string; ssl: boolean; auth_mechanism: string }>> {
  return JSON.parse(await node.ctl(['list_connections', 'user', 'ssl', 'auth_mechanism', '--formatter', 'json', '-q'])) as Array<{ user: string; ssl: boolean; auth_mechanism: string }>;
}

/** A service with an event route and an RPC target on `amqp`, logging into the file's probe. */
function secureService(amqp: AmqpOptions): { runner: Runner; source: string; service: string; handled: unknown[] } {
  const handled: unknown[] = [];
  const source = unique('tls-source');
  const service = unique('tls-service');
  function record(payload: unknown): void {
    handled.push(payload);
  }
  function greet(name: string): string {
    return `hello ${name}`;
  }
  const runner = new Runner({
    config: { serviceName: service, amqp, logger: probe.logger },
    contexts: [{ routes: [
      new Route({ target: record, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'made' }) }),
      new Route({ target: greet, entrypoint: new AmqpRpcListener() }),
    ] }],
  });
  return { runner, source, service, handled };
}

/** Starts a connection to the node through a counting forwarder with `options`; resolves with its rejection and the attempts. */
async function refusedConnection(options: AmqpOptions): Promise<{ error: unknown; attempts: number }> {
  const forwarder = new CountingForwarder(node.tlsPort!);
  const url = `amqps://127.0.0.1:${await forwarder.start()}`;
  const connection = new AmqpConnection({ ...options, url });
  try {
    const error = await connection.setup().then(() => undefined, (failure: unknown) => failure);
    probe.keep(error);
    return { error, attempts: forwarder.connections };
  } finally {
    await connection.stop();
    await forwarder.close();
  }
}

describe('a service over TLS', () => {
  it('consumes, publishes and answers RPC with PLAIN credentials (a password with / @ % : # ?)', async () => {
    const { runner, source, service, handled } = secureService(plainOptions());
    const publisher = new AmqpPublisher({ sourceService: source, amqp: plainOptions() });
    const client = new AmqpRpcClient({ amqp: plainOptions() });
    try {
      await runner.start();
      await publisher.publish('made', { n: 1 });
      await waitFor(() => handled.length === 1, 'the event to be consumed over TLS');
      expect(handled).toEqual([{ n: 1 }]);
      expect(await client.call(service, 'greet', ['tls'], { timeoutMs: 10_000 })).toBe('hello tls');
      const mine = (await connections()).filter((connection) => connection.user === user);
      // The service's one shared connection, the publisher's and the client's: all TLS, all PLAIN.
      expect(mine.length).toBe(3);
      expect(mine.every((connection) => connection.ssl && connection.auth_mechanism === 'PLAIN')).toBe(true);
    } finally {
      await client.close();
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  });

  it('logs in with EXTERNAL: the client certificate names the user, no password (encrypted key with a passphrase)', async () => {
    const { runner, source, service, handled } = secureService(externalOptions());
    const publisher = new AmqpPublisher({ sourceService: source, amqp: externalOptions() });
    const client = new AmqpRpcClient({ amqp: externalOptions() });
    try {
      await runner.start();
      await publisher.publish('made', { n: 2 });
      await waitFor(() => handled.length === 1, 'the event to be consumed over TLS');
      expect(await client.call(service, 'greet', ['cert'], { timeoutMs: 10_000 })).toBe('hello cert');
      const mine = (await connections()).filter((connection) => connection.user === certs.clientName);
      expect(mine.length).toBe(3);
      expect(mine.every((connection) => connection.ssl && connection.auth_mechanism === 'EXTERNAL')).toBe(true);
    } finally {
      await client.close();
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  });

  it('shares one connection between routes given equal options as separate objects (separate Secrets of one value)', async () => {
    function first(): void {}
    function second(): void {}
    const runner = new Runner({
      config: { serviceName: unique('tls-shared'), logger: probe.logger },
      contexts: [{ routes: [
        new Route({ target: first, entrypoint: new AmqpEventListener({ sourceService: unique('one'), eventName: 'made', amqp: plainOptions() }) }),
        new Route({ target: second, entrypoint: new AmqpEventListener({ sourceService: unique('two'), eventName: 'made', amqp: plainOptions() }) }),
      ] }],
    });
    try {
      await runner.start();
      expect((await connections()).filter((connection) => connection.user === user).length).toBe(1);
    } finally {
      await runner.stop({ timeoutMs: 5_000 });
    }
  });

  it('consumes again over TLS after the node restarts', async () => {
    const { runner, source, handled } = secureService(plainOptions());
    const publisher = new AmqpPublisher({ sourceService: source, amqp: plainOptions({ publishTimeoutMs: 60_000 }) });
    try {
      await runner.start();
      await publisher.publish('made', { n: 'before' });
      await waitFor(() => handled.length === 1, 'the event before the restart');
      const restored = probe.lines.filter((line) => line.includes('restored')).length;
      await node.restart();
      await waitFor(() => probe.lines.filter((line) => line.includes('restored')).length > restored, 'the service to reconnect over TLS', 60_000);
      await publisher.publish('made', { n: 'after' });
      // Consumed after the reconnection; 'before' may come again (its ack can be lost with the restart).
      await waitFor(() => handled.some((payload) => (payload as { n: string }).n === 'after'), 'the event after the restart', 30_000);
      expect(new Set(handled.map((payload) => (payload as { n: string }).n))).toEqual(new Set(['before', 'after']));
      expect((await connections()).filter((connection) => connection.user === user).every((connection) => connection.ssl)).toBe(true);
    } finally {
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  }, 120_000);
});

describe('a login refused while reconnecting', () => {
  it('is logged as AuthenticationFailed (never the password), retried, and the service consumes again once the login is accepted', async () => {
    const changed = `${password}-rotated`;
    const { runner, source, handled } = secureService(plainOptions());
    const publisher = new AmqpPublisher({ sourceService: source, amqp: plainOptions({ publishTimeoutMs: 60_000 }) });
    try {
      await runner.start();
      await publisher.publish('made', { n: 'before' });
      await waitFor(() => handled.length === 1, 'the event before the password changed');
      await node.ctl(['change_password', user, changed]);
      await node.ctl(['close_all_connections', 'test: password rotated']);
      await waitFor(() => probe.lines.some((line) => line.includes(' lost: ') && line.includes('"name":"AuthenticationFailed"')), 'the refused login to be logged', 30_000);
      const refusals = probe.lines.filter((line) => line.includes('AuthenticationFailed'));
      expect(refusals.every((line) => line.includes(`user \\"${user}\\" (PLAIN): ACCESS_REFUSED`))).toBe(true);
      await node.ctl(['change_password', user, password]);
      await publisher.publish('made', { n: 'after' });
      await waitFor(() => handled.some((payload) => (payload as { n: string }).n === 'after'), 'the event after the password came back', 30_000);
      expect(probe.leaks(changed)).toEqual([]);
    } finally {
      await node.ctl(['change_password', user, password]);
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  }, 120_000);
});

describe('access to the vhost withdrawn while connected', () => {
  it('is logged once per outage as AuthenticationFailed naming the vhost over several attempts, and the service consumes again once access is back', async () => {
    const forwarder = new CountingForwarder(node.tlsPort!);
    const url = `amqps://127.0.0.1:${await forwarder.start()}`;
    const { runner, source, handled } = secureService(plainOptions({ url }));
    const publisher = new AmqpPublisher({ sourceService: source, amqp: plainOptions({ publishTimeoutMs: 60_000 }) });
    const refusals = (): string[] => probe.lines.filter((line) => line.includes('AuthenticationFailed') && line.includes('access to vhost'));
    const spare = new AmqpConnection(plainOptions({ url, publishTimeoutMs: 5_000 }));
    try {
      await spare.setup();
      await runner.start();
      await publisher.publish('made', { n: 'before' });
      await waitFor(() => handled.length === 1, 'the event before access was withdrawn');
      const before = refusals().length;
      await node.ctl(['clear_permissions', '-p', '/', user]);
      await node.ctl(['close_all_connections', 'test: permissions withdrawn']);
      const attempts = forwarder.connections;
      await waitFor(() => refusals().length > before, 'the refused vhost to be logged', 30_000);
      await waitFor(() => forwarder.connections >= attempts + 4, 'several refused attempts', 30_000);
      expect(refusals().length - before).toBe(1);
      expect(refusals().at(-1)).toContain(`user \\"${user}\\" (PLAIN): access to vhost \\"/\\" refused`);
      // A publish that times out meanwhile says why: the last refusal is its cause.
      const timedOut = await spare.publish('', unique('nowhere'), new Uint8Array()).then(() => undefined, (error: unknown) => error);
      probe.keep(timedOut);
      expect(timedOut).toBeInstanceOf(PublishError);
      expect((timedOut as PublishError).reason).toBe('timeout');
      expect((timedOut as PublishError).cause).toBeInstanceOf(AuthenticationFailed);
      await node.ctl(['set_permissions', '-p', '/', user, '.*', '.*', '.*']);
      await publisher.publish('made', { n: 'after' });
      await waitFor(() => handled.some((payload) => (payload as { n: string }).n === 'after'), 'the event after access came back', 30_000);
      expect(new Set(handled.map((payload) => (payload as { n: string }).n))).toEqual(new Set(['before', 'after']));
    } finally {
      await node.ctl(['set_permissions', '-p', '/', user, '.*', '.*', '.*']);
      await spare.stop();
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
      await forwarder.close();
    }
  }, 120_000);
});

describe('a live connection holds no secret in what it can print', () => {
  it('util.inspect of a channel and of the connection (down to the socket) shows neither the password nor the passphrase nor the key', async () => {
    const keyLines = certs.read(encryptedKeyFile).split('\n').filter((line) => line.length > 20 && !line.startsWith('-----'));
    for (const options of [plainOptions(), externalOptions()]) {
      const connection = new AmqpConnection(options);
      try {
        await connection.setup();
        const channel = await connection.channel();
        const printed = [inspect(channel, { depth: 8, showHidden: true }), inspect((channel as unknown as { connection: unknown }).connection, { depth: 8, showHidden: true }), inspect(connection, { depth: 8 })];
        for (const text of printed) {
          expect(text).not.toContain(password);
          expect(text).not.toContain(passphrase);
          for (const line of keyLines) expect(text).not.toContain(line);
        }
        await channel.close();
      } finally {
        await connection.stop();
      }
    }
  });
});

describe('a refused connection fails at its first attempt with a typed error', () => {
  it('a server certificate from another CA: runner.start() rejects with TlsHandshakeFailed', async () => {
    const forwarder = new CountingForwarder(node.tlsPort!);
    const url = `amqps://127.0.0.1:${await forwarder.start()}`;
    const { runner } = secureService(plainOptions({ url, tls: { caFile: certs.otherCaFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile } }));
    try {
      const error = await runner.start().then(() => undefined, (failure: unknown) => failure);
      probe.keep(error);
      expect(error).toBeInstanceOf(TlsHandshakeFailed);
      expect((error as TlsHandshakeFailed).code).toBe('SELF_SIGNED_CERT_IN_CHAIN');
      expect((error as Error).message).toMatch(/RabbitMQ at 127\.0\.0\.1:\d+: TLS handshake failed/);
      // One attempt: amqplib's start-up retries (5 more) were not run.
      expect(forwarder.connections).toBe(1);
    } finally {
      await runner.stop({ timeoutMs: 5_000 });
      await forwarder.close();
    }
  });

  it('a server certificate that does not name the host expected (servername): TlsHandshakeFailed', async () => {
    const { error, attempts } = await refusedConnection(plainOptions({ tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile, servername: 'rabbit.example' } }));
    expect(error).toBeInstanceOf(TlsHandshakeFailed);
    expect((error as TlsHandshakeFailed).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(attempts).toBe(1);
  });

  it('no client certificate where the node requires one (fail_if_no_peer_cert): TlsHandshakeFailed', async () => {
    const { error, attempts } = await refusedConnection(plainOptions({ tls: { caFile: certs.caFile } }));
    expect(error).toBeInstanceOf(TlsHandshakeFailed);
    expect((error as TlsHandshakeFailed).code).toMatch(/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE/);
    expect(attempts).toBe(1);
  });

  it('a wrong password: AuthenticationFailed naming the user, never the password', async () => {
    const wrong = `${password}-wrong`;
    const { error, attempts } = await refusedConnection(plainOptions({ credentials: { mechanism: 'PLAIN', username: user, password: secret(wrong) } }));
    expect(error).toBeInstanceOf(AuthenticationFailed);
    expect((error as Error).message).toContain(`user "${user}" (PLAIN): ACCESS_REFUSED`);
    expect(probe.leaks(wrong)).toEqual([]);
    expect(attempts).toBe(1);
  });

  it('EXTERNAL with a certificate of the trusted CA whose CN is no user: AuthenticationFailed', async () => {
    const { error, attempts } = await refusedConnection({
      tls: { caFile: certs.caFile, certFile: strangerCertFile, keyFile: strangerKeyFile },
      credentials: { mechanism: 'EXTERNAL' },
    });
    expect(error).toBeInstanceOf(AuthenticationFailed);
    expect((error as Error).message).toMatch(/client certificate "CN=stranger-[0-9a-f]+" \(EXTERNAL\): ACCESS_REFUSED/);
    expect(attempts).toBe(1);
  });

  it('a wrong password through a publisher and an RPC client: their first use rejects with AuthenticationFailed', async () => {
    const wrong = plainOptions({ credentials: { mechanism: 'PLAIN', username: user, password: secret(`${password}-wrong`) } });
    const publisher = new AmqpPublisher({ sourceService: unique('refused'), amqp: wrong });
    const client = new AmqpRpcClient({ amqp: wrong });
    try {
      await expect(publisher.publish('made', {}).catch((error: unknown) => {
        probe.keep(error);
        throw error;
      })).rejects.toBeInstanceOf(AuthenticationFailed);
      await expect(client.call('anyone', 'anything', [], { timeoutMs: 5_000 }).catch((error: unknown) => {
        probe.keep(error);
        throw error;
      })).rejects.toBeInstanceOf(AuthenticationFailed);
    } finally {
      await client.close();
      await publisher.close();
    }
  });
});

describe('secrets of this file', () => {
  it('appear in no log line and no error message: password, passphrase, private key', () => {
    const keyLines = [certs.read(certs.clientKeyFile), certs.read(encryptedKeyFile)].flatMap((pem) => pem.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----')));
    expect(probe.lines.length).toBeGreaterThan(10);
    expect(probe.messages.length).toBeGreaterThanOrEqual(6 * 4);
    expect(probe.leaks(password)).toEqual([]);
    expect(probe.leaks(encodeURIComponent(password))).toEqual([]);
    expect(probe.leaks(passphrase)).toEqual([]);
    for (const line of keyLines) expect(probe.leaks(line)).toEqual([]);
  });

  it('options show *** in util.inspect and JSON', async () => {
    const { inspect } = await import('node:util');
    const options = externalOptions();
    const plain = plainOptions();
    for (const text of [inspect(options, { depth: 5 }), JSON.stringify(options), inspect(plain, { depth: 5 }), JSON.stringify(plain)]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(passphrase);
      expect(text).not.toContain(keyBodyOf(certs.read(encryptedKeyFile)));
    }
    expect(JSON.stringify(plain)).toContain('"password":"***"');
    expect(inspect(plain, { depth: 5 })).toContain('Secret(***)');
    expect(JSON.stringify(options)).toContain('"passphrase":"***"');
    const wrapped: Secret = (plain.credentials as { password: Secret }).password;
    expect(`${wrapped}`).toBe('***');
  });
});

function keyBodyOf(pem: string): string {
  return pem.split('\n').filter((line) => line !== '' && !line.startsWith('-----')).join('\n');
}
