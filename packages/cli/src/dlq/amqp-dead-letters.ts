import { describeDeadLetter, replayHeaders, type DeadLetterEntry } from '../dead-letters.ts';
import type { DeadLetterStore } from '../dead-letter-store.ts';
import { UsageError } from '../brokers.ts';

/**
 * A RabbitMQ dead-letter queue (`<queue>.dlq`). `list` gets messages without acking them (they go
 * back, in order, when its channel closes); `replay` publishes each to its listener's queue
 * (`x-original-queue`, through the default exchange, mandatory, confirmed) and acks it only then,
 * taking only the messages there when it began.
 */
export async function amqpDeadLetters(url: string, queue: string): Promise<DeadLetterStore> {
  const amqp = await import('@micro-framework/amqp');
  const connection = new amqp.AmqpConnection({ url, publishTimeoutMs: 10_000 });
  await connection.setup();
  const check = await connection.channel();
  check.on('error', () => undefined);
  try {
    await check.checkQueue(queue);
  } catch {
    await connection.stop();
    throw new UsageError(`RabbitMQ has no queue ${queue}`);
  } finally {
    await check.close().catch(() => undefined);
  }
  const entryOf = (index: number, message: { content: Buffer; properties: { headers?: Record<string, unknown> } }): DeadLetterEntry => {
    const headers = amqp.headersFromAmqp(message.properties.headers);
    return describeDeadLetter(`#${index + 1}`, headers, message.content, headers['x-original-queue'] ?? '?');
  };
  return {
    async list(limit) {
      const channel = await connection.channel();
      try {
        const entries: DeadLetterEntry[] = [];
        while (entries.length < limit) {
          const message = await channel.get(queue, { noAck: false });
          if (!message) break;
          entries.push(entryOf(entries.length, message));
        }
        return entries;
      } finally {
        await channel.close().catch(() => undefined);
      }
    },
    async replay(limit, onReplayed) {
      const channel = await connection.channel();
      let replayed = 0;
      try {
        // Only what is there now: a replayed message that fails again comes back at the tail, and is
        // not replayed a second time by this run.
        const { messageCount } = await channel.checkQueue(queue);
        const bound = Math.min(limit, messageCount);
        while (replayed < bound) {
          const message = await channel.get(queue, { noAck: false });
          if (!message) break;
          const entry = entryOf(replayed, message);
          const original = amqp.headersFromAmqp(message.properties.headers)['x-original-queue'];
          try {
            if (!original) throw new Error(`message ${entry.position} has no x-original-queue header`);
            const { contentType, contentEncoding, messageId, correlationId, type } = message.properties;
            await connection.publish('', original, message.content, {
              headers: replayHeaders(amqp.headersFromAmqp(message.properties.headers)),
              contentType,
              contentEncoding,
              messageId,
              correlationId,
              type,
              mandatory: true,
            });
          } catch (error) {
            channel.nack(message, false, true);
            throw error;
          }
          channel.ack(message);
          replayed += 1;
          onReplayed(entry);
        }
        return replayed;
      } finally {
        await channel.close().catch(() => undefined);
      }
    },
    async purge() {
      const channel = await connection.channel();
      try {
        return (await channel.purgeQueue(queue)).messageCount;
      } finally {
        await channel.close().catch(() => undefined);
      }
    },
    close: () => connection.stop(),
  };
}
