import { randomBytes, randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { createServer } from 'node:net';
import { AuthenticationFailed, ConfigurationError, Route, Runner, TlsHandshakeFailed, secret, type Config } from '@micro-framework/core';
import { secretProbe, testCertificates, waitFor, within, type TestCertificates } from '@micro-framework/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamListener, NatsPublisher, NatsRpcClient, NatsRpcListener, SubjectListener, connectNats, resolveNatsOptions, type NatsOptions } from '../src/index.ts';
import { NatsTestServer } from '../src/testing/index.ts';

// Issue #15: TLS towards NATS, on servers of this suite's own (loopback, own ports and stores), with
// certificates made for the run. The machine's NATS on 4222 is never touched.
const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;


/** A service with a JetStream route, a core-subject route and an RPC target; what they received. */
function securedService(nats: NatsOptions, extra: Partial<Config> = {}) {
  const stream = unique('TLS').replace(/-/g, '_');
  const stored: unknown[] = [];
  const heard: unknown[] = [];
  function store(payload: unknown): void {
    stored.push(payload);
  }
  function hear(payload: unknown): void {
    heard.push(payload);
  }
  function ping(text: string): string {
    return `pong ${text}`;
  }
  const service = unique('secured');
  const runner = new Runner({
    config: { serviceName: service, nats, ...extra },
    contexts: [{ routes: [
      new Route({ target: store, entrypoint: new JetStreamListener({ stream, subjects: [`${stream}.in`] }) }),
      new Route({ target: hear, entrypoint: new SubjectListener({ subject: `${stream}.heard` }) }),
      new Route({ target: ping, entrypoint: new NatsRpcListener() }),
    ] }],
  });
  return { runner, service, stream, stored, heard };
}

describe('a NATS server that requires TLS and a password', () => {
  const pass = `p/@%-${randomBytes(12).toString('hex')}`;
  let certs: TestCertificates;
  let server: NatsTestServer;
  const nats = (more: Partial<NatsOptions> = {}): NatsOptions => ({ servers: server.url, user: 'svc', pass: secret(pass), tls: { caFile: certs.caFile }, ...more });

  beforeAll(async () => {
    certs = testCertificates();
    server = await NatsTestServer.start({ tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile }, auth: { user: 'svc', pass } });
  });
  afterAll(async () => {
    await server?.stop();
    certs?.remove();
  });

  it('serves a service over TLS: JetStream and core subjects consumed, messages published, RPC answered', async () => {
    expect(server.url).toMatch(/^tls:\/\//);
    const { runner, service, stream, stored, heard } = securedService(nats());
    const publisher = new NatsPublisher({ nats: nats() });
    const client = new NatsRpcClient({ nats: nats() });
    try {
      await runner.start();
      await publisher.publish(`${stream}.in`, { n: 1 });
      await publisher.publishCore(`${stream}.heard`, { n: 2 });
      await waitFor(() => stored.length === 1 && heard.length === 1, 'the stored and the heard message');
      expect(stored).toEqual([{ n: 1 }]);
      expect(heard).toEqual([{ n: 2 }]);
      await expect(client.call(service, 'ping', ['over tls'], { timeoutMs: 5_000 })).resolves.toBe('pong over tls');
      // The server takes no plaintext client: what connected here did so over TLS.
      const plain = connectNats({ servers: `nats://127.0.0.1:${server.port}`, user: 'svc', pass: secret(pass), tls: { caFile: certs.caFile } });
      const connection = await plain;
      expect(connection.info?.tls_required).toBe(true);
      await connection.close();
    } finally {
      await Promise.all([publisher.close(), client.close()]);
      await runner.stop({ timeoutMs: 5_000 });
    }
  });

  it('verifies the server name: servername localhost matches the certificate, another name is refused', async () => {
    const right = await connectNats(nats({ tls: { caFile: certs.caFile, servername: 'localhost' } }));
    await right.close();
    const wrong = await within(connectNats(nats({ tls: { caFile: certs.caFile, servername: 'nats.example.com' } })), 5_000).catch((error: unknown) => error);
    expect(wrong).toBeInstanceOf(TlsHandshakeFailed);
    expect((wrong as TlsHandshakeFailed).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('refuses a server certificate of another CA with TlsHandshakeFailed at start, at the first publish and at the first call, at once', async () => {
    const probe = secretProbe();
    const wrongCa = nats({ tls: { caFile: certs.otherCaFile } });
    const { runner, service } = securedService(wrongCa, { logger: probe.logger });
    const started = await within(runner.start(), 5_000).catch((error: unknown) => error);
    expect(started).toBeInstanceOf(TlsHandshakeFailed);
    expect((started as TlsHandshakeFailed).code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    expect((started as Error).message).toContain(`NATS at 127.0.0.1:${server.port}: TLS handshake failed`);
    const publisher = new NatsPublisher({ nats: wrongCa });
    const client = new NatsRpcClient({ nats: wrongCa });
    const published = await within(publisher.publish('anything', {}), 5_000).catch((error: unknown) => error);
    const called = await within(client.call(service, 'ping', ['x'], { timeoutMs: 5_000 }), 5_000).catch((error: unknown) => error);
    expect(published).toBeInstanceOf(TlsHandshakeFailed);
    expect(called).toBeInstanceOf(TlsHandshakeFailed);
    // Without a CA the server's certificate is checked against Node's roots, and refused too.
    const noCa = await within(connectNats(nats({ tls: {} })), 5_000).catch((error: unknown) => error);
    expect(noCa).toBeInstanceOf(TlsHandshakeFailed);
    await Promise.all([publisher.close(), client.close(), runner.stop({ timeoutMs: 5_000 })]);
    for (const error of [started, published, called, noCa]) probe.keep(error);
    expect(probe.leaks(pass)).toEqual([]);
  });

  it('refuses a wrong password with AuthenticationFailed naming the user, never the password', async () => {
    const probe = secretProbe();
    const wrongPass = `${pass}-wrong`;
    const wrong = nats({ pass: secret(wrongPass) });
    const { runner } = securedService(wrong, { logger: probe.logger });
    const started = await within(runner.start(), 5_000).catch((error: unknown) => error);
    expect(started).toBeInstanceOf(AuthenticationFailed);
    expect((started as Error).message).toBe(`NATS at 127.0.0.1:${server.port} refused the credentials (user svc: Authorization Violation)`);
    const publisher = new NatsPublisher({ nats: wrong });
    const published = await within(publisher.publish('anything', {}), 5_000).catch((error: unknown) => error);
    expect(published).toBeInstanceOf(AuthenticationFailed);
    await Promise.all([publisher.close(), runner.stop({ timeoutMs: 5_000 })]);
    probe.keep(started);
    probe.keep(published);
    expect(probe.leaks(pass)).toEqual([]);
    expect(probe.leaks(wrongPass.slice(5, 21))).toEqual([]);
  });

  it('consumes again over TLS after the server restarts; the password is in no log line and no error', async () => {
    const probe = secretProbe();
    const config = nats();
    const { runner, stream, stored } = securedService(config, { logger: probe.logger });
    const publisher = new NatsPublisher({ nats: nats() });
    try {
      await runner.start();
      await publisher.publish(`${stream}.in`, { n: 1 });
      await waitFor(() => stored.length === 1, 'the message before the restart');
      await server.restart();
      await waitFor(() => probe.lines.some((line) => line.includes('lost')) && probe.lines.some((line) => line.includes('restored')), 'the reconnection to be logged', 30_000);
      await waitFor(async () => (await publisher.publish(`${stream}.in`, { n: 2 }).then(() => true, () => false)), 'a publish after the restart', 30_000);
      await waitFor(() => stored.some((payload) => (payload as { n: number }).n === 2), 'the message after the restart', 30_000);
    } finally {
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
    expect(probe.leaks(pass)).toEqual([]);
    expect(inspect(config)).toContain('Secret(***)');
    expect(inspect(config)).not.toContain(pass);
    expect(JSON.stringify(config)).toContain('"pass":"***"');
    expect(JSON.stringify(config)).not.toContain(pass);
  });
});

describe('a NATS server that requires client certificates', () => {
  let certs: TestCertificates;
  let server: NatsTestServer;
  let keyBody: string;

  beforeAll(async () => {
    certs = testCertificates();
    keyBody = certs.read(certs.clientKeyFile).split('\n').filter((line) => line && !line.startsWith('-----')).join('');
    server = await NatsTestServer.start({ tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: certs.caFile, verify: true } });
  });
  afterAll(async () => {
    await server?.stop();
    certs?.remove();
  });

  it('takes a service that presents its certificate (key given inline as a Secret) and refuses one without, at once', async () => {
    const probe = secretProbe();
    const withCert: NatsOptions = {
      servers: server.url,
      tls: { ca: certs.read(certs.caFile), cert: certs.read(certs.clientCertFile), key: secret(certs.read(certs.clientKeyFile)) },
    };
    const { runner, service, stream, stored } = securedService(withCert, { logger: probe.logger });
    const client = new NatsRpcClient({ nats: { servers: server.url, tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile } } });
    const publisher = new NatsPublisher({ nats: withCert });
    try {
      await runner.start();
      await expect(client.call(service, 'ping', ['mtls'], { timeoutMs: 5_000 })).resolves.toBe('pong mtls');
      await publisher.publish(`${stream}.in`, { n: 1 });
      await waitFor(() => stored.length === 1, 'the message published with a client certificate');
    } finally {
      await Promise.all([client.close(), publisher.close()]);
      await runner.stop({ timeoutMs: 5_000 });
    }

    const without = securedService({ servers: server.url, tls: { caFile: certs.caFile } }, { logger: probe.logger });
    const refused = await within(without.runner.start(), 5_000).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TlsHandshakeFailed);
    expect((refused as TlsHandshakeFailed).code).toMatch(/ALERT|CERTIFICATE/);
    probe.keep(refused);
    expect(inspect(withCert)).not.toContain(keyBody.slice(0, 40));
    expect(JSON.stringify(withCert)).not.toContain(keyBody.slice(0, 40));
    expect(JSON.stringify(withCert)).toContain('"key":"***"');
    expect(probe.leaks(keyBody.slice(0, 40))).toEqual([]);
    expect(probe.leaks(keyBody.slice(-40))).toEqual([]);
  });

  it('refuses a key that cannot be decoded with ConfigurationError before connecting, naming no part of it', async () => {
    const probe = secretProbe();
    const keyPem = certs.read(certs.clientKeyFile);
    const mangled = keyPem.replace(/\n([A-Za-z0-9+/]{20})/, '\nSECRETSECRETSECRET$1');
    for (const key of ['-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n', mangled]) {
      const error = await within(connectNats({ servers: server.url, tls: { caFile: certs.caFile, cert: certs.read(certs.clientCertFile), key: secret(key) } }), 5_000).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/^nats\.tls: the client certificate or key cannot be used/);
      probe.keep(error);
    }
    expect(probe.leaks('SECRET')).toEqual([]);
    expect(probe.leaks(keyBody.slice(0, 40))).toEqual([]);
  });

  it('reports a refused client certificate as TlsHandshakeFailed every time, also when the server resets the connection before the client reads its alert', async () => {
    // nats.js alone sees a bare ECONNRESET in a fair share of these attempts (the server closes on the unread CONNECT).
    const outcomes = new Set<string>();
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const error = await within(connectNats({ servers: server.url, tls: { caFile: certs.caFile } }), 5_000).catch((failure: unknown) => failure);
      outcomes.add(error instanceof TlsHandshakeFailed ? `TlsHandshakeFailed ${String(error.code)}` : String(error));
    }
    expect([...outcomes].filter((outcome) => !/^TlsHandshakeFailed ERR_SSL_\S*ALERT_BAD_CERTIFICATE$/.test(outcome))).toEqual([]);
    expect(outcomes.size).toBe(1);
  });
});

describe('a TLS server that starts requiring client certificates while a service is connected', () => {
  let certs: TestCertificates;
  let server: NatsTestServer;

  beforeAll(async () => {
    certs = testCertificates();
    server = await NatsTestServer.start({ tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: certs.caFile } });
  });
  afterAll(async () => {
    await server?.stop();
    certs?.remove();
  });

  it('logs the refused reconnection as TlsHandshakeFailed, then consumes again once the server takes it back', async () => {
    const probe = secretProbe();
    const { runner, stream, stored } = securedService({ servers: server.url, tls: { caFile: certs.caFile } }, { logger: probe.logger });
    const publisher = new NatsPublisher({ nats: { servers: server.url, tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile } } });
    try {
      await runner.start();
      await server.restart({ tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: certs.caFile, verify: true } });
      await waitFor(() => probe.lines.some((line) => line.includes('TlsHandshakeFailed')), 'the refused handshake to be logged', 30_000);
      const logged = probe.lines.find((line) => line.includes('TlsHandshakeFailed'))!;
      expect(logged).toContain(`NATS at 127.0.0.1:${server.port}: TLS handshake failed`);
      // The publisher presents a certificate: it reconnects to the server that now requires one.
      await waitFor(async () => (await publisher.publish(`${stream}.in`, { n: 1 }).then(() => true, () => false)), 'a publish with a client certificate', 30_000);
      expect(stored).toEqual([]);
      await server.restart({ tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: certs.caFile } });
      await waitFor(() => stored.length >= 1, 'the message, once the service reconnected', 45_000);
      expect(probe.lines.some((line) => line.includes('restored'))).toBe(true);
    } finally {
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  });
});

describe('tls.handshakeFirst', () => {
  // nats-server 2.9 (the one of this machine) has no handshake_first: the option is checked as far as nats.js.
  it('is accepted and handed to nats.js, next to the TLS options of core', async () => {
    const certs = testCertificates();
    try {
      const resolved = await resolveNatsOptions({ servers: 'tls://127.0.0.1:4443', tls: { caFile: certs.caFile, handshakeFirst: true } });
      expect(resolved.connection.tls).toMatchObject({ handshakeFirst: true, rejectUnauthorized: true });
      await expect(resolveNatsOptions({ tls: { handshakeFirst: true, rejectUnauthorised: false } as never })).rejects.toThrow('tls: unknown option "rejectUnauthorised"');
    } finally {
      certs.remove();
    }
  });
});

describe('the diagnosis of a lost TLS connection', () => {
  let certs: TestCertificates;
  let server: NatsTestServer;

  beforeAll(async () => {
    certs = testCertificates();
    server = await NatsTestServer.start({ tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile } });
  });
  afterAll(async () => {
    await server?.stop();
    certs?.remove();
  });

  it('dials nothing more once the service stopped, also with waitOnFirstConnect', async () => {
    const probe = secretProbe();
    const { runner } = securedService({ servers: server.url, tls: { caFile: certs.caFile }, waitOnFirstConnect: true, reconnectTimeWait: 200 }, { logger: probe.logger });
    let dials = 0;
    const listener = createServer((socket) => {
      dials += 1;
      socket.destroy();
    });
    try {
      await runner.start();
      await server.stop();
      await waitFor(() => probe.lines.some((line) => line.includes(' lost')), 'the lost connection to be logged', 10_000);
      // The diagnosis tries its first separate connection 2 s after the loss: let it begin.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await runner.stop({ timeoutMs: 5_000 });
      await new Promise<void>((resolve) => listener.listen(server.port, '127.0.0.1', () => resolve()));
      // Anything still dialling (the diagnosis retrying as waitOnFirstConnect says) reaches the
      // listener within a few of its 200 ms attempts.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(dials).toBe(0);
    } finally {
      await new Promise((resolve) => listener.close(resolve));
      await runner.stop({ timeoutMs: 5_000 });
    }
  });
});
