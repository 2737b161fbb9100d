import type { Admin, ITopicConfig } from 'kafkajs';

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A kafkajs error that says trying again may work (`retriable`), or one the broker gives while a new topic propagates. */
function transient(error: unknown): boolean {
  const { retriable, type } = (error ?? {}) as { retriable?: unknown; type?: unknown };
  return retriable === true || type === 'TOPIC_ALREADY_EXISTS' || type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'LEADER_NOT_AVAILABLE';
}

/**
 * Creates `topics` and resolves once the broker serves every one's metadata with a leader for each
 * partition. kafkajs's `waitForLeaders` is not enough on KRaft brokers: CreateTopics answers before
 * the broker serves the new topics, and kafkajs then fails with UNKNOWN_TOPIC_OR_PARTITION (it waits
 * only through LEADER_NOT_AVAILABLE). Topics that exist already are fine. A transient error is tried
 * again until `timeoutMs`; any other error (authorization, an invalid configuration) rejects at once.
 */
export async function createTopicsAndWait(admin: Admin, topics: readonly ITopicConfig[], timeoutMs = 30_000): Promise<void> {
  if (topics.length === 0) return;
  const names = topics.map((topic) => topic.topic);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  try {
    await admin.createTopics({ waitForLeaders: false, topics: [...topics] });
  } catch (error) {
    if (!transient(error)) throw error;
    lastError = error;
  }
  for (;;) {
    try {
      const { topics: served } = await admin.fetchTopicMetadata({ topics: names });
      const led = served.every((topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0));
      if (led && served.length === names.length) return;
    } catch (error) {
      if (!transient(error)) throw error;
      lastError = error;
      // The topic may be missing because the first CreateTopics failed on the way: ask again.
      if ((error as { type?: unknown }).type === 'UNKNOWN_TOPIC_OR_PARTITION') {
        await admin.createTopics({ waitForLeaders: false, topics: [...topics] }).catch((again: unknown) => {
          if (!transient(again)) throw again;
        });
      }
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`topics ${names.join(', ')} were not served with leaders within ${timeoutMs} ms${reason}`, { cause: lastError });
    }
    await pause(100);
  }
}
