import type { Headers } from '@micro-framework/core';
import { loadAdapter } from '../adapters.ts';
import type { DeadLetterStore } from '../dead-letter-store.ts';
import { describeDeadLetter, replayHeaders, type DeadLetterEntry } from '../dead-letters.ts';
import { UsageError } from '../usage-error.ts';

/** How long a read waits without a record before it ends (the group join included). */
const readIdleMs = 15_000;

/** Where a replayed record keeps saying it came from: a route that fails on it again dead-letters it with its true origin. */
const originHeaders = ['x-original-topic', 'x-original-partition', 'x-original-offset'];

/** The consumer group whose committed offsets mark what `dlq replay` already replayed from a dead-letter topic. */
export function replayGroup(topic: string): string {
  return `micro-framework-cli.replay.${topic}`;
}

interface DeadRecord {
  readonly partition: number;
  readonly offset: string;
  readonly value: Buffer | null;
  readonly key: Buffer | null;
  readonly headers: Headers;
}

/**
 * A Kafka dead-letter topic (a TopicListener's `<group>.dlt`). Kafka topics are append-only, so what
 * was replayed is marked by the committed offsets of the group `micro-framework-cli.replay.<topic>`:
 * `list` and `replay` start after them, and the records stay in the topic until its retention (or
 * `purge`) removes them. `replay` produces each record, with its key, to the retry topic of the group
 * that dead-lettered it (`<x-consumer-group>.retry`, which only that route consumes, like RabbitMQ's
 * per-queue replay) with no due time and no retry state, so it runs at once as a first attempt; when
 * that topic does not exist, to the original topic (`x-original-topic`), where every group reads it
 * again. It commits past a record only once all in-sync replicas acknowledged the produce (acks -1),
 * and stops at the first failure. `purge` deletes the records up to the end of each partition.
 */
export async function kafkaDeadLetters(options: Readonly<Record<string, unknown>>, topic: string): Promise<DeadLetterStore> {
  const kafka = await loadAdapter('kafka');
  const client = new kafka.KafkaClientExtension(options);
  await client.setup();
  const { admin } = client;
  if (!(await admin.listTopics()).includes(topic)) {
    await client.stop();
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

  /**
   * Reads the records of `ranges`, oldest first per partition, up to `limit`, through a consumer
   * group of its own that commits nothing and is deleted afterwards; `each` stops the read by
   * throwing (the error is rethrown).
   */
  async function read(limit: number, each: (record: DeadRecord) => Promise<void>): Promise<void> {
    const todo = (await ranges()).filter((range) => range.from < range.to);
    if (todo.length === 0 || limit <= 0) return;
    const readerGroup = `micro-framework-cli.read.${Date.now()}.${Math.random().toString(36).slice(2)}`;
    const consumer = client.kafka.consumer({ groupId: readerGroup, maxWaitTimeInMs: 100 });
    await consumer.connect();
    let failure: { error: unknown } | undefined;
    let seen = 0;
    let stalled = false;
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const left = new Map(todo.map((range) => [range.partition, range]));
      await new Promise<void>((resolve) => {
        // Offsets may have gaps (compaction, transaction markers): a read that sees nothing for a
        // while ends there instead of waiting for an offset that never comes.
        let idle: NodeJS.Timeout | undefined;
        let done = false;
        const finish = (): void => {
          done = true;
          clearTimeout(idle);
          resolve();
        };
        const stillWaiting = (): void => {
          clearTimeout(idle);
          if (done) return;
          idle = setTimeout(() => {
            stalled = true;
            finish();
          }, readIdleMs);
        };
        stillWaiting();
        consumer.on(consumer.events.GROUP_JOIN, () => {
          for (const range of left.values()) consumer.seek({ topic, partition: range.partition, offset: String(range.from) });
        });
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              const range = left.get(partition);
              if (done || !range || failure !== undefined || seen >= limit) return;
              const offset = BigInt(message.offset);
              if (offset < range.from) return stillWaiting();
              if (offset >= range.to) {
                left.delete(partition);
                return left.size === 0 ? finish() : stillWaiting();
              }
              seen += 1;
              // No idle deadline while a record is handled (a replay's produce may take its time).
              clearTimeout(idle);
              try {
                await each({ partition, offset: message.offset, value: message.value, key: message.key, headers: kafka.headersFromKafka(message.headers) });
              } catch (error) {
                failure = { error };
              }
              if (offset + 1n >= range.to) left.delete(partition);
              if (left.size === 0 || seen >= limit || failure !== undefined) finish();
              else stillWaiting();
            },
          })
          .catch((error: unknown) => {
            failure = { error };
            finish();
          });
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([readerGroup]).catch(() => undefined);
    }
    if (failure) throw failure.error;
    // Records are there but none came: say so rather than report an empty topic.
    if (stalled && seen === 0) throw new Error(`no record of ${topic} could be read within ${readIdleMs / 1_000} s`);
  }

  const entryOf = (record: DeadRecord): DeadLetterEntry =>
    describeDeadLetter(`${record.partition}/${record.offset}`, record.headers, record.value ?? Buffer.alloc(0), record.headers['x-original-topic'] ?? '?');

  return {
    async list(limit) {
      const entries: DeadLetterEntry[] = [];
      await read(limit, async (record) => {
        entries.push(entryOf(record));
      });
      return entries;
    },
    async replay(limit, onReplayed) {
      const topics = new Set(await admin.listTopics());
      let replayed = 0;
      await read(limit, async (record) => {
        const entry = entryOf(record);
        const group = record.headers['x-consumer-group'];
        const retryTopic = group === undefined ? undefined : kafka.retryTopicName(group);
        const toRetry = retryTopic !== undefined && topics.has(retryTopic);
        const destination = toRetry ? retryTopic : record.headers['x-original-topic'];
        if (!destination) throw new Error(`record ${entry.position} has neither x-consumer-group nor x-original-topic: nowhere to replay it`);
        const headers = replayHeaders(record.headers, toRetry ? originHeaders : []);
        await client.producer.send({ topic: destination, acks: -1, messages: [{ key: record.key, value: record.value, headers }] });
        await admin.setOffsets({ groupId: replayGroup(topic), topic, partitions: [{ partition: record.partition, offset: String(BigInt(record.offset) + 1n) }] });
        replayed += 1;
        onReplayed(entry, toRetry ? `topic ${destination} (the retry topic of group ${group})` : `topic ${destination}`);
      });
      return replayed;
    },
    async purge() {
      // Counted: the records not replayed yet; deleted: everything up to the end.
      const pending = await ranges();
      const count = pending.reduce((sum, { from, to }) => sum + Number(to > from ? to - from : 0n), 0);
      await admin.deleteTopicRecords({ topic, partitions: pending.map(({ partition, to }) => ({ partition, offset: String(to) })) });
      return count;
    },
    close: () => client.stop(),
  };
}
