import {
  ConcurrencyLimiter,
  ConfigurationError,
  ConsumerSupervisor,
  Entrypoint,
  ExtensionIsStopped,
  clampDelay,
  defaultStopTimeoutMs,
  listenerTargetName,
  readRetryHeaders,
  settledWithin,
  writeRetryHeaders,
  type DeadLetterCopy,
  type IncomingMessage,
  type PayloadFormat,
  type RetryState,
  type Settlement,
  type StopOptions,
} from '@micro-framework/core';
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { ConsumerHealth, heartbeatWhileRunning } from './consumer-health.ts';
import { ContiguousOffsets } from './contiguous-offsets.ts';
import { sharedKafkaClient, type KafkaClientExtension } from './kafka-client.ts';
import { headersFromKafka } from './kafka-headers.ts';
import { brokersLabel, type KafkaOptions } from './kafka-options.ts';
import { reportSecurityCrash } from './kafka-security.ts';
import { nextOffset } from './next-offset.ts';
import { PartitionCommits } from './partition-commits.ts';
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
  /** Drops (commits without calling the target) payloads for which it returns false; a throw dead-letters the record (reason `filter`). */
  readonly payloadFilter?: (payload: unknown) => boolean;
  readonly format?: PayloadFormat;
  /** Partitions of the topic (and of its retry and dead-letter topics) when this listener creates them. Default 1. */
  readonly partitions?: number;
  /** Consumer session timeout (ms); heartbeats keep slow calls in the group. Default 30,000. */
  readonly sessionTimeoutMs?: number;
  /** Most retry records held in memory until they are due; past it, fetching the retry topic waits. Default 10,000. */
  readonly maxHeldRetries?: number;
  /**
   * Most bytes one fetch takes from a partition (kafkajs `maxBytesPerPartition`). Default 128 KiB: a
   * fetch's records stay in memory until they are handed to workers, so a larger fetch holds more of
   * a backlog at once. A record larger than this is still fetched (alone).
   */
  readonly maxBytesPerPartition?: number;
  /** Most bytes one fetch takes across partitions (kafkajs `maxBytes`). Default 1 MiB. */
  readonly maxBytes?: number;
  /**
   * Least time (ms) between two offset commits of a partition while its records finish, 0 to 60,000.
   * Default 100: a commit per record would cost the broker more than the records. The end of a batch,
   * a rebalance and a stop commit what finished at once; a crash replays the records finished since
   * the last commit. 0 commits as soon as the previous commit returned.
   */
  readonly commitIntervalMs?: number;
  readonly kafka?: KafkaOptions;
}

/** Where one record is in the listener: what scheduleRetry and the dead letter read. */
export interface KafkaDelivery {
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaMessage;
}

/** The retry records of one partition of the retry topic this member holds, runs and commits. */
interface RetryPartition {
  readonly offsets: ContiguousOffsets;
  readonly commits: PartitionCommits;
  /** Timers of the records held until they are due. */
  readonly timers: Set<NodeJS.Timeout>;
  /** Records taken and not finished yet: waiting for their due time, or running. */
  taken: number;
  /** Fetching this partition is paused because too many retries are taken; `resume` resumes it. */
  paused: boolean;
  resume?: () => void;
  /** The highest offset taken so far, and the one a previous owner had handed out (its commit metadata). */
  last: bigint | undefined;
  readonly previous: bigint | undefined;
}

/** The records of one key waiting behind its record handed on and not ended, in order; `next` is the next to start. */
interface KeyChain {
  /** The key as the chains map holds it; `text` is the key in UTF-8, as meta.key has it. */
  readonly key: string;
  readonly text: string;
  readonly chains: Map<string, KeyChain>;
  readonly messages: KafkaMessage[];
  /** Their positions in the partition's ContiguousOffsets. */
  readonly positions: number[];
  next: number;
}

const deliveredMarker = 'delivered:';
const defaultMaxBytesPerPartition = 128 * 1024;
const defaultMaxBytes = 1024 * 1024;
const defaultCommitIntervalMs = 100;
/** Longer would leave finished records uncommitted for longer than a session timeout lasts. */
const maxCommitIntervalMs = 60_000;
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
 * Consumes a topic (and the group's retry topic) with manual commits, and carries out core's
 * decision for each record. Up to the context's maxWorkers records run at once, across partitions and
 * across keys of a partition, while records of one key run one at a time, in order. Only the
 * contiguous prefix of finished records of a partition is committed, so a crash replays from the
 * first unfinished one; the commit metadata records how far a partition was handed to workers, so a
 * replayed record is marked `redelivered`. A hand-back makes the partition fetch again from that
 * record. Retry records are held in memory until due, each on its own timer (a short retry never
 * waits behind a long one), and released on a rebalance for the partition's next owner. A consumer
 * kafkajs gives up on is replaced.
 */
export class TopicListener extends Entrypoint<KafkaDelivery> {
  readonly topic: string;
  readonly #options: TopicListenerOptions;
  #client: KafkaClientExtension | undefined;
  #consumer: Consumer | undefined;
  #health: ConsumerHealth | undefined;
  #supervisor: ConsumerSupervisor | undefined;
  readonly #intake = new AbortController();
  #abandoned = false;
  /** Per topic-partition: the highest offset a previous owner handed to workers (from commit metadata). */
  #previouslyDelivered = new Map<string, bigint>();
  #markersLoaded: Promise<void> | undefined;
  readonly #retryPartitions = new Map<number, RetryPartition>();
  readonly #commitIntervalMs: number;
  /** The commits of the batches running now: a stop commits what they finished at once. */
  readonly #batchCommits = new Set<PartitionCommits>();
  /**
   * Seeks this listener asked of its consumers (every seek goes through here; nothing else holds the
   * consumer): kafkajs's isStale turns true only with a seek, so a batch that saw it false asks again
   * only after one.
   */
  #seeks = 0;
  /**
   * Places for the records of the topic handed to workers and not finished, across partitions (at
   * most twice maxWorkers): the rest of a fetched batch waits in it until workers free up, as plain
   * kafkajs records rather than closures and promises.
   */
  #dispatch: ConcurrencyLimiter | undefined;
  /** Commits happen through PartitionCommits; acks and hand-backs are the return value of #handle. */
  readonly #settlement: Settlement<KafkaDelivery> = {
    giveBackDelay: 'process',
    ack: () => undefined,
    deadLetter: (delivery, copy) => this.#deadLetter(delivery, copy),
    giveBack: () => undefined,
  };

  constructor(options: TopicListenerOptions) {
    super();
    const maxHeld = options.maxHeldRetries;
    if (maxHeld !== undefined && !(Number.isInteger(maxHeld) && maxHeld >= 1)) {
      throw new ConfigurationError(`maxHeldRetries must be a whole number >= 1, got ${maxHeld}`);
    }
    for (const name of ['maxBytesPerPartition', 'maxBytes'] as const) {
      const value = options[name];
      if (value !== undefined && !(Number.isInteger(value) && value >= 1024)) {
        throw new ConfigurationError(`${name} must be a whole number of bytes >= 1024, got ${value}`);
      }
    }
    const interval = options.commitIntervalMs;
    if (interval !== undefined && !(Number.isFinite(interval) && interval >= 0 && interval <= maxCommitIntervalMs)) {
      throw new ConfigurationError(`commitIntervalMs must be a number of ms from 0 to ${maxCommitIntervalMs}, got ${interval}`);
    }
    this.topic = options.topic;
    this.#options = options;
    this.#commitIntervalMs = interval ?? defaultCommitIntervalMs;
  }

  override get messagingSystem(): string {
    return 'kafka';
  }

  /**
   * Not ready while the consumer is being replaced, stopped or crashed, or when Kafka answered none of
   * its requests for 5 s (a group join is allowed longer); a slow batch keeps heartbeating, so it is
   * no silence. See ConsumerHealth.
   */
  override readiness(): string | undefined {
    if (!this.#consumer) return `consumer of ${this.topic} is being replaced`;
    return this.#health?.readiness();
  }

  override brokerNames(): Record<string, unknown> {
    return { topic: this.topic, group: this.groupId, retryTopic: this.retryTopic, deadLetterTopic: this.deadLetterTopic };
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

  /**
   * How many records of the topic were handed on (to key chains and workers) and are not finished: at
   * most twice maxWorkers; the rest of a fetched batch waits in it until workers free up.
   */
  get dispatched(): number {
    return this.#dispatch?.active ?? 0;
  }

  /** How many retry records this member took and has not finished: waiting for their due time, or running. */
  get heldRetries(): number {
    let taken = 0;
    for (const state of this.#retryPartitions.values()) taken += state.taken;
    return taken;
  }

  get #kafka(): KafkaClientExtension {
    if (!this.#client) throw new ConfigurationError('TopicListener is not set up');
    return this.#client;
  }

  get #intakeStopped(): boolean {
    return this.#intake.signal.aborted;
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
    // kafkajs retries a lost broker quietly: the health of its consumers tells (see ConsumerHealth).
    this.#health = new ConsumerHealth({ name: `consumer of ${this.topic}`, broker: brokersLabel(this.#kafka.options), telemetry: this.runner.telemetry });
    this.#supervisor = new ConsumerSupervisor({ start: (signal) => this.#startConsumer(signal), name: `${this.topic} (group ${this.groupId})`, telemetry: this.runner.telemetry });
    await this.#supervisor.start();
  }

  /**
   * Stops fetching: no replacement of the consumer from now on (one under way gives up), every
   * partition paused, retries waiting for their due time dropped (uncommitted: fetched again later).
   * Running calls go on.
   */
  override async stopIntake(): Promise<void> {
    if (this.#intakeStopped) return;
    this.#intake.abort(new ExtensionIsStopped(`listener of ${this.topic}`));
    this.#health?.stop();
    void this.#supervisor?.stop();
    for (const state of this.#retryPartitions.values()) this.#dropWaiting(state);
    try {
      this.#consumer?.pause([{ topic: this.topic }, { topic: this.retryTopic }]);
    } catch {
      // Not running (yet, or any more): nothing is fetched.
    }
  }

  /**
   * Stops intake, lets running calls finish and commit (up to the timeout), then leaves the group.
   * Past the timeout the calls are abandoned uncommitted: the partition goes to another member, which
   * replays them.
   */
  override async stop(options: StopOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? defaultStopTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    await this.stopIntake();
    // A replacement consumer being connected gives up at its next step: wait for it while draining.
    const [, finished] = await Promise.all([
      this.#supervisor ? settledWithin(this.#supervisor.stop(), timeoutMs) : undefined,
      this.drain(timeoutMs),
    ]);
    if (!finished) this.#abandoned = true;
    // What finished is committed now rather than after commitIntervalMs, calls abandoned or not.
    const commits = [...this.#batchCommits, ...[...this.#retryPartitions.values()].map((state) => state.commits)];
    await settledWithin(Promise.all(commits.map((partition) => partition.settled())), Math.max(1_000, deadline - Date.now()));
    this.#batchCommits.clear();
    this.#retryPartitions.clear();
    const consumer = this.#consumer;
    this.#consumer = undefined;
    if (!consumer) return;
    const disconnected = consumer.disconnect().catch(() => undefined);
    if (finished) await settledWithin(disconnected, Math.max(1_000, timeoutMs));
  }

  /**
   * Produces the record to the group's retry topic with the retry state and its due time, and
   * resolves once the broker acknowledged it (acks from all in-sync replicas). The original is
   * committed after that. The listener holds the retry until it is due.
   */
  override async scheduleRetry(delivery: KafkaDelivery, retry: RetryState, delayMs: number): Promise<void> {
    const { headers } = readRetryHeaders(headersFromKafka(delivery.message.headers));
    await this.#kafka.producer.send({
      topic: this.retryTopic,
      acks: -1,
      messages: [{
        key: delivery.message.key,
        value: delivery.message.value,
        headers: { ...writeRetryHeaders(headers, retry), [retryDueHeader]: String(Date.now() + clampDelay(delayMs)), ...this.#origin(delivery) },
      }],
    });
  }

  /** Creates, connects and runs the group consumer; the supervisor calls it again when kafkajs gives the consumer up. */
  async #startConsumer(signal: AbortSignal): Promise<void> {
    const consumer = this.#kafka.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: this.#options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 200,
      maxBytesPerPartition: this.#options.maxBytesPerPartition ?? defaultMaxBytesPerPartition,
      maxBytes: this.#options.maxBytes ?? defaultMaxBytes,
      allowAutoTopicCreation: false,
      // Bounded retries: a commit with a stale generation can never succeed, and kafkajs restarts a
      // consumer whose operation failed for good (restartOnFailure), rejoining with a fresh one.
      retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
    this.#health?.follow(consumer);
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.#markersLoaded = undefined;
      this.#releaseRetries();
    });
    consumer.on(consumer.events.REBALANCING, () => this.#releaseRetries());
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // kafkajs does not restart after some crashes (say, no group coordinator while the broker
      // restarts): replace the consumer so consumption resumes without a service restart.
      if (payload.restart) {
        // kafkajs tries again by itself; a TLS or SASL failure would stay silent meanwhile: report it typed.
        reportSecurityCrash(this.runner.telemetry, `${this.topic} (group ${this.groupId})`, this.#kafka.security.failure(payload.error), (payload.error as { retryTime?: number }).retryTime);
        return;
      }
      if (this.#consumer !== consumer) return;
      this.#consumer = undefined;
      this.#releaseRetries();
      void consumer.disconnect().catch(() => undefined);
      this.#supervisor?.lost(this.#kafka.security.typed(payload.error));
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic, this.retryTopic], fromBeginning: this.#options.fromBeginning ?? true });
      if (signal.aborted) throw new ExtensionIsStopped(`listener of ${this.topic}`);
      this.#consumer = consumer;
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: this.context.config.maxWorkers,
        eachBatch: (payload) => this.#eachBatch(payload, consumer),
      });
      // Stopped while it started: leave the group again rather than consume after the stop.
      if (signal.aborted) throw new ExtensionIsStopped(`listener of ${this.topic}`);
    } catch (error) {
      if (this.#consumer === consumer) this.#consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      // A reconnection the broker refused (TLS, credentials) is reported by its typed name.
      throw this.#kafka.security.typed(error);
    }
  }

  #origin(delivery: KafkaDelivery): Record<string, string> {
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

  async #eachBatch(payload: EachBatchPayload, consumer: Consumer): Promise<void> {
    const { batch, heartbeat, isRunning, isStale, resolveOffset } = payload;
    if (batch.isEmpty() || this.#intakeStopped) return;
    await this.#loadMarkers();
    if (batch.topic === this.retryTopic) {
      await this.#takeRetries(payload, consumer);
      return;
    }
    const { topic, partition } = batch;
    const previous = this.#previouslyDelivered.get(`${topic}:${partition}`);
    // Record how far this partition is handed to workers before any of it runs.
    const metadata = `${deliveredMarker}${batch.lastOffset()}`;
    await withTimeout(consumer.commitOffsets([{ topic, partition, offset: batch.firstOffset() ?? batch.messages[0]!.offset, metadata }]), commitTimeoutMs);

    // Heartbeats keep the member in its group and prove the connection however long the calls take
    // (see ConsumerHealth). An abandoned call (stop timed out) stops them: the group then hands the
    // partition on.
    let rebalancing = false;
    const stopBeating = heartbeatWhileRunning(heartbeat, {
      skip: () => this.#abandoned,
      failed: (error) => {
        const { type, message } = (error ?? {}) as { type?: string; message?: string };
        if (type === 'REBALANCE_IN_PROGRESS' || /rebalanc/i.test(message ?? '')) rebalancing = true;
      },
    });
    const offsets = new ContiguousOffsets();
    // kafkajs's resolved offset follows the commits, so a hand-back is fetched again from there. The
    // commits are asked with the last finished offset of the prefix; the committed offset is the next.
    const commits = new PartitionCommits((last) => {
      if (!this.#abandoned) resolveOffset(last);
      return withTimeout(consumer.commitOffsets([{ topic, partition, offset: nextOffset(last), metadata }]), commitTimeoutMs);
    }, this.#commitIntervalMs);
    this.#batchCommits.add(commits);
    // Per key with a record handed on and not ended: the records of the key waiting behind it, in
    // order (records of one key run one after another). Records without a key are never chained.
    // Keys are held by their UTF-8 text, which tells valid UTF-8 keys apart one to one; a key that is
    // not valid UTF-8 (decoded with U+FFFD) is held apart, by its bytes as latin1.
    const chains = new Map<string, KeyChain>();
    let byteChains: Map<string, KeyChain> | undefined;
    // isStale (which builds a string each time) answered false while #seeks was this: still false.
    let freshAt = -1;
    const stillFresh = (): boolean => {
      const seeks = this.#seeks;
      if (freshAt === seeks) return true;
      if (isStale()) return false;
      freshAt = seeks;
      return true;
    };
    const idPrefix = `${topic}:${partition}:`;
    const highWatermark = batch.highWatermark;
    let gaveBack = false;
    let stale = false;
    // Records handed on and not ended; the batch ends once the loop is done and none is left.
    let open = 0;
    let handing = true;
    let failed: { error: unknown } | undefined;
    let ended!: () => void;
    let endedWith!: (error: unknown) => void;
    const allEnded = new Promise<void>((resolve, reject) => {
      ended = resolve;
      endedWith = reject;
    });
    // Twice maxWorkers: a freed worker finds the next record already waiting for it.
    const gate = (this.#dispatch ??= new ConcurrencyLimiter(2 * this.context.config.maxWorkers));
    /**
     * Runs the record handed on, then the records of its key queued behind it (`chain`), one after
     * another. The first took its place in the loop, in the same synchronous step as the loop's check
     * of isRunning and isStale; each next one takes a place when it starts, and checks them again.
     */
    const run = async (first: KafkaMessage, firstPosition: number, chain: KeyChain | undefined): Promise<void> => {
      let message = first;
      let position = firstPosition;
      let placed = true;
      for (;;) {
        try {
          const handedOver = placed ? undefined : gate.acquire();
          if (handedOver) await handedOver;
          try {
            if (gaveBack || this.#abandoned) {
              // Something before it was handed back (fetched again from there), or the stop gave up.
            } else if (rebalancing || (!placed && (!isRunning() || !stillFresh()))) {
              // A rebalance or stop is under way: leave the rest uncommitted so the batch ends quickly;
              // whoever owns the partition next fetches it again from the committed offset.
              stale = true;
              gaveBack = true;
            } else {
              const redelivered = previous !== undefined && BigInt(message.offset) <= previous;
              const delivery: KafkaDelivery = { topic, partition, message };
              const incoming = this.#incoming(delivery, redelivered, highWatermark, idPrefix + message.offset, chain?.text);
              if ((await this.deliver(delivery, incoming, this.#settlement)) === 'given-back') gaveBack = true;
              else {
                const last = offsets.finishAt(position);
                if (last !== undefined && !this.#abandoned) commits.advance(last);
              }
            }
          } finally {
            gate.release();
          }
        } catch (error) {
          if (failed === undefined) {
            failed = { error };
            if (!handing) endedWith(error);
          }
        }
        open -= 1;
        // The next record of the key is free to start (it is still counted open).
        if (chain === undefined || chain.next >= chain.messages.length) break;
        const index = chain.next;
        chain.next += 1;
        message = chain.messages[index]!;
        position = chain.positions[index]!;
        placed = false;
      }
      // The last record of its key ended: forget the key.
      if (chain !== undefined) chain.chains.delete(chain.key);
      if (open === 0 && !handing && failed === undefined) ended();
    };
    try {
      // isRunning and isStale change only while the loop waits or a record starts (core and the
      // target run): checked once after each, rather than once per record.
      let checked = false;
      for (const message of batch.messages) {
        if (this.#intakeStopped || gaveBack) break;
        if (!checked) {
          if (!isRunning() || !stillFresh()) break;
          checked = true;
        }
        const text = message.key ? message.key.toString('utf8') : undefined;
        let keyChains = chains;
        let key = text;
        if (text !== undefined && text.includes('\uFFFD')) {
          keyChains = byteChains ??= new Map();
          // latin1 maps each byte to one character: distinct keys stay distinct.
          key = message.key!.toString('latin1');
        }
        const chain = key === undefined ? undefined : keyChains.get(key);
        if (chain !== undefined) {
          // Behind an unfinished record of its key: it takes a place when it starts, so a slow key
          // holds one place, not every place, and other keys go on.
          chain.messages.push(message);
          chain.positions.push(offsets.track(message.offset));
          open += 1;
          continue;
        }
        // A record free to start takes its place here, so the rest of the batch waits unhanded while
        // workers are busy.
        const waiting = gate.acquire();
        if (waiting) {
          await waiting;
          if (!isRunning() || !stillFresh() || this.#intakeStopped || gaveBack) {
            gate.release();
            break;
          }
        }
        const position = offsets.track(message.offset);
        let own: KeyChain | undefined;
        if (key !== undefined) keyChains.set(key, (own = { key, text: text!, chains: keyChains, messages: [], positions: [], next: 0 }));
        open += 1;
        checked = false;
        void run(message, position, own);
      }
      handing = false;
      if (failed !== undefined) endedWith(failed.error);
      else if (open === 0) ended();
      await allEnded;
      await commits.settled();
    } finally {
      stopBeating();
      this.#batchCommits.delete(commits);
    }
    if (gaveBack && !stale && !this.#abandoned) {
      // Something was not finished: fetch it again from the first unfinished offset.
      const first = offsets.firstPending;
      if (first !== undefined && !this.#intakeStopped) {
        try {
          this.#seeks += 1;
          consumer.seek({ topic, partition, offset: first });
        } catch {
          // The partition moved to another member: it resumes from the committed offset.
        }
      }
    }
  }

  /**
   * Takes the records of a retry-topic batch: each runs when due, on a timer of its own, and the batch
   * ends at once (fetching moves on; commits follow the contiguous finished prefix). Memory stays
   * bounded: past maxHeldRetries records taken and unfinished, the partition is paused (the rest of
   * the batch is fetched again once it resumes).
   */
  async #takeRetries({ batch, resolveOffset, isRunning, isStale, pause }: EachBatchPayload, consumer: Consumer): Promise<void> {
    const { partition } = batch;
    let state = this.#retryPartitions.get(partition);
    if (!state) {
      const created: RetryPartition = {
        offsets: new ContiguousOffsets(),
        commits: new PartitionCommits((offset) =>
          withTimeout(
            consumer.commitOffsets([{ topic: this.retryTopic, partition, offset, metadata: `${deliveredMarker}${created.last ?? BigInt(offset) - 1n}` }]),
            commitTimeoutMs,
          ),
          this.#commitIntervalMs,
        ),
        timers: new Set(),
        taken: 0,
        paused: false,
        last: undefined,
        previous: this.#previouslyDelivered.get(`${this.retryTopic}:${partition}`),
      };
      this.#retryPartitions.set(partition, (state = created));
    }
    const maxHeld = this.#options.maxHeldRetries ?? 10_000;
    for (const message of batch.messages) {
      if (!isRunning() || isStale() || this.#intakeStopped || this.#retryPartitions.get(partition) !== state) return;
      const offset = BigInt(message.offset);
      if (state.last !== undefined && offset <= state.last) continue;
      if (this.heldRetries >= maxHeld) {
        const resume = pause();
        state.paused = true;
        state.resume = resume;
        return;
      }
      state.last = offset;
      state.taken += 1;
      state.offsets.track(message.offset);
      resolveOffset(message.offset);
      const due = Number(headersFromKafka(message.headers)[retryDueHeader] ?? 0);
      this.#runRetryWhenDue(state, { topic: this.retryTopic, partition, message }, Number.isFinite(due) ? due : 0);
    }
  }

  #runRetryWhenDue(state: RetryPartition, delivery: KafkaDelivery, due: number): void {
    const wait = due - Date.now();
    if (wait <= 0) {
      void this.#runRetry(state, delivery);
      return;
    }
    const timer = setTimeout(() => {
      if (!state.timers.delete(timer)) return;
      void this.#runRetry(state, delivery);
    }, clampDelay(wait));
    state.timers.add(timer);
  }

  async #runRetry(state: RetryPartition, delivery: KafkaDelivery): Promise<void> {
    const current = (): boolean => this.#retryPartitions.get(delivery.partition) === state;
    if (!current() || this.#intakeStopped) return;
    const redelivered = state.previous !== undefined && BigInt(delivery.message.offset) <= state.previous;
    const done = await this.#handle(delivery, redelivered, undefined);
    // Rebalanced meanwhile: the partition's next owner runs it (again) from the commit.
    if (!current()) return;
    if (!done && !this.#intakeStopped) {
      // Handed back after core's delay (the service failed to settle it): run it again.
      this.#runRetryWhenDue(state, delivery, 0);
      return;
    }
    this.#finishRetry(state);
    if (!done) return;
    const next = state.offsets.finish(delivery.message.offset);
    if (next !== undefined && !this.#abandoned) state.commits.advance(next);
  }

  /** One taken retry finished (or was dropped): resume a partition paused for too many. */
  #finishRetry(state: RetryPartition, count = 1): void {
    state.taken = Math.max(0, state.taken - count);
    const maxHeld = this.#options.maxHeldRetries ?? 10_000;
    if (this.heldRetries >= maxHeld / 2 || this.#intakeStopped) return;
    for (const paused of this.#retryPartitions.values()) {
      if (!paused.paused) continue;
      paused.paused = false;
      try {
        paused.resume?.();
      } catch {
        // The consumer is gone: its replacement fetches the partition afresh.
      }
    }
  }

  /** Drops the retries of `state` still waiting for their due time (uncommitted: fetched again later). */
  #dropWaiting(state: RetryPartition): void {
    for (const timer of state.timers) clearTimeout(timer);
    const dropped = state.timers.size;
    state.timers.clear();
    this.#finishRetry(state, dropped);
  }

  /** Drops every retry held in memory (rebalance, crash): uncommitted, they come back to the partition's owner. */
  #releaseRetries(): void {
    const states = [...this.#retryPartitions.values()];
    this.#retryPartitions.clear();
    for (const state of states) {
      for (const timer of state.timers) clearTimeout(timer);
      state.timers.clear();
      // What finished is committed now, while this member's generation still holds the partition,
      // rather than after commitIntervalMs (which could write behind its next owner's commits).
      void state.commits.settled();
      if (!state.paused) continue;
      state.paused = false;
      // Stopping: the whole topic stays paused (resuming one partition would un-pause it).
      if (this.#intakeStopped) continue;
      try {
        state.resume?.();
      } catch {
        // The consumer is gone: its replacement fetches the partition afresh.
      }
    }
  }

  /** Runs one record; true when it is finished (may be committed), false when it must be fetched again. */
  async #handle(delivery: KafkaDelivery, redelivered: boolean, highWatermark: string | undefined): Promise<boolean> {
    const { topic, partition, message } = delivery;
    const incoming = this.#incoming(delivery, redelivered, highWatermark, `${topic}:${partition}:${message.offset}`, message.key?.toString('utf8'));
    return (await this.deliver(delivery, incoming, this.#settlement)) !== 'given-back';
  }

  /** The record as core takes it; `id` is `topic:partition:offset`, `key` the record's key in UTF-8. */
  #incoming(delivery: KafkaDelivery, redelivered: boolean, highWatermark: string | undefined, id: string, key: string | undefined): IncomingMessage {
    const { message } = delivery;
    return {
      body: message.value ?? Buffer.alloc(0),
      headers: headersFromKafka(message.headers, retryDueHeader),
      channel: this.topic,
      format: this.#options.format,
      payloadFilter: this.#options.payloadFilter,
      id,
      meta: { redelivered, key, partition: delivery.partition, offset: message.offset, highWatermark },
    };
  }

  /** Produces the record to the dead-letter topic with where it came from; resolves once the broker took it. */
  async #deadLetter(delivery: KafkaDelivery, copy: DeadLetterCopy): Promise<void> {
    const headers = { ...copy.headers, ...this.#origin(delivery), 'x-consumer-group': this.groupId };
    await this.#kafka.producer.send({ topic: this.deadLetterTopic, acks: -1, messages: [{ key: delivery.message.key, value: delivery.message.value, headers }] });
  }
}
