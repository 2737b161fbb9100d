import { randomBytes, randomUUID } from 'node:crypto';
import { Route, Runner } from '@micro-framework/core';
import { secretProbe, waitFor } from '@micro-framework/conformance';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamListener, NatsPublisher, NatsRpcClient, NatsRpcListener } from '../src/index.ts';
import { NatsTestServer } from '../src/testing/index.ts';

// A password must never reach a log line or an error message, whatever happens to the connection.
const secret = `S3cr3t-${randomBytes(12).toString('hex')}`;
const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
let server: NatsTestServer;

beforeAll(async () => {
  server = await NatsTestServer.start({ auth: { user: 'svc', pass: secret } });
});

afterAll(async () => {
  await server.stop();
});

describe('secrets', () => {
  it('appear in no log line and no error message through a server restart, failures and a refused login', async () => {
    const { logger, keep, lines, messages, leaks } = secretProbe();
    const nats = { servers: `127.0.0.1:${server.port}`, user: 'svc', pass: secret };
    let calls = 0;
    function handleSecretly(): void {
      calls += 1;
      throw new Error('always fails');
    }
    function ping(): string {
      return 'pong';
    }
    const service = unique('secretive');
    const stream = unique('SECRETS').replace(/-/g, '_');
    const runner = new Runner({
      config: { serviceName: service, nats, logger },
      contexts: [{ routes: [
        new Route({ target: handleSecretly, entrypoint: new JetStreamListener({ stream, subjects: [`${stream}.made`] }) }),
        new Route({ target: ping, entrypoint: new NatsRpcListener() }),
      ] }],
    });
    await runner.start();
    const publisher = new NatsPublisher({ nats });
    await publisher.publish(`${stream}.made`, {});
    await waitFor(() => calls === 1, 'the failing call');
    await server.restart();
    await waitFor(() => lines.some((line) => line.includes('restored')), 'the reconnection to be logged', 30_000);
    const client = new NatsRpcClient({ nats });
    await waitFor(async () => (await client.call(service, 'ping', [], { timeoutMs: 2_000 }).catch(() => undefined)) === 'pong', 'the RPC target after the restart', 30_000);
    await client.call(unique('nobody'), 'ping', [], { timeoutMs: 1_000 }).catch(keep);
    await client.close();
    await publisher.close();
    await runner.stop({ timeoutMs: 5_000 });
    const wrong = { ...nats, pass: `${secret}-wrong`, reconnect: false };
    await connect(wrong).catch(keep);
    const refusedRunner = new Runner({ config: { serviceName: unique('refused'), nats: wrong, logger }, contexts: [{ routes: [new Route({ target: ping, entrypoint: new NatsRpcListener() })] }] });
    await refusedRunner.start().catch(keep);
    await new NatsPublisher({ nats: wrong }).publish(`${stream}.made`, {}).catch(keep);

    expect(lines.some((line) => line.includes('lost'))).toBe(true);
    expect(messages.length).toBeGreaterThanOrEqual(16);
    expect(messages.join('\n')).toContain('Authorization');
    expect(leaks(secret)).toEqual([]);
  });
});
