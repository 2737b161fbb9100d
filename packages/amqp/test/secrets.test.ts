import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Route, Runner } from '@micro-framework/core';
import { TcpProxy, secretProbe, waitFor } from '@micro-framework/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpConnection, AmqpEventListener, AmqpPublisher, AmqpRpcClient, AmqpRpcListener } from '../src/index.ts';
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
