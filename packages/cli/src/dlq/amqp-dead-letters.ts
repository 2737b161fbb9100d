import { loadAdapter, type AmqpAdapter } from '../adapters.ts';
import type { DeadLetterStore } from '../dead-letter-store.ts';
import { describeDeadLetter, replayHeaders, type DeadLetterEntry } from '../dead-letters.ts';
import { UsageError } from '../usage-error.ts';

type Channel = Awaited<ReturnType<InstanceType<AmqpAdapter['AmqpConnection']>['channel']>>;
type GetMessage = Exclude<Awaited<ReturnType<Channel['get']>>, false>;
type MessageProperties = GetMessage['properties'];

/**
 * The properties of a replayed copy: the dead letter's own (content type, message id...), persistent,
 * without an expiration or a user id (RabbitMQ refuses one other than the publishing connection's).
 */
function replayProperties(properties: MessageProperties): Record<string, unknown> {
  const { expiration: _expiration, headers: _headers, deliveryMode: _deliveryMode, userId: _userId, ...kept } = properties;
  return Object.fromEntries(Object.entries(kept).filter(([, value]) => value !== undefined && value !== null));
}

/**
 * A RabbitMQ dead-letter queue (`<queue>.dlq`). `list` gets messages without acking them (they go
 * back, in order, when its channel closes). `replay` publishes each to its listener's own queue
 * (`x-original-queue`, through the default exchange, so no other route sees it again; mandatory, on a
 * confirm channel) with its headers' AMQP types kept and its retry state dropped, and acks it only
 * once RabbitMQ confirmed; a failure puts it back and stops. It takes only the messages there when it
 * began, so one that fails again is not replayed twice by one run.
 */
export async function amqpDeadLetters(options: Readonly<Record<string, unknown>>, queue: string): Promise<DeadLetterStore> {
  const amqp = await loadAdapter('amqp');
  const connection = new amqp.AmqpConnection({ publishTimeoutMs: 10_000, ...options });
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
  const entryOf = (index: number, message: GetMessage): DeadLetterEntry => {
    const headers = amqp.headersFromAmqp(message.properties.headers);
    return describeDeadLetter(`#${index + 1}`, headers, message.content, headers['x-original-queue'] ?? '?');
  };
  /** Runs `use` on a channel of its own; closing it returns every message got and not acked to the queue. */
  const withChannel = async <T>(use: (channel: Channel) => Promise<T>): Promise<T> => {
    const channel = await connection.channel();
    channel.on('error', () => undefined);
    try {
      return await use(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  };
  return {
    list: (limit) =>
      withChannel(async (channel) => {
        const entries: DeadLetterEntry[] = [];
        while (entries.length < limit) {
          const message = await channel.get(queue, { noAck: false });
          if (!message) break;
          entries.push(entryOf(entries.length, message));
        }
        return entries;
      }),
    replay: (limit, onReplayed) =>
      withChannel(async (channel) => {
        let replayed = 0;
        // Only what is there now: a replayed message that fails again comes back at the tail.
        const { messageCount } = await channel.checkQueue(queue);
        const bound = Math.min(limit, messageCount);
        while (replayed < bound) {
          const message = await channel.get(queue, { noAck: false });
          if (!message) break;
          const entry = entryOf(replayed, message);
          const original = entry.original;
          try {
            if (original === '?') throw new Error(`message ${entry.position} has no x-original-queue header: nowhere to replay it`);
            const headers = replayHeaders(message.properties.headers ?? {});
            await connection.publish('', original, message.content, { ...replayProperties(message.properties), headers, persistent: true, mandatory: true });
          } catch (error) {
            channel.nack(message, false, true);
            throw error;
          }
          channel.ack(message);
          replayed += 1;
          onReplayed(entry, `queue ${original}`);
        }
        return replayed;
      }),
    purge: () => withChannel(async (channel) => (await channel.purgeQueue(queue)).messageCount),
    close: () => connection.stop(),
  };
}
