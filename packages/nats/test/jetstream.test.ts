import { randomUUID } from 'node:crypto';
import { connect as connectTcp } from 'node:net';
import { BackoffContext, DeadLetterHeader, ExtensionIsStopped, MetaDependency, Route, RpcNoResponders, Runner, inject, type Meta } from '@micro-framework/core';
import { staysQuiet, waitFor } from '@micro-framework/conformance';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamListener, NatsBackoff, NatsRpcClient, NatsRpcListener, headersFromNats, rpcSubject, subjectMatches } from '../src/index.ts';

// JetStream behaviour the adapter relies on, against the machine's nats-server (NATS_URL).
const url = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
let nc: NatsConnection;
let jsm: JetStreamManager;
const runners: Runner[] = [];
const streams: string[] = [];

beforeAll(async () => {
  nc = await connect({ servers: url });
  jsm = await jetstreamManager(nc);
});
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 2_000 })));
  for (const stream of streams.splice(0)) {
    await jsm.streams.delete(stream).catch(() => undefined);
    await jsm.streams.delete(`${stream}-dead-letters`).catch(() => undefined);
  }
});
afterAll(async () => {
  await nc.drain();
});

/**
 * Publishes with a header block nats.js refuses to parse (a name with a space), as a client of
 * another language may: raw protocol to the real server, which passes header blocks through unchecked.
 */
async function publishMalformedHeader(subject: string, body: string, reply?: string): Promise<void> {
  const { hostname, port } = new URL(url);
  const socket = connectTcp(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('data', () => resolve()).once('error', reject));
  const header = 'NATS/1.0\r\nbad key: x\r\n\r\n';
  const frame = `HPUB ${subject}${reply ? ` ${reply}` : ''} ${Buffer.byteLength(header)} ${Buffer.byteLength(header) + Buffer.byteLength(body)}\r\n${header}${body}\r\n`;
  socket.write(`CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n${frame}PING\r\n`);
  await new Promise<void>((resolve) => socket.on('data', (data) => { if (data.toString().includes('PONG')) resolve(); }));
  socket.destroy();
}

interface Call { at: number; meta: Meta; retryCount: number; payload: unknown }

async function serve(options: { handler: (call: Call) => unknown; backoff?: NatsBackoff; ackWaitMs?: number; maxDeliver?: number }) {
  const stream = `T${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  streams.push(stream);
  const calls: Call[] = [];
  const handle = inject({ meta: new MetaDependency(), retry: new BackoffContext() }, function handle({ meta, retry }, payload: unknown) {
    const call = { at: performance.now(), meta, retryCount: retry.retryCount, payload };
    calls.push(call);
    return options.handler(call);
  });
  const listener = new JetStreamListener({ stream, subjects: [`${stream}.in`], ackWaitMs: options.ackWaitMs, maxDeliver: options.maxDeliver });
  const runner = new Runner({ config: { serviceName: `svc-${stream}`, nats: { servers: url } }, contexts: [{ routes: [new Route({ target: handle, entrypoint: listener, backoff: options.backoff })] }] });
  runners.push(runner);
  await runner.start();
  await jetstream(nc).publish(`${stream}.in`, JSON.stringify({ id: 1 }));
  return { calls, listener, stream };
}

describe('JetStreamListener', () => {
  it('honours the nak delay of NatsBackoff and counts the retry', async () => {
    const { calls } = await serve({
      backoff: new NatsBackoff({ maxRetries: 1, interval: 1_000 }),
      handler: (call) => { if (call.retryCount === 0) throw new Error('first'); },
    });
    await waitFor(() => calls.length === 2, 'the retry');
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(999);
    expect(calls[1]!.meta['deliveryCount']).toBe(2);
    expect(calls[1]!.meta.retry.lastErrorMessage).toBe('first');
  });

  it('consumes again when its durable consumer was deleted, re-creating it, instead of idling', async () => {
    const { calls, listener, stream } = await serve({ handler: () => undefined });
    await waitFor(() => calls.length === 1, 'the first message');
    await jsm.consumers.delete(stream, listener.consumerName);
    await jetstream(nc).publish(`${stream}.in`, JSON.stringify({ id: 2 }));
    // The consumer is re-created delivering the whole stream: the first message comes again (at least once).
    await waitFor(() => calls.some((call) => (call.payload as { id: number }).id === 2), 'the message published after the consumer was deleted', 20_000);
    expect((await jsm.consumers.info(stream, listener.consumerName)).config.durable_name).toBe(listener.consumerName);
  });

  it('dead-letters a message whose header block cannot be parsed (reason decode), and goes on', async () => {
    const { calls, listener, stream } = await serve({ handler: () => undefined });
    await waitFor(() => calls.length === 1, 'the first message');
    await publishMalformedHeader(`${stream}.in`, '{"id":2}');
    await jetstream(nc).publish(`${stream}.in`, JSON.stringify({ id: 3 }));
    await waitFor(() => calls.some((call) => (call.payload as { id: number }).id === 3), 'the message after the malformed one');
    const dead = await jsm.streams.getMessage(listener.deadLetterStream, { last_by_subj: listener.deadLetterSubject });
    expect(headersFromNats(dead!.header)[DeadLetterHeader.reason]).toBe('decode');
    expect(new TextDecoder().decode(dead!.data)).toBe('{"id":2}');
    expect(calls.some((call) => (call.payload as { id: number }).id === 2)).toBe(false);
  });

  it('dead-letters instead of retrying past max_deliver, and settles the original', async () => {
    const { calls, listener } = await serve({
      maxDeliver: 2,
      backoff: new NatsBackoff({ maxRetries: 5, interval: 50 }),
      handler: () => { throw new Error('always'); },
    });
    let dead: Awaited<ReturnType<typeof jsm.streams.getMessage>> | undefined;
    await waitFor(async () => {
      dead = (await jsm.streams.getMessage(listener.deadLetterStream, { last_by_subj: listener.deadLetterSubject }).catch(() => null)) ?? undefined;
      return dead !== undefined;
    }, 'the dead letter');
    const headers = headersFromNats(dead!.header);
    expect(headers[DeadLetterHeader.reason]).toBe('exhausted');
    expect(headers['x-stream-sequence']).toBe('1');
    expect(calls).toHaveLength(2);
    expect(await staysQuiet(() => calls.length > 2, 1_500)).toBe(true);
  });

  it('keeps a slow call alive with working() instead of letting it be redelivered', async () => {
    const { calls } = await serve({ ackWaitMs: 1_000, handler: () => new Promise((resolve) => setTimeout(resolve, 3_500)) });
    await waitFor(() => calls.length === 1, 'the call');
    expect(await staysQuiet(() => calls.length > 1, 5_000)).toBe(true);
  });
});

describe('RPC and subjects', () => {
  it('fails fast with no responders when no service listens', async () => {
    const client = new NatsRpcClient({ nats: { servers: url } });
    const started = performance.now();
    await expect(client.call(`nobody-${randomUUID()}`, 'x', [], { timeoutMs: 5_000 })).rejects.toBeInstanceOf(RpcNoResponders);
    expect(performance.now() - started).toBeLessThan(1_000);
    await client.close();
  });

  it('rejects the calls still waiting when the client closes, without waiting for their timeout', async () => {
    const service = `slow-${randomUUID()}`;
    const silent = nc.subscribe(rpcSubject(service, 'wait')); // receives the request, never replies
    await nc.flush();
    const client = new NatsRpcClient({ connection: nc });
    const pending = client.call(service, 'wait', [], { timeoutMs: 30_000 });
    await waitFor(() => silent.getReceived() === 1, 'the request reached the silent subscriber');
    const started = performance.now();
    await client.close();
    await expect(pending).rejects.toBeInstanceOf(ExtensionIsStopped);
    expect(performance.now() - started).toBeLessThan(1_000);
    silent.unsubscribe();
  });

  it('answers on after a request whose header block cannot be parsed: the shared connection keeps reading', async () => {
    const service = `hdr-${randomUUID().slice(0, 8)}`;
    function echo(value: string): string {
      return value;
    }
    const runner = new Runner({ config: { serviceName: service, nats: { servers: url } }, contexts: [{ routes: [new Route({ target: echo, entrypoint: new NatsRpcListener() })] }] });
    runners.push(runner);
    await runner.start();
    const replies = nc.subscribe(`reply-${service}`);
    await nc.flush();
    await publishMalformedHeader(rpcSubject(service, 'echo'), JSON.stringify({ command: 'echo', command_args: ['raw'], command_kwargs: {} }), `reply-${service}`);
    await waitFor(() => replies.getReceived() === 1, 'the reply to the malformed request');
    const client = new NatsRpcClient({ nats: { servers: url } });
    expect(await client.call(service, 'echo', ['after'], { timeoutMs: 5_000 })).toBe('after');
    await client.close();
    replies.unsubscribe();
  });

  it('asks JetStream for three quarters of maxWorkers at a time once a quarter is left, never for more than maxWorkers', async () => {
    const stream = `T${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    streams.push(stream);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.in`] });
    const js = jetstream(nc);
    for (let id = 0; id < 400; id += 1) await js.publish(`${stream}.in`, JSON.stringify({ id }));
    // Pull requests are core NATS messages: a subscriber sees each one the consumer sends.
    const batches: number[] = [];
    const pulls = nc.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${stream}.>`, { callback: (_error, msg) => void batches.push((msg.json() as { batch: number }).batch) });
    await nc.flush();
    let handled = 0;
    function count(): void {
      handled += 1;
    }
    const runner = new Runner({
      config: { serviceName: `svc-${stream}`, maxWorkers: 40, nats: { servers: url } },
      contexts: [{ routes: [new Route({ target: count, entrypoint: new JetStreamListener({ stream, subjects: [`${stream}.in`] }) })] }],
    });
    runners.push(runner);
    await runner.start();
    await waitFor(() => handled === 400, 'all 400 messages');
    pulls.unsubscribe();
    expect(batches[0]).toBe(40);
    expect(Math.max(...batches)).toBeLessThanOrEqual(40);
    // 400 messages in pulls of 30 after the first 40: 14 pull requests (nats.js's default refills a quarter: 37).
    expect(batches.length).toBeLessThanOrEqual(16);
  });

  it('matches subjects with * and > as NATS does', () => {
    expect(subjectMatches('a.*.c', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a')).toBe(false);
    expect(subjectMatches('a.*', 'a.b.c')).toBe(false);
    expect(subjectMatches('a.b', 'a.b')).toBe(true);
  });
});
