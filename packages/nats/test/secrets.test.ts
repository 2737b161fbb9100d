import { randomBytes, randomUUID } from 'node:crypto';
import { Route, Runner } from '@micro-framework/core';
import { secretProbe, waitFor } from '@micro-framework/conformance';
import { nkeyAuthenticator, nkeys } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamListener, NatsPublisher, NatsRpcClient, NatsRpcListener, connectNats, type NatsOptions } from '../src/index.ts';
import { NatsTestServer, type NatsTestAuth } from '../src/testing/index.ts';

// Issue #12: no password, token or nkey seed may reach a log line or an error message, whatever
// happens to the connection. Each kind of credentials gets its own server and the same ordeal.
const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);

/**
 * The texts that would betray `secret`: the secret itself, a 16-character piece of its random part
 * (a truncated log line), and for a seed held as bytes the renderings of those bytes (String(),
 * util.inspect, JSON) that a careless log line would produce.
 */
function renderings(secret: string, randomFrom: number, asBytes = false): string[] {
  const forms = [secret, secret.slice(randomFrom, randomFrom + 16)];
  if (asBytes) {
    const codes = [...bytes(secret)];
    forms.push(codes.join(','), codes.join(', '), JSON.stringify(bytes(secret)));
  }
  return forms;
}

interface Credentials {
  /** What the server requires. */
  auth: NatsTestAuth;
  /** How a service presents the right credentials (servers are added). */
  nats: NatsOptions;
  /** Credentials the server or the client refuses, each tried through connect, a Runner and a publisher. */
  refused: NatsOptions[];
  /** What must appear nowhere. */
  secrets: string[];
}

/**
 * Runs a service with a failing JetStream route and an RPC route on `server`, restarts the server
 * (reconnect logs), calls an RPC target nobody serves, then tries every refused login. Returns the
 * probe and the number of refusals that failed as they should.
 */
async function ordeal(server: NatsTestServer, credentials: Credentials): Promise<{ probe: ReturnType<typeof secretProbe>; refusals: number }> {
  const probe = secretProbe();
  const { logger, keep, lines } = probe;
  const nats: NatsOptions = { servers: `127.0.0.1:${server.port}`, ...credentials.nats };
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

  // Each refused attempt must fail (a login that went through would prove nothing); its error is kept.
  let refusals = 0;
  const refuse = async (attempt: () => Promise<unknown>): Promise<void> => {
    const failed = await attempt().then(() => false, (error: unknown) => {
      keep(error);
      return true;
    });
    if (failed) refusals += 1;
  };
  for (const refusedCredentials of credentials.refused) {
    const wrong: NatsOptions = { servers: nats.servers, ...refusedCredentials, reconnect: false };
    await refuse(async () => (await connectNats(wrong)).close());
    const refusedRunner = new Runner({ config: { serviceName: unique('refused'), nats: wrong, logger }, contexts: [{ routes: [new Route({ target: ping, entrypoint: new NatsRpcListener() })] }] });
    await refuse(async () => {
      await refusedRunner.start();
      await refusedRunner.stop({ timeoutMs: 5_000 });
    });
    const refusedPublisher = new NatsPublisher({ nats: wrong });
    await refuse(() => refusedPublisher.publish(`${stream}.made`, {}));
    await refusedPublisher.close();
  }
  return { probe, refusals };
}

function expectNoLeak({ probe, refusals }: Awaited<ReturnType<typeof ordeal>>, credentials: Credentials, refusal: string): void {
  const { lines, messages, leaks } = probe;
  expect(lines.some((line) => line.includes('lost'))).toBe(true);
  expect(refusals).toBe(credentials.refused.length * 3);
  // Four texts per kept error: the RPC call to nobody, then three per refused login.
  expect(messages.length).toBeGreaterThanOrEqual(4 * (1 + refusals));
  expect(messages.join('\n')).toContain(refusal);
  for (const secret of credentials.secrets) expect(leaks(secret), `a text holding ${JSON.stringify(secret.slice(0, 4))}…`).toEqual([]);
}

describe('secrets', () => {
  describe('user and password', () => {
    const pass = `S3cr3t-${randomBytes(12).toString('hex')}`;
    const credentials: Credentials = {
      auth: { user: 'svc', pass },
      nats: { user: 'svc', pass },
      refused: [{ user: 'svc', pass: `${pass}-wrong` }],
      secrets: renderings(pass, 7),
    };
    let server: NatsTestServer;
    beforeAll(async () => {
      server = await NatsTestServer.start({ auth: credentials.auth });
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('appear in no log line and no error message through a server restart, failures and a refused login', async () => {
      expectNoLeak(await ordeal(server, credentials), credentials, 'Authorization');
    });
  });

  describe('token', () => {
    const token = `T0k3n-${randomBytes(12).toString('hex')}`;
    const credentials: Credentials = {
      auth: { token },
      nats: { token },
      refused: [{ token: `${token}-wrong` }, { token: `wrong-${token}` }],
      secrets: renderings(token, 6),
    };
    let server: NatsTestServer;
    beforeAll(async () => {
      server = await NatsTestServer.start({ auth: credentials.auth });
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('appears in no log line and no error message through a server restart, failures and a refused login', async () => {
      expectNoLeak(await ordeal(server, credentials), credentials, 'Authorization');
    });
  });

  describe('nkey seed', () => {
    const user = nkeys.createUser();
    const seed = text(user.getSeed());
    // Another user's seed, valid but unknown to the server, and the right seed with a broken checksum.
    const stranger = text(nkeys.createUser().getSeed());
    const corrupted = `${seed.slice(0, -4)}${seed.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    const credentials: Credentials = {
      auth: { nkey: user.getPublicKey() },
      nats: { authenticator: nkeyAuthenticator(bytes(seed)) },
      refused: [{ authenticator: nkeyAuthenticator(bytes(stranger)) }, { authenticator: nkeyAuthenticator(bytes(corrupted)) }],
      secrets: [...renderings(seed, 2, true), ...renderings(stranger, 2, true), ...renderings(corrupted, 2, true)],
    };
    let server: NatsTestServer;
    beforeAll(async () => {
      server = await NatsTestServer.start({ auth: credentials.auth });
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('appears in no log line and no error message through a server restart, failures and refused logins', async () => {
      const outcome = await ordeal(server, credentials);
      expectNoLeak(outcome, credentials, 'Authorization');
      expect(outcome.probe.messages.join('\n')).toContain('nkeys: invalid checksum');
    });
  });
});
