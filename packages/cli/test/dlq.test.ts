import { randomUUID } from 'node:crypto';
import { BackoffContext, Route, Runner, inject, type Entrypoint, type RetryState } from '@micro-framework/core';
import { waitFor } from '@micro-framework/conformance';
import { AmqpEventListener, AmqpPublisher } from '@micro-framework/amqp';
import { KafkaPublisher, TopicListener } from '@micro-framework/kafka';
import { JetStreamListener, NatsPublisher, SubjectListener } from '@micro-framework/nats';
import { afterEach, describe, expect, it } from 'vitest';
import { cli } from './cli.ts';

const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
const runners: Runner[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 5_000 })));
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface DlqCase {
  readonly broker: 'amqp' | 'nats' | 'kafka';
  readonly config: Record<string, unknown>;
  listener(name: string): Entrypoint;
  /** The dead-letter destination of a started listener, as `routes` names it. */
  destination(names: Record<string, unknown>): string;
  publish(name: string, payload: unknown): Promise<void>;
}

const amqpUrl = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const kafkaBrokers = [process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092'];

const cases: DlqCase[] = [
  {
    broker: 'amqp',
    config: { amqp: { url: amqpUrl } },
    listener: (name) => new AmqpEventListener({ sourceService: name, eventName: 'made' }),
    destination: (names) => String(names['deadLetterQueue']),
    async publish(name, payload) {
      const publisher = new AmqpPublisher({ sourceService: name, amqp: { url: amqpUrl } });
      await publisher.publish('made', payload);
      await publisher.close();
    },
  },
  {
    broker: 'nats',
    config: {},
    listener: (name) => new JetStreamListener({ stream: name.replace(/-/g, '_'), subjects: [`${name}.made`] }),
    destination: (names) => String(names['deadLetterStream']),
    async publish(name, payload) {
      const publisher = new NatsPublisher();
      await publisher.publish(`${name}.made`, payload);
      await publisher.close();
    },
  },
  {
    broker: 'kafka',
    config: { kafka: { brokers: kafkaBrokers, logLevel: 0 } },
    listener: (name) => new TopicListener({ topic: name }),
    destination: (names) => String(names['deadLetterTopic']),
    async publish(name, payload) {
      const publisher = new KafkaPublisher({ kafka: { brokers: kafkaBrokers, logLevel: 0 } });
      await publisher.publish(name, payload);
      await publisher.close();
    },
  },
];

describe.each(cases)('dlq on $broker', (broker) => {
  it('lists dead letters with reason, attempts, error and origin; refuses a purge without --yes; replays them with retry state reset; purges with --yes', async () => {
    const name = unique('dlq');
    let healthy = false;
    const seen: Array<{ payload: unknown; retry: RetryState }> = [];
    const handle = inject({ retry: new BackoffContext() }, function handleMade({ retry }, payload: { id: number }) {
      seen.push({ payload, retry });
      if (!healthy) throw new TypeError(`cannot handle ${payload.id}`);
    });
    const entrypoint = broker.listener(name);
    const runner = new Runner({ config: { serviceName: unique('svc'), ...broker.config }, contexts: [{ routes: [new Route({ target: handle, entrypoint })] }] });
    runners.push(runner);
    await runner.start();
    const destination = broker.destination(entrypoint.brokerNames());
    const flags = ['--broker', broker.broker, '--json'];
    await broker.publish(name, { id: 1 });
    const listed = async (): Promise<Array<Record<string, string>>> => {
      const run = await cli(['dlq', 'list', destination, ...flags]);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as Array<Record<string, string>>;
    };
    let entries: Array<Record<string, string>> = [];
    await waitFor(async () => (entries = await listed()).length === 1, 'the dead letter', 60_000);
    expect(entries[0]).toMatchObject({ reason: 'exhausted', attempts: '1', error: 'TypeError: cannot handle 1', body: '{"id":1}' });
    expect(entries[0]!['original']).not.toBe('?');
    expect(await listed(), 'list leaves the dead letters where they are').toHaveLength(1);

    const refused = await cli(['dlq', 'purge', destination, '--broker', broker.broker]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('add --yes');
    expect(await listed()).toHaveLength(1);

    healthy = true;
    const replayed = await cli(['dlq', 'replay', destination, ...flags]);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(JSON.parse(replayed.stdout)).toEqual({ replayed: 1 });
    await waitFor(() => seen.length === 2, 'the replayed message', 60_000);
    expect(seen[1]).toMatchObject({ payload: { id: 1 }, retry: { retryCount: 0 } });
    expect(await listed(), 'replayed messages leave the dead letters').toHaveLength(0);

    healthy = false;
    await broker.publish(name, { id: 2 });
    await waitFor(async () => (await listed()).length === 1, 'a second dead letter', 60_000);
    const purged = await cli(['dlq', 'purge', destination, ...flags, '--yes']);
    expect(purged.code, purged.stderr).toBe(0);
    expect(JSON.parse(purged.stdout)).toEqual({ purged: 1 });
    expect(await listed()).toHaveLength(0);
  }, 180_000);
});

describe('dlq replay on amqp when the original queue is gone', () => {
  it('fails (exit 1) and leaves the message in the dead letters', async () => {
    const name = unique('dlq-gone');
    function handleGone(): never {
      throw new Error('always');
    }
    const entrypoint = new AmqpEventListener({ sourceService: name, eventName: 'made' });
    const runner = new Runner({ config: { serviceName: unique('svc'), amqp: { url: amqpUrl } }, contexts: [{ routes: [new Route({ target: handleGone, entrypoint })] }] });
    await runner.start();
    const { queue, deadLetterQueue } = entrypoint.brokerNames() as { queue: string; deadLetterQueue: string };
    await cases[0]!.publish(name, { id: 3 });
    const count = async (): Promise<number> => (JSON.parse((await cli(['dlq', 'list', deadLetterQueue, '--broker', 'amqp', '--json'])).stdout) as unknown[]).length;
    await waitFor(async () => (await count()) === 1, 'the dead letter', 60_000);
    await runner.stop({ timeoutMs: 5_000 });
    const { AmqpConnection } = await import('@micro-framework/amqp');
    const connection = new AmqpConnection({ url: amqpUrl });
    await connection.setup();
    const channel = await connection.channel();
    await channel.deleteQueue(queue);
    await channel.close();
    await connection.stop();
    const replay = await cli(['dlq', 'replay', deadLetterQueue, '--broker', 'amqp']);
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain('dlq replay failed: PublishError');
    expect(replay.stdout).toContain('0 replayed');
    expect(await count()).toBe(1);
  }, 120_000);
});

describe('dlq replay of messages that fail again', () => {
  it.each(cases)('replays each dead letter once per run on $broker, never the copies it dead-letters again', async (broker) => {
    const name = unique('dlq-again');
    let calls = 0;
    function handleAgain(): never {
      calls += 1;
      throw new Error('still broken');
    }
    const entrypoint = broker.listener(name);
    const runner = new Runner({ config: { serviceName: unique('svc'), ...broker.config }, contexts: [{ routes: [new Route({ target: handleAgain, entrypoint })] }] });
    runners.push(runner);
    await runner.start();
    const destination = broker.destination(entrypoint.brokerNames());
    for (const id of [1, 2]) await broker.publish(name, { id });
    const listed = async (): Promise<number> => (JSON.parse((await cli(['dlq', 'list', destination, '--broker', broker.broker, '--json'])).stdout) as unknown[]).length;
    await waitFor(async () => (await listed()) === 2, 'two dead letters', 60_000);
    const replay = await cli(['dlq', 'replay', destination, '--broker', broker.broker, '--json']);
    expect(JSON.parse(replay.stdout)).toEqual({ replayed: 2 });
    await waitFor(() => calls === 4, 'both replayed messages to fail again', 60_000);
    await waitFor(async () => (await listed()) === 2, 'both back in the dead letters', 60_000);
  }, 120_000);
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
    const runner = new Runner({ config: { serviceName: unique('svc') }, contexts: [{ routes: [new Route({ target: handleCore, entrypoint: new SubjectListener({ subject, deadLetterStream }) })] }] });
    runners.push(runner);
    await runner.start();
    const publisher = new NatsPublisher();
    closers.push(() => publisher.close());
    await publisher.publishCore(subject, { id: 5 });
    const listed = async (): Promise<number> => (JSON.parse((await cli(['dlq', 'list', deadLetterStream, '--broker', 'nats', '--json'])).stdout) as unknown[]).length;
    await waitFor(async () => (await listed()) === 1, 'the dead letter', 60_000);
    const refused = await cli(['dlq', 'replay', deadLetterStream, '--broker', 'nats']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('add --core');
    expect(await listed()).toBe(1);
    healthy = true;
    const replayed = await cli(['dlq', 'replay', deadLetterStream, '--broker', 'nats', '--core', '--json']);
    expect(JSON.parse(replayed.stdout)).toEqual({ replayed: 1 });
    await waitFor(() => seen.length === 2, 'the replayed message', 30_000);
    expect(await listed()).toBe(0);
  }, 120_000);
});

describe('dlq', () => {
  it('names a destination that does not exist (exit 2)', async () => {
    const missing = await cli(['dlq', 'list', unique('nothing'), '--broker', 'amqp']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('RabbitMQ has no queue');
  });
});
