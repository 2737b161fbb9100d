import { TcpProxy, waitFor } from '@micro-framework/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpConnection, PublishError } from '../src/index.ts';
import { unique } from './helpers.ts';

// Publishes awaiting their confirm when the connection drops were mostly enqueued already: they fail
// as `closed` (a retry may duplicate), never as `nack` (which says RabbitMQ refused them).
const proxy = new TcpProxy({ host: '127.0.0.1', port: 5672 });
let url = '';

beforeAll(async () => {
  url = `amqp://guest:guest@127.0.0.1:${await proxy.start()}`;
});

afterAll(async () => {
  await proxy.close();
});

describe('publishes in flight when the connection drops', () => {
  it('reject with reason closed, not nack', async () => {
    const connection = new AmqpConnection({ url, publishTimeoutMs: 20_000 });
    const queue = unique('in-flight');
    try {
      await connection.setup();
      const channel = await connection.channel();
      await channel.assertQueue(queue, { autoDelete: false, arguments: { 'x-expires': 60_000 } });
      await channel.close();
      const body = new Uint8Array(8_192);
      const outcomes = Array.from({ length: 2_000 }, () => connection.publish('', queue, body).then(() => 'confirmed', (error: unknown) => error));
      proxy.cut();
      const settled = await Promise.all(outcomes);
      const failures = settled.filter((outcome): outcome is PublishError => outcome instanceof PublishError);
      expect(failures.length).toBeGreaterThan(0);
      expect(failures.filter((failure) => failure.reason === 'nack')).toEqual([]);
      expect(failures.some((failure) => failure.reason === 'closed')).toBe(true);
    } finally {
      proxy.restore();
      await waitFor(() => connection.isConnected, 'the connection to come back', 30_000).catch(() => undefined);
      const channel = await connection.channel().catch(() => undefined);
      await channel?.deleteQueue(queue).catch(() => undefined);
      await connection.stop();
    }
  }, 60_000);
});
