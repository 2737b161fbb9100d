import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { BackoffContext, MetaDependency, Route, Runner, inject, type Backoff, type Entrypoint, type Headers, type RetryState } from '@micro-framework/core';
import { waitFor } from '@micro-framework/conformance';
import { AmqpBackoff, AmqpConnection, AmqpEventListener, AmqpPublisher } from '@micro-framework/amqp';
import { KafkaBackoff, KafkaPublisher, TopicListener } from '@micro-framework/kafka';
import { JetStreamListener, NatsBackoff, NatsPublisher, SubjectListener } from '@micro-framework/nats';
import { afterEach, describe, expect, it } from 'vitest';
import { cli } from './cli.ts';

const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const runners: Runner[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 5_000 })));
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface DlqCase {
  readonly broker: 'amqp' | 'nats' | 'kafka';
  readonly config: Record<string, unknown>;
  /** The listener of events `<name>.made` (the same as test/fixtures/dlq-service.mjs builds). */
  listener(name: string): Entrypoint;
  /** A backoff whose retries wait on the broker, so the retry state travels in the headers. */
  backoff(): Backoff;
  /** The dead-letter destination of a started listener, as `routes` names it. */
  destination(names: Record<string, unknown>): string;
  publish(name: string, payload: unknown, headers?: Headers): Promise<void>;
  /** Whether a replay reaches every consumer of the original destination (JetStream cannot address one consumer). */
  readonly replayReachesEveryConsumer: boolean;
}

const amqpUrl = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const kafkaBrokers = [process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092'];

const cases: DlqCase[] = [
  {
    broker: 'amqp',
    config: { amqp: { url: amqpUrl } },
    listener: (name) => new AmqpEventListener({ sourceService: name, eventName: 'made' }),
    backoff: () => new AmqpBackoff({ maxRetries: 1, interval: 100 }),
    destination: (names) => String(names['deadLetterQueue']),
    async publish(name, payload, headers) {
      const publisher = new AmqpPublisher({ sourceService: name, amqp: { url: amqpUrl } });
      await publisher.publish('made', payload, { headers });
      await publisher.close();
    },
    replayReachesEveryConsumer: false,
  },
  {
    broker: 'nats',
    config: {},
    listener: (name) => new JetStreamListener({ stream: name.replace(/-/g, '_'), subjects: [`${name}.made`] }),
    backoff: () => new NatsBackoff({ maxRetries: 1, interval: 100 }),
    destination: (names) => String(names['deadLetterStream']),
    async publish(name, payload, headers) {
      const publisher = new NatsPublisher();
      await publisher.publish(`${name}.made`, payload, { headers });
      await publisher.close();
    },
    replayReachesEveryConsumer: true,
  },
  {
    broker: 'kafka',
    config: { kafka: { brokers: kafkaBrokers, logLevel: 0 } },
    listener: (name) => new TopicListener({ topic: name }),
    backoff: () => new KafkaBackoff({ maxRetries: 1, interval: 100 }),
    destination: (names) => String(names['deadLetterTopic']),
    async publish(name, payload, headers) {
      const publisher = new KafkaPublisher({ kafka: { brokers: kafkaBrokers, logLevel: 0 } });
      await publisher.publish(name, payload, { headers });
      await publisher.close();
    },
    replayReachesEveryConsumer: false,
  },
];

async function started(runner: Runner): Promise<Runner> {
  runners.push(runner);
  await runner.start();
  return runner;
}

/** `dlq list <destination> --json` on `broker`: the entries, asserting exit 0. */
async function listed(broker: DlqCase['broker'], destination: string, more: readonly string[] = []): Promise<Array<Record<string, string>>> {
  const run = await cli(['dlq', 'list', destination, '--broker', broker, '--json', ...more]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Array<Record<string, string>>;
}

describe.each(cases)('dlq on $broker', (broker) => {
  it('lists dead letters with reason, attempts, error and origin; refuses a purge without --yes; replays them to the route with retry state reset; purges with --yes', async () => {
    const name = unique('dlq');
    const service = unique('svc');
    let healthy = false;
    const seen: Array<{ payload: { id: number }; retry: RetryState; headers: Headers }> = [];
    const handle = inject({ retry: new BackoffContext(), meta: new MetaDependency() }, function handleMade({ retry, meta }, payload: { id: number }) {
      seen.push({ payload, retry, headers: meta.headers });
      if (!healthy && payload.id !== 99) throw new TypeError(`cannot handle ${payload.id}`);
    });
    const entrypoint = broker.listener(name);
    await started(new Runner({ config: { serviceName: service, ...broker.config }, contexts: [{ routes: [new Route({ target: handle, entrypoint, backoff: broker.backoff() })] }] }));
    // Another service consuming the same events, never failing.
    const bystander: number[] = [];
    function handleAlso(payload: { id: number }): void {
      bystander.push(payload.id);
    }
    await started(new Runner({ config: { serviceName: unique('other'), ...broker.config }, contexts: [{ routes: [new Route({ target: handleAlso, entrypoint: broker.listener(name) })] }] }));
    const destination = broker.destination(entrypoint.brokerNames());
    await broker.publish(name, { id: 1 }, { trace: 't-1' });

    let entries: Array<Record<string, string>> = [];
    await waitFor(async () => (entries = await listed(broker.broker, destination)).length === 1, 'the dead letter', 60_000);
    expect(entries[0]).toMatchObject({ reason: 'exhausted', attempts: '2', error: 'TypeError: cannot handle 1', body: '{"id":1}' });
    expect(entries[0]!['original']).not.toBe('?');
    expect(seen.map(({ retry }) => retry.retryCount)).toEqual([0, 1]);
    expect(await listed(broker.broker, destination), 'list leaves the dead letters where they are').toHaveLength(1);
    const text = await cli(['dlq', 'list', destination, '--broker', broker.broker]);
    expect(text.stdout).toContain(`1 dead letter(s) in ${destination}`);
    expect(text.stdout).toContain('reason=exhausted  attempts=2');
    expect(text.stdout).toContain('error: TypeError: cannot handle 1');
    const derived = await cli(['dlq', 'list', '--module', fixture('dlq-service.mjs'), '--route', 'handleMade', '--broker', broker.broker, '--json'], {
      env: { FIXTURE_BROKER: broker.broker, FIXTURE_NAME: name, FIXTURE_SERVICE: service },
    });
    expect(derived.code, derived.stderr).toBe(0);
    expect(JSON.parse(derived.stdout), '--module and --route name the same dead letters').toEqual(entries);

    const refused = await cli(['dlq', 'purge', destination, '--broker', broker.broker]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('add --yes');
    expect(await listed(broker.broker, destination)).toHaveLength(1);

    healthy = true;
    const replayed = await cli(['dlq', 'replay', destination, '--broker', broker.broker, '--json']);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(JSON.parse(replayed.stdout)).toEqual({ replayed: 1 });
    await waitFor(() => seen.length === 3, 'the replayed message', 60_000);
    const again = seen[2]!;
    expect(again.payload).toEqual({ id: 1 });
    expect(again.retry.retryCount, 'a replay is a first attempt').toBe(0);
    expect(again.headers['trace'], 'the message keeps its own headers').toBe('t-1');
    expect(Object.keys(again.headers).filter((header) => /^x-(dead-letter|attempts|error|retry|first|last)/.test(header)), 'no dead-letter or retry header').toEqual([]);
    expect(await listed(broker.broker, destination), 'replayed messages leave the dead letters').toHaveLength(0);

    // Ordered after the replay on the bystander's queue, consumer or partition.
    await broker.publish(name, { id: 99 });
    await waitFor(() => bystander.includes(99) && seen.some(({ payload }) => payload.id === 99), 'the next event', 60_000);
    if (broker.replayReachesEveryConsumer) await waitFor(() => bystander.length === 3, 'the replay on the bystander too', 60_000);
    expect(bystander.sort((a, b) => a - b), 'who else sees a replay').toEqual(broker.replayReachesEveryConsumer ? [1, 1, 99] : [1, 99]);

    healthy = false;
    await broker.publish(name, { id: 2 });
    await waitFor(async () => (await listed(broker.broker, destination)).length === 1, 'a second dead letter', 60_000);
    const purged = await cli(['dlq', 'purge', destination, '--broker', broker.broker, '--json', '--yes']);
    expect(purged.code, purged.stderr).toBe(0);
    expect(JSON.parse(purged.stdout)).toEqual({ purged: 1 });
    expect(await listed(broker.broker, destination)).toHaveLength(0);
  }, 240_000);
});

describe('dlq replay on amqp when the original queue is gone', () => {
  it('fails (exit 1) and leaves the message in the dead letters', async () => {
    const name = unique('dlq-gone');
    function handleGone(): never {
      throw new Error('always');
    }
    const entrypoint = new AmqpEventListener({ sourceService: name, eventName: 'made' });
    const runner = new Runner({ config: { serviceName: unique('svc'), amqp: { url: amqpUrl } }, contexts: [{ routes: [new Route({ target: handleGone, entrypoint })] }] });
    await started(runner);
    const { queue, deadLetterQueue } = entrypoint.brokerNames() as { queue: string; deadLetterQueue: string };
    await cases[0]!.publish(name, { id: 3 });
    await waitFor(async () => (await listed('amqp', deadLetterQueue)).length === 1, 'the dead letter', 60_000);
    await runner.stop({ timeoutMs: 5_000 });
    const connection = new AmqpConnection({ url: amqpUrl });
    await connection.setup();
    const channel = await connection.channel();
    await channel.deleteQueue(queue);
    await channel.close();
    await connection.stop();
    const replay = await cli(['dlq', 'replay', deadLetterQueue, '--broker', 'amqp']);
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain('dlq replay failed: PublishError');
    expect(replay.stderr).toContain(`0 replayed from ${deadLetterQueue} before the failure; the rest are still there`);
    expect(await listed('amqp', deadLetterQueue)).toHaveLength(1);
  }, 120_000);
});

describe('dlq replay of messages that fail again', () => {
  it.each(cases)('replays each dead letter once per run on $broker, never the copies it dead-letters again; --limit bounds list and replay', async (broker) => {
    const name = unique('dlq-again');
    let calls = 0;
    function handleAgain(): never {
      calls += 1;
      throw new Error('still broken');
    }
    const entrypoint = broker.listener(name);
    // One call at a time: the dead letters are stored in publish order (with more, in completion order).
    await started(new Runner({ config: { serviceName: unique('svc'), maxWorkers: 1, ...broker.config }, contexts: [{ routes: [new Route({ target: handleAgain, entrypoint })] }] }));
    const destination = broker.destination(entrypoint.brokerNames());
    for (const id of [1, 2, 3]) await broker.publish(name, { id });
    await waitFor(async () => (await listed(broker.broker, destination)).length === 3, 'three dead letters', 60_000);
    expect((await listed(broker.broker, destination, ['--limit', '2'])).map((entry) => entry.body)).toEqual(['{"id":1}', '{"id":2}']);
    const first = await cli(['dlq', 'replay', destination, '--broker', broker.broker, '--json', '--limit', '1']);
    expect(JSON.parse(first.stdout)).toEqual({ replayed: 1 });
    await waitFor(() => calls === 4, 'the replayed message to fail again', 60_000);
    await waitFor(async () => (await listed(broker.broker, destination)).map((entry) => entry.body).join() === '{"id":2},{"id":3},{"id":1}', 'the first one back at the end', 60_000);
    const rest = await cli(['dlq', 'replay', destination, '--broker', broker.broker, '--json']);
    expect(JSON.parse(rest.stdout)).toEqual({ replayed: 3 });
    await waitFor(() => calls === 7, 'the replayed messages to fail again', 60_000);
    await waitFor(async () => (await listed(broker.broker, destination)).length === 3, 'all three back in the dead letters', 60_000);
  }, 180_000);
});

describe('dlq replay on core NATS', () => {
  it('refuses to replay to a subject no stream captures unless --core, and keeps the message', async () => {
    const subject = unique('core-subject');
    const deadLetterStream = unique('CORE_DL').replace(/-/g, '_');
    let healthy = false;
    const seen: unknown[] = [];
    function handleCore(payload: unknown): void {
      seen.push(payload);
      if (!healthy) throw new Error('not yet');
    }
    await started(new Runner({ config: { serviceName: unique('svc') }, contexts: [{ routes: [new Route({ target: handleCore, entrypoint: new SubjectListener({ subject, deadLetterStream }) })] }] }));
    const publisher = new NatsPublisher();
    closers.push(() => publisher.close());
    await publisher.publishCore(subject, { id: 5 });
    await waitFor(async () => (await listed('nats', deadLetterStream)).length === 1, 'the dead letter', 60_000);
    const refused = await cli(['dlq', 'replay', deadLetterStream, '--broker', 'nats']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('add --core');
    expect(await listed('nats', deadLetterStream)).toHaveLength(1);
    healthy = true;
    const replayed = await cli(['dlq', 'replay', deadLetterStream, '--broker', 'nats', '--core', '--json']);
    expect(JSON.parse(replayed.stdout)).toEqual({ replayed: 1 });
    await waitFor(() => seen.length === 2, 'the replayed message', 30_000);
    expect(await listed('nats', deadLetterStream)).toHaveLength(0);
  }, 120_000);
});

describe('dlq naming mistakes and broker failures', () => {
  it.each([
    ['amqp', 'RabbitMQ has no queue'],
    ['nats', 'JetStream has no stream'],
    ['kafka', 'Kafka has no topic'],
  ])('on %s: a destination that does not exist is a usage error (exit 2)', async (broker, message) => {
    const missing = await cli(['dlq', 'list', unique('nothing'), '--broker', broker]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(message);
  });

  it('a route that does not exist, or has no dead letters on that broker, is a usage error (exit 2)', async () => {
    const env = { FIXTURE_BROKER: 'amqp', FIXTURE_NAME: 'shop', FIXTURE_SERVICE: 'billing' };
    const noRoute = await cli(['dlq', 'list', '--module', fixture('dlq-service.mjs'), '--route', 'handleNothing', '--broker', 'amqp'], { env });
    expect(noRoute.code).toBe(2);
    expect(noRoute.stderr).toContain('has no route named handleNothing');
    const otherBroker = await cli(['dlq', 'list', '--module', fixture('dlq-service.mjs'), '--route', 'handleMade', '--broker', 'kafka'], { env });
    expect(otherBroker.code).toBe(2);
    expect(otherBroker.stderr).toContain('route Route.handleMade (AmqpEventListener) has no dead letters on --broker kafka');
    const both = await cli(['dlq', 'list', 'x.dlq', '--module', fixture('dlq-service.mjs'), '--route', 'handleMade', '--broker', 'amqp'], { env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
  });

  it.each([
    ['amqp', 'amqp://guest:guest@127.0.0.1:1'],
    ['nats', 'nats://127.0.0.1:1'],
    ['kafka', '127.0.0.1:1'],
  ])('on %s: a broker that does not answer fails with its reason (exit 1), no stack trace', async (broker, url) => {
    const failed = await cli(['dlq', 'list', 'anything', '--broker', broker, '--url', url]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^dlq list failed: \w+: .+/);
    expect(failed.stderr).not.toMatch(/^\s+at /m);
  }, 60_000);
});
