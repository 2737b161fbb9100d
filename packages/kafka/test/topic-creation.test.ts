import { Kafka, logLevel } from 'kafkajs';
import { afterAll, expect, it } from 'vitest';
import { KafkaClientExtension } from '../src/kafka-client.ts';

// Found by the chaos run (issue #13): on the KRaft broker, CreateTopics returns before the broker
// serves the new topics' metadata, so kafkajs's waitForLeaders fails with UNKNOWN_TOPIC_OR_PARTITION
// (it tolerates only LEADER_NOT_AVAILABLE), and a listing right after may not show them yet: a
// service failed to start. ensureTopics must resolve once every new topic serves its metadata.
const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
const client = new KafkaClientExtension({ brokers, logLevel: logLevel.NOTHING });
const created: string[] = [];

afterAll(async () => {
  await client.admin.deleteTopics({ topics: created }).catch(() => undefined);
  await client.stop();
});

it('ensureTopics resolves for fresh topics only once each serves its metadata with a leader', async () => {
  await client.setup();
  const prefix = `ensure-${Date.now().toString(36)}`;
  const outside = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  await outside.connect();
  try {
    for (let round = 0; round < 60; round += 1) {
      const topics = [0, 1, 2].map((n) => ({ topic: `${prefix}-${round}-${n}`, numPartitions: 8 }));
      created.push(...topics.map((topic) => topic.topic));
      await client.ensureTopics(topics);
      // Another client sees them at once, every partition led.
      const metadata = await outside.fetchTopicMetadata({ topics: topics.map((topic) => topic.topic) });
      expect(metadata.topics.map((topic) => topic.partitions.filter((partition) => partition.leader >= 0).length)).toEqual([8, 8, 8]);
    }
  } finally {
    await outside.disconnect();
  }
}, 120_000);
