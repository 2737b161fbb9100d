import { Route, Runner, workerTarget, type WorkerMode } from '@micro-framework/core';
import { attemptCounter, cpuBoundTarget, waitFor, type AttemptCounter } from '@micro-framework/conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { AmqpConnection, AmqpEventListener, AmqpRpcClient, AmqpRpcListener, eventExchangeName } from '../src/index.ts';
import { unique, url } from './helpers.ts';

// Issue #14 on RabbitMQ: a target that burns the CPU for 5 s, while the connection's heartbeat is
// 1 s (RabbitMQ closes a connection that misses two). In thread and process mode the burn runs
// elsewhere: no connection drop, the message is acked once, and an RPC target of the same service
// keeps answering. In async mode (the default) the same route stalls the service: RabbitMQ drops
// the connection and the message comes back, which is why the other modes exist.
const burnMs = 5_000;
const fixtures = cpuBoundTarget;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function startService(mode: WorkerMode): Promise<{ service: string; source: string; seen: AttemptCounter; listener: AmqpEventListener; runner: Runner }> {
  const service = unique(`cpu-${mode}`);
  const source = unique('uploads');
  const seen = attemptCounter((event) => event.route.endsWith('.burn'));
  const listener = new AmqpEventListener({ sourceService: source, eventName: 'render', queueArguments: { 'x-expires': 600_000 }, deadLetterQueueArguments: { 'x-expires': 600_000 } });
  const runner = new Runner({
    config: { serviceName: service, amqp: { url, heartbeatSeconds: 1 } },
    observers: [seen],
    contexts: [
      { config: { workerMode: mode, maxWorkers: 1 }, routes: [new Route({ target: workerTarget(fixtures, 'burn'), entrypoint: listener })] },
      { routes: [new Route({ target: function ping() { return 'pong'; }, entrypoint: new AmqpRpcListener({ name: 'ping' }) })] },
    ],
  });
  await runner.start();
  cleanups.push(() => runner.stop({ timeoutMs: burnMs + 2_000 }));
  return { service, source, seen, listener, runner };
}

/** Asks for one burn; with `once`, the message burns only on its first delivery (see the fixture). */
async function publishBurn(source: string, once = false): Promise<void> {
  const outside = new AmqpConnection({ url });
  await outside.setup();
  try {
    await outside.publish(eventExchangeName(source), 'render', new TextEncoder().encode(JSON.stringify({ ms: burnMs, once })), { mandatory: true });
  } finally {
    await outside.stop();
  }
}

describe.each(['thread', 'process'] as const)('workerMode %s on RabbitMQ with a 1 s heartbeat', (mode) => {
  it('a 5 s CPU-bound call neither drops the connection nor stops an RPC target of the same service', async () => {
    const { service, source, seen, listener, runner } = await startService(mode);
    const client = new AmqpRpcClient({ amqp: { url } });
    cleanups.push(() => client.close());
    await expect(client.call(service, 'ping', [], { timeoutMs: 5_000 })).resolves.toBe('pong');

    await publishBurn(source);
    await waitFor(() => seen.begun === 1, 'the burn to start', 10_000);
    const answers: string[] = [];
    while (seen.ended === 0) answers.push(await client.call(service, 'ping', [], { timeoutMs: 1_000 }).then(String, (error: Error) => error.name));
    // Pinged all along the burn, every call answered.
    expect(answers.length).toBeGreaterThan(10);
    expect(new Set(answers)).toEqual(new Set(['pong']));
    expect(seen.connectionsLost, 'the connection was never lost').toBe(0);

    // Acked once: after a stop (an unacked message would go back to the queue) the queue is empty.
    await runner.stop({ timeoutMs: 5_000 });
    const probe = new AmqpConnection({ url });
    await probe.setup();
    cleanups.push(() => probe.stop());
    const channel = await probe.channel();
    expect((await channel.checkQueue(listener.queueName)).messageCount).toBe(0);
    expect(seen.begun).toBe(1);
  }, 60_000);
});

describe('workerMode async on RabbitMQ with a 1 s heartbeat (why the other modes exist)', () => {
  it('a 5 s CPU-bound call stalls the service: RabbitMQ drops the connection and the message comes back', async () => {
    const { source, seen } = await startService('async');
    // Burns once: the redelivered message then finishes, and the service can stop.
    await publishBurn(source, true);
    await waitFor(() => seen.connectionsLost >= 1, 'the connection to drop', 30_000);
    await waitFor(() => seen.begun >= 2, 'the unacked message to come back', 30_000);
  }, 90_000);
});
