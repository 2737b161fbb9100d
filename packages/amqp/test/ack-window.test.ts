import { randomUUID } from 'node:crypto';
import amqplib, { type ConsumeMessage } from 'amqplib';
import { waitFor } from '@micro-framework/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpAckWindow } from '../src/ack-window.ts';

const url = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

describe('AmqpAckWindow on RabbitMQ', () => {
  let connection: amqplib.ChannelModel;
  beforeAll(async () => {
    connection = await amqplib.connect(url);
  });
  afterAll(async () => {
    await connection.close();
  });

  it('acks out-of-order completions with multiple acks and single acks, and leaves unfinished ones to be redelivered', async () => {
    const queue = `ack-window-${randomUUID()}`;
    const channel = await connection.createChannel();
    const errors: unknown[] = [];
    channel.on('error', (error) => errors.push(error));
    await channel.assertQueue(queue, { arguments: { 'x-expires': 60_000 } });
    for (let i = 1; i <= 6; i += 1) channel.sendToQueue(queue, Buffer.from(String(i)));
    await channel.prefetch(6);
    const window = new AmqpAckWindow(channel);
    const received: ConsumeMessage[] = [];
    await channel.consume(queue, (message) => {
      if (!message) return;
      window.delivered(message);
      received.push(message);
    });
    await waitFor(() => received.length === 6, 'six deliveries', 10_000);
    const [m1, m2, m3, m4, , m6] = received as [ConsumeMessage, ConsumeMessage, ConsumeMessage, ConsumeMessage, ConsumeMessage, ConsumeMessage];

    window.ack(m3);
    window.ack(m1);
    window.flush(); // multiple ack up to 1, single ack of 3
    window.settledElsewhere(m2);
    channel.reject(m2, false); // dropped: no dead-letter exchange on this queue
    window.ack(m4);
    window.flush(); // 2 and 3 are settled: multiple ack up to 4
    window.ack(m6);
    await new Promise((resolve) => setImmediate(resolve)); // the scheduled flush: 5 is open, single ack of 6
    // A round trip on the channel: RabbitMQ has processed the acks, and an unknown tag would have closed it.
    await channel.checkQueue(queue);
    expect(errors).toEqual([]);

    await channel.close(); // the unacked message 5 goes back to the queue
    const check = await connection.createChannel();
    const left = await check.get(queue, { noAck: true });
    expect(left && left.content.toString()).toBe('5');
    expect(await check.get(queue, { noAck: true })).toBe(false);
    await check.deleteQueue(queue);
    await check.close();
  });

  it('drops its acks without throwing once the channel is closed (RabbitMQ redelivers them)', async () => {
    const queue = `ack-window-${randomUUID()}`;
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { arguments: { 'x-expires': 60_000 } });
    channel.sendToQueue(queue, Buffer.from('x'));
    const window = new AmqpAckWindow(channel);
    await channel.prefetch(1);
    const received: ConsumeMessage[] = [];
    await channel.consume(queue, (message) => {
      if (message) received.push(message);
    });
    await waitFor(() => received.length === 1, 'one delivery', 10_000);
    window.delivered(received[0]!);
    window.ack(received[0]!);
    await channel.close();
    expect(() => window.flush()).not.toThrow();
    const check = await connection.createChannel();
    expect((await check.checkQueue(queue)).messageCount).toBe(1);
    await check.deleteQueue(queue);
    await check.close();
  });

  it('forgets rejected deliveries even when nothing is ever acked', async () => {
    const queue = `ack-window-${randomUUID()}`;
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { arguments: { 'x-expires': 60_000 } });
    for (let i = 0; i < 500; i += 1) channel.sendToQueue(queue, Buffer.from(String(i)));
    await channel.prefetch(50);
    const window = new AmqpAckWindow(channel);
    let rejected = 0;
    await channel.consume(queue, (message) => {
      if (!message) return;
      window.delivered(message);
      window.settledElsewhere(message);
      channel.reject(message, false);
      rejected += 1;
    });
    await waitFor(() => rejected === 500, 'every message rejected', 10_000);
    await waitFor(() => window.tracked === 0, 'the window to forget them', 5_000);
    await channel.close();
  });

  it('holds only the open deliveries: one that never finishes costs nothing for the thousands acked after it', async () => {
    const queue = `ack-window-${randomUUID()}`;
    const channel = await connection.createChannel();
    const errors: unknown[] = [];
    channel.on('error', (error) => errors.push(error));
    await channel.assertQueue(queue, { arguments: { 'x-expires': 60_000 } });
    for (let i = 0; i < 3_000; i += 1) channel.sendToQueue(queue, Buffer.from(String(i)));
    await channel.prefetch(100);
    const window = new AmqpAckWindow(channel);
    let acked = 0;
    await channel.consume(queue, (message) => {
      if (!message) return;
      window.delivered(message);
      if (message.content.toString() === '0') return; // never finishes
      window.ack(message);
      acked += 1;
    });
    await waitFor(() => acked === 2_999, 'every message but the first acked', 20_000);
    window.flush();
    expect(window.tracked).toBe(1);
    await channel.checkQueue(queue);
    expect(errors).toEqual([]);
    await channel.close(); // the open one goes back to the queue
    const check = await connection.createChannel();
    const left = await check.get(queue, { noAck: true });
    expect(left && left.content.toString()).toBe('0');
    expect(await check.get(queue, { noAck: true })).toBe(false);
    await check.deleteQueue(queue);
    await check.close();
  });
});

