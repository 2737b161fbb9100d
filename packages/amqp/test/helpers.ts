import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Runner, type Route, type ServiceObserver } from '@micro-framework/core';
import type { Channel } from 'amqplib';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { AmqpConnection } from '../src/index.ts';

/** The machine's RabbitMQ. */
export const url = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

export const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;

/** Starts services on the machine's RabbitMQ and stops them all at `stopAll()`. */
export function services(): {
  serve(serviceName: string, routes: Route[], config?: Record<string, unknown>, observers?: readonly ServiceObserver[]): Promise<Runner>;
  stopAll(): Promise<void>;
} {
  const runners: Runner[] = [];
  return {
    async serve(serviceName, routes, config = {}, observers = []) {
      const runner = new Runner({ config: { serviceName, amqp: { url }, ...config }, contexts: [{ routes }], observers });
      runners.push(runner);
      await runner.start();
      return runner;
    },
    async stopAll() {
      await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 2_000 })));
    },
  };
}

/** The broker's own view of its queues (rabbitmqctl lists arguments as [name, type, value]). */
export function listQueues(): Array<{ name: string; durable: boolean; arguments: Record<string, unknown> }> {
  const raw = JSON.parse(execFileSync('rabbitmqctl', ['list_queues', 'name', 'durable', 'arguments', '--formatter', 'json', '-q'], { encoding: 'utf8' })) as Array<{
    name: string;
    durable: boolean;
    arguments: Array<[string, string, unknown]>;
  }>;
  return raw.map((q) => ({ ...q, arguments: Object.fromEntries(q.arguments.map(([name, , value]) => [name, value])) }));
}

/**
 * A test file's view of the machine's RabbitMQ: a connection and a plain channel opened before the
 * tests and closed after them, and services stopped after each test.
 */
export function rabbit(): { connection: AmqpConnection; channel: () => Channel } & ReturnType<typeof services> {
  const connection = new AmqpConnection({ url });
  let channel: Channel | undefined;
  const started = services();
  beforeAll(async () => {
    await connection.setup();
    channel = await connection.channel();
  });
  afterEach(started.stopAll);
  afterAll(async () => {
    await channel?.close().catch(() => undefined);
    await connection.stop();
  });
  return { connection, channel: () => channel!, ...started };
}
