import { describeDeadLetter, replayHeaders, type DeadLetterEntry } from '../dead-letters.ts';
import type { DeadLetterStore } from '../dead-letter-store.ts';
import { UsageError } from '../brokers.ts';

/** How long a read waits without a record before it ends (the group join included). */
const readIdleMs = 15_000;

/** The consumer group whose committed offsets mark what `dlq replay` already replayed from a topic. */
export function replayGroup(topic: string): string {
  return `micro-framework-cli.replay.${topic}`;
}

interface Record {
  readonly partition: number;
  readonly offset: string;
  readonly value: Buffer | null;
  readonly key: Buffer | null;
  readonly headers: globalThis.Record<string, string>;
}

/**
 * A Kafka dead-letter topic (`<group>.dlt`). Kafka topics are append-only: what was replayed is
 * marked by the committed offsets of the group `micro-framework-cli.replay.<topic>`, so `list` and
 * `replay` start after it. `replay` produces each record to its original topic (`x-original-topic`,
 * with its key, acks from all in-sync replicas) and commits past it only then; every group of that
 * topic receives it again. `purge` deletes the records up to the end of each partition.
 */
export async function kafkaDeadLetters(brokers: string[], topic: string): Promise<DeadLetterStore> {
  const { Kafka, logLevel } = await import('kafkajs');
  const { headersFromKafka } = await import('@micro-framework/kafka');
  const kafka = new Kafka({ brokers, clientId: 'micro-framework-cli', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  if (!(await admin.listTopics()).includes(topic)) {
    await admin.disconnect();
    throw new UsageError(`Kafka has no topic ${topic}`);
  }
  const group = replayGroup(topic);

  /** Per partition: from the first record not replayed yet, up to the end as it is now. */
  async function ranges(): Promise<Array<{ partition: number; from: bigint; to: bigint }>> {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return ends.map(({ partition, low, high }) => {
      const mark = committed?.partitions.find((entry) => entry.partition === partition)?.offset ?? '-1';
      const from = BigInt(mark) >= BigInt(low) ? BigInt(mark) : BigInt(low);
      return { partition, from, to: BigInt(high) };
    });
  }

  /** Reads the records of `ranges`, oldest first per partition, up to `limit`; `each` may stop the read by returning false. */
  async function read(limit: number, each: (record: Record) => Promise<boolean>): Promise<void> {
    const todo = (await ranges()).filter((range) => range.from < range.to);
    if (todo.length === 0 || limit <= 0) return;
    const consumer = kafka.consumer({ groupId: `micro-framework-cli.read.${Date.now()}.${Math.random().toString(36).slice(2)}`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      let seen = 0;
      const left = new Map(todo.map((range) => [range.partition, range]));
      let failure: unknown;
      await new Promise<void>((resolve) => {
        // Offsets may have gaps (compaction, transaction markers): a read that sees nothing for a
        // while ends there instead of waiting for an offset that never comes.
        let idle: NodeJS.Timeout | undefined;
        const finish = (): void => {
          clearTimeout(idle);
          resolve();
        };
        const stillWaiting = (): void => {
          clearTimeout(idle);
          idle = setTimeout(finish, readIdleMs);
        };
        stillWaiting();
        void consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const range = left.get(partition);
            if (!range || failure !== undefined || seen >= limit) return;
            stillWaiting();
            const offset = BigInt(message.offset);
            if (offset < range.from) return;
            if (offset >= range.to) {
              left.delete(partition);
              if (left.size === 0) finish();
              return;
            }
            seen += 1;
            try {
              const go = await each({ partition, offset: message.offset, value: message.value, key: message.key, headers: headersFromKafka(message.headers) as globalThis.Record<string, string> });
              if (!go) failure = null;
            } catch (error) {
              failure = error;
            }
            if (offset + 1n >= range.to) left.delete(partition);
            if (left.size === 0 || seen >= limit || failure !== undefined) finish();
          },
        });
        consumer.on(consumer.events.GROUP_JOIN, () => {
          for (const range of left.values()) consumer.seek({ topic, partition: range.partition, offset: String(range.from) });
        });
      });
      if (failure) throw failure;
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
  }

  const entryOf = (record: Record): DeadLetterEntry =>
    describeDeadLetter(`${record.partition}/${record.offset}`, record.headers, record.value ?? Buffer.alloc(0), record.headers['x-original-topic'] ?? '?');

  return {
    async list(limit) {
      const entries: DeadLetterEntry[] = [];
      await read(limit, async (record) => {
        entries.push(entryOf(record));
        return true;
      });
      return entries;
    },
    async replay(limit, onReplayed) {
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      let replayed = 0;
      try {
        await read(limit, async (record) => {
          const entry = entryOf(record);
          const original = record.headers['x-original-topic'];
          if (!original) throw new Error(`record ${entry.position} has no x-original-topic header`);
          await producer.send({ topic: original, acks: -1, messages: [{ key: record.key, value: record.value, headers: replayHeaders(record.headers) }] });
          await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: record.partition, offset: String(BigInt(record.offset) + 1n) }] });
          replayed += 1;
          onReplayed(entry);
          return true;
        });
      } finally {
        await producer.disconnect().catch(() => undefined);
      }
      return replayed;
    },
    async purge() {
      // Counted: the records not replayed yet; deleted: everything up to the end.
      const pending = await ranges();
      const count = pending.reduce((sum, { from, to }) => sum + Number(to > from ? to - from : 0n), 0);
      await admin.deleteTopicRecords({ topic, partitions: pending.map(({ partition, to }) => ({ partition, offset: String(to) })) });
      return count;
    },
    close: () => admin.disconnect(),
  };
}
