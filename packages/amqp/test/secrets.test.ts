import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { inspect, promisify } from 'node:util';
import { ConfigurationError, InsecureCredentials, Route, Runner, asSecret, type TlsOptions } from '@micro-framework/core';
import { TcpProxy, secretProbe, waitFor } from '@micro-framework/conformance';
import { credentials as amqplibCredentials } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpConnection, AmqpEventListener, AmqpPublisher, AmqpRpcClient, AmqpRpcListener, connectionKey, resolveAmqpConnection, type AmqpCredentials, type AmqpOptions } from '../src/index.ts';
import { unique } from './helpers.ts';

// A password must never reach a log line or an error message, whatever happens to the connection.
const run = promisify(execFile);
const user = unique('mf-secret');
const secret = `S3cr3t-${randomBytes(12).toString('hex')}`;
const proxy = new TcpProxy({ host: '127.0.0.1', port: 5672 });
let url = '';

beforeAll(async () => {
  await run('rabbitmqctl', ['add_user', user, secret]);
  await run('rabbitmqctl', ['set_permissions', '-p', '/', user, '.*', '.*', '.*']);
  url = `amqp://${user}:${secret}@127.0.0.1:${await proxy.start()}`;
});

afterAll(async () => {
  await proxy.close();
  await run('rabbitmqctl', ['delete_user', user]).catch(() => undefined);
});

describe('secrets', () => {
  it('appear in no log line and no error message through reconnects, failures and a refused login', async () => {
    const { logger, keep, lines, messages, leaks } = secretProbe();
    let calls = 0;
    function handleSecretly(): void {
      calls += 1;
      throw new Error(`failed with ${url.replace(secret, '***')}`);
    }
    function ping(): string {
      return 'pong';
    }
    const service = unique('secretive');
    const source = unique('secret-source');
    const runner = new Runner({
      config: { serviceName: service, amqp: { url }, logger },
      contexts: [{ routes: [
        new Route({ target: handleSecretly, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'made' }) }),
        new Route({ target: ping, entrypoint: new AmqpRpcListener() }),
      ] }],
    });
    await runner.start();
    const publisher = new AmqpPublisher({ sourceService: source, amqp: { url } });
    await publisher.publish('made', {});
    await waitFor(() => calls === 1, 'the failing call');
    await proxy.cutFor(1_000);
    await waitFor(() => lines.some((line) => line.includes('restored')), 'the reconnection to be logged', 30_000);
    const client = new AmqpRpcClient({ amqp: { url, publishTimeoutMs: 2_000 } });
    expect(await client.call(service, 'ping', [], { timeoutMs: 10_000 })).toBe('pong');
    await client.call(unique('nobody'), 'ping', [], { timeoutMs: 2_000 }).catch(keep);
    await client.close();
    await publisher.close();
    await runner.stop({ timeoutMs: 5_000 });
    const refused = new AmqpConnection({ url: `amqp://${user}:${secret}-wrong@127.0.0.1:5672` });
    await refused.setup().catch(keep);
    await refused.stop();
    await new AmqpPublisher({ sourceService: source, amqp: { url: `amqp://${user}:${secret}@127.0.0.1:1` } }).publish('made', {}).catch(keep);

    expect(lines.some((line) => line.includes('"connectionLost"') || line.includes('lost'))).toBe(true);
    expect(messages.length).toBeGreaterThanOrEqual(12);
    expect(leaks(secret)).toEqual([]);
  });
});

describe('the connection routes of one context share', () => {
  it('is shared only by routes with the same options: a route with another password gets its own (and is refused)', async () => {
    function handleRightly(): void {}
    function handleWrongly(): void {}
    const wrongUrl = url.replace(secret, `${secret}-wrong`);
    const runner = new Runner({
      config: { serviceName: unique('shared'), amqp: { url } },
      contexts: [{ routes: [
        new Route({ target: handleRightly, entrypoint: new AmqpEventListener({ sourceService: unique('right'), eventName: 'made' }) }),
        new Route({ target: handleWrongly, entrypoint: new AmqpEventListener({ sourceService: unique('wrong'), eventName: 'made', amqp: { url: wrongUrl } }) }),
      ] }],
    });
    await expect(runner.start()).rejects.toThrow(/ACCESS_REFUSED|403|authenticat/i);
  });
});

describe('credentials over plaintext beyond loopback', () => {
  // 192.0.2.1 is TEST-NET-1: nothing answers there. Only the check before any attempt can fail this
  // fast with InsecureCredentials; an attempt would end in a timeout or an unreachable network.
  const remote = '192.0.2.1';

  it('a password in the URL: InsecureCredentials from runner.start(), before any connection attempt, naming no password', async () => {
    const { keep, leaks } = secretProbe();
    function handle(): void {}
    const runner = new Runner({
      config: { serviceName: unique('insecure'), amqp: { url: `amqp://${user}:${secret}@${remote}:5672` } },
      contexts: [{ routes: [new Route({ target: handle, entrypoint: new AmqpEventListener({ sourceService: unique('far'), eventName: 'made' }) })] }],
    });
    const error = await runner.start().then(() => undefined, (failure: unknown) => failure);
    keep(error);
    await runner.stop({ timeoutMs: 2_000 });
    expect(error).toBeInstanceOf(InsecureCredentials);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain(`RabbitMQ at ${remote}: refusing to send the password in amqp.url over a plaintext connection`);
    expect(leaks(secret)).toEqual([]);
  });

  it('PLAIN credentials: InsecureCredentials from a publisher and an RPC client', async () => {
    const amqp = { url: `amqp://${remote}`, credentials: { mechanism: 'PLAIN' as const, username: user, password: asSecret(secret) } };
    const publisher = new AmqpPublisher({ sourceService: unique('far'), amqp });
    const client = new AmqpRpcClient({ amqp });
    await expect(publisher.publish('made', {})).rejects.toBeInstanceOf(InsecureCredentials);
    await expect(client.call('anyone', 'anything')).rejects.toThrow(`the password of user "${user}"`);
    await client.close();
    await publisher.close();
  });

  it('allowInsecure: true lets the attempt go (it then fails as the network does, not with InsecureCredentials)', async () => {
    const connection = new AmqpConnection({ url: `amqp://${user}:${secret}@${remote}:5672`, allowInsecure: true, socketOptions: { timeout: 200 } });
    const error = await connection.setup().then(() => undefined, (failure: unknown) => failure);
    await connection.stop();
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(InsecureCredentials);
  });

  it('TLS that does not verify the server counts as plaintext: InsecureCredentials (tls or socketOptions rejectUnauthorized: false, socketOptions.checkServerIdentity)', async () => {
    const check = (amqp: AmqpOptions): Promise<unknown> => resolveAmqpConnection(amqp).then(() => 'accepted', (error: unknown) => error);
    const plain = { mechanism: 'PLAIN' as const, username: user, password: asSecret(secret) };
    const noCheck = (): undefined => undefined;
    const outcomes = [
      await check({ url: `amqps://${remote}`, tls: { rejectUnauthorized: false }, credentials: plain }),
      await check({ url: `amqps://${user}:${secret}@${remote}`, socketOptions: { rejectUnauthorized: false } }),
      await check({ url: `amqps://${user}:${secret}@${remote}`, socketOptions: { checkServerIdentity: noCheck } }),
    ];
    for (const outcome of outcomes) expect(outcome).toBeInstanceOf(InsecureCredentials);
    // With tls, a checkServerIdentity or a secureContext of socketOptions would bypass it: refused.
    expect(await check({ url: `amqps://${remote}`, tls: {}, credentials: plain, socketOptions: { checkServerIdentity: noCheck } })).toBeInstanceOf(ConfigurationError);
    expect(await check({ url: `amqps://${remote}`, tls: {}, credentials: plain, socketOptions: { secureContext: createSecureContext({}) } })).toBeInstanceOf(ConfigurationError);
    // allowInsecure accepts it knowingly.
    expect(await check({ url: `amqps://${remote}`, tls: { rejectUnauthorized: false }, credentials: plain, allowInsecure: true })).toBe('accepted');
  });

  it('loopback, TLS, or no password at all are never refused', async () => {
    const check = (amqp: AmqpOptions): Promise<unknown> => resolveAmqpConnection(amqp).then(() => 'accepted', (error: unknown) => error);
    expect(await check({ url: `amqp://${user}:${secret}@127.0.0.1:5672` })).toBe('accepted');
    expect(await check({ url: `amqp://${user}:${secret}@localhost:5672` })).toBe('accepted');
    expect(await check({ url: `amqps://${user}:${secret}@${remote}` })).toBe('accepted');
    expect(await check({ url: `amqp://${remote}` })).toBe('accepted');
  });
});

describe('options that cannot work fail before any attempt with a ConfigurationError', () => {
  it('tls with an amqp:// URL; EXTERNAL without TLS or without a client certificate; an unknown mechanism; two sets of credentials', async () => {
    const check = (amqp: AmqpOptions): Promise<unknown> => resolveAmqpConnection(amqp).then(() => undefined, (error: unknown) => error);
    const errors = [
      await check({ url: 'amqp://127.0.0.1:5672', tls: {} }),
      await check({ url: 'amqp://127.0.0.1:5672', credentials: { mechanism: 'EXTERNAL' } }),
      await check({ url: 'amqps://127.0.0.1:5671', tls: {}, credentials: { mechanism: 'EXTERNAL' } }),
      await check({ url: 'amqps://127.0.0.1:5671', credentials: { mechanism: 'AMQPLAIN' } as unknown as AmqpCredentials }),
      await check({ url: 'amqps://127.0.0.1:5671', credentials: { mechanism: 'PLAIN', username: 'u', password: 'p' }, socketOptions: { credentials: amqplibCredentials.plain('u', 'p') } }),
      await check({ url: 'amqps://127.0.0.1:5671', tls: { rejectUnautorized: false } as unknown as TlsOptions }),
    ];
    for (const error of errors) expect(error).toBeInstanceOf(ConfigurationError);
    expect(String(errors[0])).toContain('use amqps://');
  });

  it('credentials win over the URL: its user and password are dropped from what amqplib is given', async () => {
    const resolved = await resolveAmqpConnection({ url: `amqps://${user}:${secret}@127.0.0.1/vhost`, tls: {}, credentials: { mechanism: 'PLAIN', username: 'other', password: asSecret('x') } });
    expect(resolved.url).toBe('amqps://127.0.0.1/vhost?heartbeat=10');
    expect(inspect(resolved, { depth: 10 })).not.toContain(secret);
    expect((resolved.socketOptions.credentials as unknown as { response(): Buffer }).response().toString()).toBe('\u0000other\u0000x');
  });
});

describe('a URL whose user info is not percent-encoded', () => {
  it('is refused before any attempt with a message that quotes nothing of it; logs, keys and labels never show a part of the password', async () => {
    const { keep, leaks } = secretProbe();
    const password = `p@ssw0rd/TOP${randomBytes(6).toString('hex')}`;
    const raw = `amqps://orders:${password}@rabbit.internal:5672/prod`;
    const error = await resolveAmqpConnection({ url: raw }).then(() => undefined, (failure: unknown) => failure);
    keep(error);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain('user info must be percent-encoded');
    const connection = new AmqpConnection({ url: raw });
    const setup = await connection.setup().then(() => undefined, (failure: unknown) => failure);
    keep(setup);
    await connection.stop();
    expect(setup).toBeInstanceOf(ConfigurationError);
    for (const part of ['ssw0rd', password.slice(password.indexOf('/') + 1)]) {
      expect(leaks(part)).toEqual([]);
      expect(connectionKey({ url: raw })).not.toContain(part);
      expect(connection.url).not.toContain(part);
    }
    expect(connection.url).toBe('amqps://***@rabbit.internal:5672/prod');
    // The same with ? and # in the password.
    for (const odd of [`amqp://u:a?b@host/`, `amqp://u:a#b@host/`]) {
      expect(await resolveAmqpConnection({ url: odd }).then(() => 'accepted', (failure: unknown) => failure)).toBeInstanceOf(ConfigurationError);
    }
  });

  it('percent-encoded user info is decoded as UTF-8 and sent as PLAIN credentials, never left in the URL amqplib is given', async () => {
    const password = `pä€ss+/@%:${randomBytes(4).toString('hex')}`;
    const resolved = await resolveAmqpConnection({ url: `amqp://${encodeURIComponent('usér')}:${encodeURIComponent(password)}@127.0.0.1:5672/v%2Fh` });
    expect(resolved.url).toBe('amqp://127.0.0.1:5672/v%2Fh?heartbeat=10');
    const sasl = resolved.socketOptions.credentials as unknown as { mechanism: string; response(): Buffer };
    expect(sasl.mechanism).toBe('PLAIN');
    expect(sasl.response().toString('utf8')).toBe(`\u0000usér\u0000${password}`);
    expect(resolved.vhost).toBe('v/h');
    expect(inspect(resolved, { depth: 10 })).not.toContain(password);
    expect(inspect(resolved, { depth: 10 })).not.toContain(encodeURIComponent(password));
  });
});

describe('options print their secrets as ***', () => {
  it('a URL with a password: not in util.inspect / JSON of the connection, nor its url; a url given as a Secret prints ***', async () => {
    const raw = `amqps://orders:${secret}@rabbit.internal/prod`;
    const connection = new AmqpConnection({ url: raw });
    for (const text of [inspect(connection, { depth: 10 }), JSON.stringify(connection), connection.url, JSON.stringify({ connection })]) {
      expect(text).not.toContain(secret);
    }
    expect(connection.url).toBe('amqps://***@rabbit.internal/prod');
    const options: AmqpOptions = { url: asSecret(raw) };
    expect(inspect(options)).not.toContain(secret);
    expect(JSON.stringify(options)).toBe('{"url":"***"}');
    // A Secret URL works like the string: same connection key, same resolution.
    expect(connectionKey(options)).toBe(connectionKey({ url: raw }));
    expect((await resolveAmqpConnection({ ...options, allowInsecure: true })).url).toBe('amqps://rabbit.internal/prod?heartbeat=10');
  });

  it('util.inspect and JSON.stringify of the options, and of a connection, show *** for Secret values', () => {
    const options: AmqpOptions = {
      url: 'amqps://rabbit.example:5671',
      tls: { ca: 'PEM', key: asSecret(`-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----`), passphrase: asSecret(`${secret}-phrase`) },
      credentials: { mechanism: 'PLAIN', username: user, password: asSecret(secret) },
    };
    const connection = new AmqpConnection(options);
    for (const text of [inspect(options, { depth: 10 }), JSON.stringify(options), inspect(connection, { depth: 10 }), `${JSON.stringify({ amqp: options })}`]) {
      expect(text).not.toContain(secret);
    }
    expect(JSON.stringify(options)).toBe(
      `{"url":"amqps://rabbit.example:5671","tls":{"ca":"PEM","key":"***","passphrase":"***"},"credentials":{"mechanism":"PLAIN","username":"${user}","password":"***"}}`,
    );
    expect(inspect(options, { depth: 10 })).toContain("password: Secret(***)");
    expect(connectionKey(options)).not.toContain(secret);
  });
});
