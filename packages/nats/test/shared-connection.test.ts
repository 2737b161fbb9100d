import { randomBytes, randomUUID } from 'node:crypto';
import { Route, Runner } from '@micro-framework/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsRpcListener, SubjectListener } from '../src/index.ts';
import { NatsTestServer } from '../src/testing/index.ts';

const token = `tok-${randomBytes(12).toString('hex')}`;
let server: NatsTestServer;

beforeAll(async () => {
  server = await NatsTestServer.start({ auth: { token } });
});

afterAll(async () => {
  await server.stop();
});

describe('the connection routes of one context share', () => {
  it('is shared only by routes with the same options: a route with other credentials gets its own (and is refused here)', async () => {
    function ping(): string {
      return 'pong';
    }
    function listen(): void {}
    const runner = new Runner({
      config: { serviceName: `shared-${randomUUID().slice(0, 8)}`, nats: { servers: server.url, token } },
      contexts: [{ routes: [
        new Route({ target: ping, entrypoint: new NatsRpcListener() }),
        new Route({ target: listen, entrypoint: new SubjectListener({ subject: 'shared.wrong', nats: { servers: server.url, token: `${token}-wrong`, reconnect: false } }) }),
      ] }],
    });
    await expect(runner.start()).rejects.toThrow(/Authorization/i);
  });
});
