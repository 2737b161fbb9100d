import { execFileSync } from 'node:child_process';
import { DeadLetterHeader, Route, inject, MetaDependency, type Meta } from '@micro-framework/core';
import { waitFor } from '@micro-framework/conformance';
import type { GetMessage } from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { AmqpBackoff, AmqpConnection, AmqpQueueListener, PublishError } from '../src/index.ts';
import { listQueues, rabbit, unique, url } from './helpers.ts';

// How the RabbitMQ adapter carries out core's failure policy when RabbitMQ itself gets in the way.
const { connection, channel, serve, stopAll } = rabbit();

/** A route on a fresh queue whose target records each call and fails while `fail` says so. */
function failingRoute(queueName: string, fail: (payload: { id: number }, meta: Meta) => boolean, backoff: AmqpBackoff, queueArguments?: Record<string, unknown>) {
  const calls: Array<{ payload: { id: number }; meta: Meta }> = [];
  const handle = inject({ meta: new MetaDependency() }, function handle({ meta }, payload: { id: number }) {
    calls.push({ payload, meta });
    if (fail(payload, meta)) throw new Error(`attempt ${meta.retry.retryCount} of ${payload.id} failed`);
  });
  const route = new Route({ target: handle, entrypoint: new AmqpQueueListener({ queueName, queueArguments }), backoff });
  return { calls, route };
}

async function getAll(queue: string): Promise<GetMessage[]> {
  const found: GetMessage[] = [];
  for (;;) {
    const message = await channel().get(queue, { noAck: true });
    if (!message) return found;
    found.push(message);
  }
}

describe('retries and dead letters on RabbitMQ', () => {
  it('a retry whose delay queue was deleted (expired) is published again to a re-declared one, never dropped', async () => {
    const queue = unique('tier-gone');
    const { calls, route } = failingRoute(queue, (_payload, meta) => meta.retry.retryCount === 0, new AmqpBackoff({ maxRetries: 1, interval: 200 }));
    await serve(unique('svc'), [route]);
    await connection.publish('', queue, Buffer.from('{"id":1}'));
    await waitFor(() => calls.length === 2, 'the first message and its retry');
    // RabbitMQ deletes an unused tier queue (x-expires) even with messages in it; then a publish to it
    // through the default exchange is confirmed and silently dropped unless it is mandatory.
    await channel().deleteQueue(`${queue}.retry.200ms`);
    await connection.publish('', queue, Buffer.from('{"id":2}'));
    await waitFor(() => calls.filter((call) => call.payload.id === 2).length === 2, 'the retry of the second message', 10_000);
    expect(calls.map((call) => [call.payload.id, call.meta.retry.retryCount])).toEqual([[1, 0], [1, 1], [2, 0], [2, 1]]);
  });

  it('retries and dead letters keep the AMQP types of headers (x-death keeps counting), and drop a per-message expiration', async () => {
    const queue = unique('typed');
    const { calls, route } = failingRoute(queue, () => true, new AmqpBackoff({ maxRetries: 2, interval: 50 }));
    await serve(unique('svc'), [route]);
    await connection.publish('', queue, Buffer.from('{"id":3}'), {
      headers: { count: 5, ratio: 0.5, flag: true, list: [1, 'a'], nested: { deep: 'x' } },
      expiration: '60000',
    });
    await waitFor(() => calls.length === 3, 'three attempts');
    let dead: GetMessage[] = [];
    await waitFor(async () => (dead = await getAll(`${queue}.dlq`)).length === 1, 'the dead letter');
    const { headers, expiration } = dead[0]!.properties;
    expect(expiration).toBeUndefined();
    expect(headers).toMatchObject({ count: 5, ratio: 0.5, flag: true, list: [1, 'a'], nested: { deep: 'x' } });
    expect(headers?.[DeadLetterHeader.reason]).toBe('exhausted');
    expect(headers?.['x-retry-count']).toBeUndefined();
    const deaths = headers?.['x-death'] as Array<{ queue: string; count: number }>;
    expect(deaths.find((death) => death.queue === `${queue}.retry.50ms`)?.count).toBe(2);
    // The target saw the same values as strings, on every attempt.
    expect(calls.map((call) => call.meta.headers['count'])).toEqual(['5', '5', '5']);
  });

  it('a dead-letter queue does not inherit the main queue arguments; an existing one is kept as it is', async () => {
    const queue = unique('dlq-args');
    const { route } = failingRoute(queue, () => true, new AmqpBackoff({ maxRetries: 0 }), { 'x-message-ttl': 600_000 });
    await serve(unique('svc'), [route]);
    const queues = new Map(listQueues().map((q) => [q.name, q]));
    expect(queues.get(queue)?.arguments).toMatchObject({ 'x-message-ttl': 600_000 });
    expect(queues.get(`${queue}.dlq`)?.arguments).toEqual({});
    await stopAll();
    // A dead-letter queue declared with other arguments (as older versions did) does not stop the listener.
    const other = unique('dlq-kept');
    await channel().assertQueue(`${other}.dlq`, { durable: true, arguments: { 'x-max-length': 1_000 } });
    const kept = failingRoute(other, () => true, new AmqpBackoff({ maxRetries: 0 }));
    await serve(unique('svc'), [kept.route]);
    await connection.publish('', other, Buffer.from('{"id":4}'));
    await waitFor(async () => (await channel().checkQueue(`${other}.dlq`)).messageCount === 1, 'the dead letter in the kept queue');
    await channel().deleteQueue(`${other}.dlq`);
  });
});

describe('hand-backs on a quorum queue', () => {
  it('count per message although RabbitMQ raises x-delivery-count on each: past the limit, the dead letter', async () => {
    const queue = unique('quorum');
    class Refused extends AmqpBackoff {
      override async retry(): Promise<null> {
        throw new Error('retry refused');
      }
    }
    const { calls, route } = failingRoute(queue, () => true, new Refused({ maxRetries: 3 }), { 'x-queue-type': 'quorum', 'x-expires': 600_000 });
    await serve(unique('svc'), [route], { giveBack: { delayMs: 50, limit: 2 } });
    await connection.publish('', queue, Buffer.from('{"id":5}'));
    let dead: GetMessage[] = [];
    await waitFor(async () => (dead = await getAll(`${queue}.dlq`)).length === 1, 'the dead letter');
    expect(dead[0]!.properties.headers?.[DeadLetterHeader.reason]).toBe('give-back-limit');
    expect(calls).toHaveLength(3);
    expect(calls.map((call) => call.meta.headers['x-delivery-count'])).toEqual([undefined, '1', '2']);
  });
});

describe('publishing when RabbitMQ refuses', () => {
  it('a publish refused with a channel error (no such exchange) fails alone: the next one goes through', async () => {
    const queue = unique('after-refusal');
    await channel().assertQueue(queue, { durable: false, arguments: { 'x-expires': 60_000 } });
    const refused = await connection.publish(unique('no-such-exchange'), 'key', Buffer.from('{}')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PublishError);
    await connection.publish('', queue, Buffer.from('{"after":true}'));
    expect((await channel().checkQueue(queue)).messageCount).toBe(1);
    await channel().deleteQueue(queue);
  });
});

describe('publishing under a resource alarm', () => {
  // The alarm is raised on the machine's broker for a second or two; whatever happens, lower it again.
  const raiseAlarm = (): void => void execFileSync('rabbitmqctl', ['set_vm_memory_high_watermark', 'absolute', '1'], { stdio: 'ignore' });
  const clearAlarm = (): void => void execFileSync('rabbitmqctl', ['set_vm_memory_high_watermark', '0.4'], { stdio: 'ignore' });
  afterAll(clearAlarm);

  it('reports a connection RabbitMQ blocks, within publishTimeoutMs, and publishes again once unblocked', async () => {
    const blocked = new AmqpConnection({ url, publishTimeoutMs: 1_500 });
    await blocked.setup();
    const queue = unique('alarm');
    await channel().assertQueue(queue, { durable: false, autoDelete: false, arguments: { 'x-expires': 60_000 } });
    await blocked.publish('', queue, Buffer.from('{"before":true}'));
    raiseAlarm();
    try {
      const began = Date.now();
      const error = await blocked.publish('', queue, Buffer.from('{"during":true}')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PublishError);
      expect((error as PublishError).reason).toBe('timeout');
      expect((error as Error).message).toMatch(/blocks the connection/);
      expect(Date.now() - began).toBeLessThan(5_000);
    } finally {
      clearAlarm();
    }
    await waitFor(() => blocked.blockedReason === undefined, 'the connection to be unblocked');
    await blocked.publish('', queue, Buffer.from('{"after":true}'));
    await blocked.stop();
    await channel().deleteQueue(queue);
  });
});
