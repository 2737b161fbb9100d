import { execFileSync } from 'node:child_process';
import { Route, type Runner } from '@micro-framework/core';
import { recordingObserver, staysQuiet, waitFor, type RecordedEvent } from '@micro-framework/conformance';
import { describe, expect, it } from 'vitest';
import { AmqpQueueListener, AmqpRpcClient, AmqpRpcListener, rpcTargetQueueName } from '../src/index.ts';
import { rabbit, unique, url } from './helpers.ts';

// What the adapter does when RabbitMQ ends a consumer on its own: an operator deletes the queue
// (basic.cancel), or the broker closes the consuming channel. The consumer is lost, reported and set
// up again; a cancel of our own (a stop) is no loss.
const { channel, serve } = rabbit();

const named = (events: readonly RecordedEvent[], name: RecordedEvent['name']): Array<Record<string, unknown>> =>
  events.filter((recorded) => recorded.name === name).map((recorded) => recorded.event);

/** A service with one route on `listener` whose target records its payloads; its observer records its events. */
async function recordingService(listener: AmqpQueueListener): Promise<{ runner: Runner; calls: unknown[]; events: RecordedEvent[] }> {
  const calls: unknown[] = [];
  const { observer, events } = recordingObserver();
  const route = new Route({ target: function handle(payload: unknown) { calls.push(payload); }, entrypoint: listener });
  const runner = await serve(unique('svc'), [route], {}, [observer]);
  return { runner, calls, events };
}

describe('a consumer RabbitMQ cancels (its queue was deleted)', () => {
  it('is reported lost and not ready, then its topology is declared again, it consumes again and a message published after reaches the route', async () => {
    const queue = unique('cancelled');
    const exchange = unique('cancelled-x');
    const listener = new AmqpQueueListener({ queueName: queue, exchange, routingKey: 'order.*' });
    const { calls, events } = await recordingService(listener);
    expect(listener.readiness()).toBeUndefined();

    // An operator deletes the queue and its dead-letter queue: RabbitMQ cancels the consumer.
    await channel().deleteQueue(queue);
    await channel().deleteQueue(`${queue}.dlq`);
    await waitFor(
      () => (listener.readiness() ?? '').includes('cancelled by the broker') && named(events, 'consumerCrashed').length === 1,
      'not ready, with the reason, and consumerCrashed',
    );
    expect(named(events, 'consumerCrashed')[0]).toMatchObject({ consumer: queue });
    await waitFor(() => listener.readiness() === undefined && named(events, 'consumerReplaced').length === 1, 'ready again and consumerReplaced');
    expect(named(events, 'consumerReplaced')[0]).toMatchObject({ consumer: queue });

    // The queue, its binding and its dead-letter queue are back, and one consumer takes the queue.
    expect((await channel().checkQueue(queue)).consumerCount).toBe(1);
    await channel().checkQueue(`${queue}.dlq`);
    channel().publish(exchange, 'order.created', Buffer.from('{"id":1}'), { persistent: true });
    await waitFor(() => calls.length === 1, 'the message published after the cancel to reach the route');
    expect(calls).toEqual([{ id: 1 }]);
    expect(named(events, 'consumerCrashed')).toHaveLength(1);
  });

  it('a stop during the pending restart leaves no consumer: the queue is not consumed again', async () => {
    const queue = unique('cancelled-stop');
    const listener = new AmqpQueueListener({ queueName: queue });
    const { runner, events } = await recordingService(listener);
    await channel().deleteQueue(queue);
    await waitFor(() => named(events, 'consumerCrashed').length === 1, 'consumerCrashed');
    await runner.stop({ timeoutMs: 2_000 });
    expect(await staysQuiet(() => named(events, 'consumerReplaced').length > 0, 1_500)).toBe(true);
    // Nothing consumes the queue (declared again here, by the test).
    const { consumerCount } = await channel().assertQueue(queue, { durable: true });
    expect(consumerCount).toBe(0);
    await channel().deleteQueue(queue);
  });

  it('a cancel of our own (stopping the service) is no loss: no consumerCrashed, no restart', async () => {
    const queue = unique('own-cancel');
    const listener = new AmqpQueueListener({ queueName: queue });
    const { runner, events } = await recordingService(listener);
    await listener.stopIntake();
    await runner.stop({ timeoutMs: 2_000 });
    expect(await staysQuiet(() => named(events, 'consumerCrashed').length > 0 || named(events, 'consumerReplaced').length > 0, 1_000)).toBe(true);
    expect((await channel().checkQueue(queue)).consumerCount).toBe(0);
    await channel().deleteQueue(queue);
  });
});

describe('a consuming channel RabbitMQ closes (a delivery not acked within consumer_timeout)', () => {
  it('is reported lost, then consumed again on a new channel: the unacked message comes back and a later one reaches the route', async () => {
    const before = brokerEnv(['consumer_timeout', 'channel_tick_interval']);
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const calls: unknown[] = [];
    const { observer, events } = recordingObserver();
    const queue = unique('channel-closed');
    const listener = new AmqpQueueListener({ queueName: queue });
    try {
      // Channels opened from now on close when a delivery stays unacked for 1 s.
      setBrokerEnv({ consumer_timeout: 1_000, channel_tick_interval: 200 });
      const route = new Route({
        target: async function handle(payload: unknown) {
          calls.push(payload);
          if (calls.length === 1) await blocked;
        },
        entrypoint: listener,
      });
      await serve(unique('svc'), [route], {}, [observer]);
      channel().sendToQueue(queue, Buffer.from('{"id":1}'), { persistent: true });
      await waitFor(() => named(events, 'consumerCrashed').length === 1 && listener.readiness() !== undefined, 'consumerCrashed and not ready', 10_000);
      expect(listener.readiness()).toContain('closed by the broker');
      release();
    } finally {
      release();
      setBrokerEnv(before);
    }
    await waitFor(() => listener.readiness() === undefined && named(events, 'consumerReplaced').length === 1, 'ready again and consumerReplaced');
    // The message whose delivery timed out is delivered again, then a new one.
    await waitFor(() => calls.length === 2, 'the redelivery');
    channel().sendToQueue(queue, Buffer.from('{"id":2}'), { persistent: true });
    await waitFor(() => calls.length === 3, 'the message published after');
    expect(calls).toEqual([{ id: 1 }, { id: 1 }, { id: 2 }]);
  });
});

describe('RPC consumers RabbitMQ cancels', () => {
  it("an RPC listener's request queue deleted: not ready and consumerCrashed, then ready again and calls are answered", async () => {
    const service = unique('calc');
    const listener = new AmqpRpcListener();
    const { observer, events } = recordingObserver();
    await serve(service, [new Route({ target: function add(a: number, b: number) { return a + b; }, entrypoint: listener })], {}, [observer]);
    const client = new AmqpRpcClient({ amqp: { url } });
    try {
      expect(await client.call(service, 'add', [1, 2])).toBe(3);
      await channel().deleteQueue(rpcTargetQueueName(service, 'add'));
      await waitFor(
        () => (listener.readiness() ?? '').includes('cancelled by the broker') && named(events, 'consumerCrashed').length === 1,
        'not ready, with the reason, and consumerCrashed',
      );
      await waitFor(() => listener.readiness() === undefined && named(events, 'consumerReplaced').length === 1, 'ready again and consumerReplaced');
      expect(await client.call(service, 'add', [2, 3], { timeoutMs: 5_000 })).toBe(5);
    } finally {
      await client.close();
    }
  });

  it("an RPC client's reply queue deleted: a waiting call fails at once with ReplyQueueLost, and later calls get their replies", async () => {
    const service = unique('slow');
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    async function wait(): Promise<string> {
      started += 1;
      if (started === 1) await held;
      return 'done';
    }
    await serve(service, [new Route({ target: wait, entrypoint: new AmqpRpcListener() })]);
    const client = new AmqpRpcClient({ amqp: { url } });
    try {
      const waiting = client.call(service, 'wait', [], { timeoutMs: 30_000 }).then(
        () => 'answered',
        (error: unknown) => error,
      );
      await waitFor(() => started === 1, 'the call to run');
      const since = performance.now();
      // An operator deletes the exclusive reply queue (only the broker's CLI may).
      execFileSync('rabbitmqctl', ['delete_queue', client.replyQueue, '-q']);
      const outcome = await waiting;
      expect(outcome).toMatchObject({ name: 'ReplyQueueLost' });
      expect(performance.now() - since).toBeLessThan(10_000);
      release();
      expect(await client.call(service, 'wait', [], { timeoutMs: 10_000 })).toBe('done');
    } finally {
      release();
      await client.close();
    }
  });
});

/** The broker's current values of rabbit application settings (undefined: not set). */
function brokerEnv(names: readonly string[]): Record<string, number | undefined> {
  const out = execFileSync('rabbitmqctl', ['eval', `[application:get_env(rabbit, ${names.join('), application:get_env(rabbit, ')})].`, '-q'], { encoding: 'utf8' });
  const values = [...out.matchAll(/\{ok,(\d+)\}|undefined/g)].map((match) => (match[1] === undefined ? undefined : Number(match[1])));
  if (values.length !== names.length) throw new Error(`could not read ${names.join(', ')} from ${out}`);
  return Object.fromEntries(names.map((name, index) => [name, values[index]]));
}

/** Sets (or, for undefined, unsets) rabbit application settings on the running broker. */
function setBrokerEnv(values: Record<string, number | undefined>): void {
  const calls = Object.entries(values).map(([name, value]) =>
    value === undefined ? `application:unset_env(rabbit, ${name})` : `application:set_env(rabbit, ${name}, ${value})`,
  );
  execFileSync('rabbitmqctl', ['eval', `${calls.join(', ')}, ok.`, '-q']);
}
