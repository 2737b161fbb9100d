import {
  ConfigurationError,
  Entrypoint,
  ExtensionIsStopped,
  defaultStopTimeoutMs,
  listenerTargetName,
  readRetryHeaders,
  writeRetryHeaders,
  type Headers,
  type PayloadFormat,
  type RetryState,
  type StopOptions,
} from '@micro-framework/core';
import type { Batch, Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { ContiguousOffsets } from './contiguous-offsets.ts';
import { sharedKafkaClient, type KafkaClientExtension } from './kafka-client.ts';
import { headersFromKafka } from './kafka-headers.ts';
import { type KafkaOptions } from './kafka-options.ts';
import { deadLetterTopicName, defaultGroupId, retryDueHeader, retryTopicName } from './topic-names.ts';

export interface TopicListenerOptions {
  readonly topic: string;
  /**
   * Consumer group; default `<topic>__<service>.<target>`: instances of a service share the partitions,
   * and every route gets every record of its topic (as each gets its own queue on RabbitMQ). A custom
   * group must serve one topic: its retry and dead-letter topics are named after it.
   */
  readonly groupId?: string;
  /** Where a group without committed offsets starts. Default true (earliest): nothing published before the first deployment is skipped. */
  readonly fromBeginning?: boolean;
  readonly payloadFilter?: (payload: unknown) => boolean;
  readonly format?: PayloadFormat;
  /** Partitions of the topic (and of its retry and dead-letter topics) when this listener creates them. Default 1. */
  readonly partitions?: number;
  /** Consumer session timeout (ms); heartbeats keep slow calls in the group. Default 30,000. */
  readonly sessionTimeoutMs?: number;
  readonly kafka?: KafkaOptions;
}

/** Where one message is in the listener, for scheduleRetry and the dead letter. */
interface Delivery {
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaMessage;
}

const deliveredMarker = 'delivered:';
const commitTimeoutMs = 15_000;

/** Rejects when `promise` has not settled within `ms`: a commit never blocks a partition for good. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Consumes a topic (and the group's retry topic) with manual commits. Up to the context's maxWorkers
 * messages run at once, across partitions and across keys of a partition, while messages of one key
 * run in order. Only the contiguous prefix of finished messages of a partition is committed, so a
 * crash replays from the first unfinished one. The commit metadata records how far a partition was
 * handed to workers, so a replayed message is marked `redelivered`. Fetching a partition waits while
 * its batch runs (back-pressure); heartbeats keep slow calls in the group.
 */
export class TopicListener extends Entrypoint {
  readonly topic: string;
  readonly #options: TopicListenerOptions;
  #client: KafkaClientExtension | undefined;
  #consumer: Consumer | undefined;
  #stopping = new AbortController();
  #abandoned = false;
  /** Per topic-partition: the highest offset a previous owner handed to workers (from commit metadata). */
  #previouslyDelivered = new Map<string, bigint>();
  #markersLoaded: Promise<void> | undefined;

  constructor(options: TopicListenerOptions) {
    super();
    this.topic = options.topic;
    this.#options = options;
  }

  get groupId(): string {
    return this.#options.groupId ?? defaultGroupId(this.topic, this.context.config.serviceName, listenerTargetName(this.route));
  }

  get retryTopic(): string {
    return retryTopicName(this.groupId);
  }

  get deadLetterTopic(): string {
    return deadLetterTopicName(this.groupId);
  }

  get #kafka(): KafkaClientExtension {
    if (!this.#client) throw new ConfigurationError('TopicListener is not set up');
    return this.#client;
  }

  override async setup(): Promise<void> {
    this.#client = await sharedKafkaClient(this.context, this.#options.kafka);
    const numPartitions = this.#options.partitions ?? 1;
    await this.#kafka.ensureTopics([
      { topic: this.topic, numPartitions },
      { topic: this.retryTopic, numPartitions },
      { topic: this.deadLetterTopic, numPartitions },
    ]);
  }

  override async start(): Promise<void> {
    await this.#startConsumer();
  }

  /** Creates, connects and runs the group consumer; a crash kafkajs gives up on starts a new one. */
  async #startConsumer(): Promise<void> {
    const maxWorkers = this.context.config.maxWorkers;
    const consumer = this.#kafka.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: this.#options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 200,
      allowAutoTopicCreation: false,
      // Bounded retries: a commit with a stale generation can never succeed, and kafkajs restarts a
      // consumer whose operation failed for good (restartOnFailure), rejoining with a fresh one.
      retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.#markersLoaded = undefined;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // kafkajs does not restart after some crashes (say, no group coordinator while the broker
      // restarts): replace the consumer so consumption resumes without a service restart.
      if (payload.restart || this.#consumer !== consumer || this.#stopping.signal.aborted) return;
      this.#consumer = undefined;
      void consumer.disconnect().catch(() => undefined);
      setTimeout(() => {
        if (!this.#stopping.signal.aborted) void this.#startConsumer().catch(() => this.#retryStart());
      }, 1_000);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic, this.retryTopic], fromBeginning: this.#options.fromBeginning ?? true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: maxWorkers,
        eachBatch: (payload) => this.#eachBatch(payload, consumer),
      });
    } catch (error) {
      if (this.#consumer === consumer) this.#consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  #retryStart(): void {
    setTimeout(() => {
      if (!this.#stopping.signal.aborted && !this.#consumer) void this.#startConsumer().catch(() => this.#retryStart());
    }, 2_000);
  }

  /**
   * Stops fetching, lets running calls finish and commit (up to the timeout), then leaves the group.
   * Past the timeout the calls are abandoned uncommitted: the partition goes to another member, which
   * replays them.
   */
  override async stop(options: StopOptions = {}): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    if (!consumer) return;
    this.#stopping.abort();
    const timeoutMs = options.timeoutMs ?? defaultStopTimeoutMs;
    const finished = await this.drain(timeoutMs);
    if (!finished) this.#abandoned = true;
    const disconnected = consumer.disconnect().catch(() => undefined);
    if (finished) await Promise.race([disconnected, new Promise((resolve) => setTimeout(resolve, Math.max(1_000, timeoutMs)).unref())]);
  }

  /**
   * Produces the message to the group's retry topic with the retry state and its due time, and
   * resolves once the broker acknowledged it (acks from all in-sync replicas). The original is
   * committed after that. The listener holds the retry until it is due.
   */
  override async scheduleRetry(entryId: unknown, retry: RetryState, delayMs: number): Promise<void> {
    const delivery = entryId as Delivery;
    const { headers } = readRetryHeaders(headersFromKafka(delivery.message.headers));
    await this.#kafka.producer.send({
      topic: this.retryTopic,
      acks: -1,
      messages: [{
        key: delivery.message.key,
        value: delivery.message.value,
        headers: { ...writeRetryHeaders(headers, retry), [retryDueHeader]: String(Date.now() + delayMs), ...this.#origin(delivery) },
      }],
    });
  }

  #origin(delivery: Delivery): Record<string, string> {
    const fromRetry = delivery.topic === this.retryTopic;
    const headers = headersFromKafka(delivery.message.headers);
    return {
      'x-original-topic': this.topic,
      'x-original-partition': fromRetry ? (headers['x-original-partition'] ?? String(delivery.partition)) : String(delivery.partition),
      'x-original-offset': fromRetry ? (headers['x-original-offset'] ?? delivery.message.offset) : delivery.message.offset,
    };
  }

  async #loadMarkers(): Promise<void> {
    this.#markersLoaded ??= (async () => {
      const fetched = await this.#kafka.admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic, this.retryTopic] });
      const markers = new Map<string, bigint>();
      for (const { topic, partitions } of fetched) {
        for (const { partition, metadata } of partitions) {
          if (metadata?.startsWith(deliveredMarker)) markers.set(`${topic}:${partition}`, BigInt(metadata.slice(deliveredMarker.length)));
        }
      }
      this.#previouslyDelivered = markers;
    })().catch((error: unknown) => {
      this.#markersLoaded = undefined;
      throw error;
    });
    await this.#markersLoaded;
  }

  async #eachBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload, consumer: Consumer): Promise<void> {
    if (batch.isEmpty() || this.#stopping.signal.aborted) return;
    await this.#loadMarkers();
    const { topic, partition } = batch;
    const partitionKey = `${topic}:${partition}`;
    const previous = this.#previouslyDelivered.get(partitionKey);
    // Record how far this partition is handed to workers before any of it runs.
    const metadata = `${deliveredMarker}${batch.lastOffset()}`;
    await withTimeout(consumer.commitOffsets([{ topic, partition, offset: batch.firstOffset() ?? batch.messages[0]!.offset, metadata }]), commitTimeoutMs);

    // An abandoned call (stop timed out) stops the heartbeats: the group then hands the partition on.
    let rebalancing = false;
    const beating = setInterval(() => {
      if (this.#abandoned) return;
      heartbeat().catch((error: { type?: string; message?: string }) => {
        if (error?.type === 'REBALANCE_IN_PROGRESS' || /rebalanc/i.test(error?.message ?? '')) rebalancing = true;
      });
    }, 1_000);
    const offsets = new ContiguousOffsets();
    // Commits (and kafkajs's resolved offset) are coalesced: while one is in flight, later advances
    // only raise the offset the next one writes, so a fast partition does not queue one per record.
    let wanted: string | undefined;
    let committing: Promise<void> | undefined;
    const flushCommits = (): Promise<void> => {
      committing ??= (async () => {
        while (wanted !== undefined) {
          const offset = wanted;
          wanted = undefined;
          if (!this.#abandoned) resolveOffset(String(BigInt(offset) - 1n));
          await withTimeout(consumer.commitOffsets([{ topic, partition, offset, metadata }]), commitTimeoutMs).catch(() => undefined);
        }
        committing = undefined;
      })();
      return committing;
    };
    const chains = new Map<string, Promise<void>>();
    const running: Promise<void>[] = [];
    let gaveBack = false;
    let stale = false;
    try {
      for (const message of batch.messages) {
        if (!isRunning() || isStale() || this.#stopping.signal.aborted || gaveBack) break;
        offsets.track(message.offset);
        const redelivered = previous !== undefined && BigInt(message.offset) <= previous;
        const key = message.key ? message.key.toString('base64') : `offset:${message.offset}`;
        const run = (chains.get(key) ?? Promise.resolve()).then(async () => {
          if (gaveBack || this.#abandoned) return;
          if (rebalancing || !isRunning() || isStale()) {
            // A rebalance or stop is under way: leave the rest uncommitted so the batch ends quickly;
            // whoever owns the partition next fetches it again from the committed offset.
            stale = true;
            gaveBack = true;
            return;
          }
          const done = await this.#handle({ topic, partition, message }, redelivered, batch);
          if (!done) {
            gaveBack = true;
            return;
          }
          const next = offsets.finish(message.offset);
          if (next !== undefined && !this.#abandoned) {
            wanted = next;
            void flushCommits();
          }
        });
        chains.set(key, run);
        running.push(run);
      }
      await Promise.all(running);
      while (committing || wanted !== undefined) await flushCommits();
    } finally {
      clearInterval(beating);
    }
    if (gaveBack && !stale && !this.#abandoned) {
      // Something was not finished (the route is stopping): fetch it again from the first unfinished offset.
      const first = offsets.firstPending;
      if (first !== undefined && !this.#stopping.signal.aborted) {
        try {
          consumer.seek({ topic, partition, offset: first });
        } catch {
          // The partition moved to another member: it resumes from the committed offset.
        }
      }
    }
  }

  /** Runs one message; true when it is finished (may be committed), false when it must be fetched again. */
  async #handle(delivery: Delivery, redelivered: boolean, batch: Batch): Promise<boolean> {
    const { message } = delivery;
    const { [retryDueHeader]: due, ...headers } = headersFromKafka(message.headers);
    if (delivery.topic === this.retryTopic && Number(due ?? 0) > Date.now()) {
      try {
        await this.#waitUntil(Number(due));
      } catch {
        return false;
      }
    }
    const outcome = await this.deliver(delivery, {
      body: message.value ?? Buffer.alloc(0),
      headers,
      channel: this.topic,
      format: this.#options.format,
      payloadFilter: this.#options.payloadFilter,
      meta: { redelivered, key: message.key?.toString('utf8'), partition: delivery.partition, offset: message.offset, highWatermark: batch.highWatermark },
    });
    if (outcome.action === 'give-back') return false;
    if (outcome.action === 'dead-letter') return this.#deadLetter(delivery, outcome.headers);
    return true;
  }

  /** Produces the record to the dead-letter topic with where it came from; false (fetch again) if the broker did not take it. */
  async #deadLetter(delivery: Delivery, described: Headers): Promise<boolean> {
    const headers = { ...described, ...this.#origin(delivery), 'x-consumer-group': this.groupId };
    try {
      await this.#kafka.producer.send({ topic: this.deadLetterTopic, acks: -1, messages: [{ key: delivery.message.key, value: delivery.message.value, headers }] });
      return true;
    } catch {
      return false;
    }
  }

  #waitUntil(due: number): Promise<void> {
    const signal = this.#stopping.signal;
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(new ExtensionIsStopped(`listener of ${this.topic}`));
        return;
      }
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, due - Date.now());
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new ExtensionIsStopped(`listener of ${this.topic}`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
