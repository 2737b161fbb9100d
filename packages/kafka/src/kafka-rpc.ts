import { randomUUID } from 'node:crypto';
import {
  ConsumerSupervisor,
  Extension,
  ExtensionIsStopped,
  PendingCalls,
  RpcClient,
  RpcDispatcher,
  RpcEntrypoint,
  RpcNoResponders,
  decodeJson,
  defaultRpcTimeoutMs,
  defaultStopTimeoutMs,
  encodeRpcRequest,
  parseRpcReply,
  rpcRequestHeaders,
  settledWithin,
  unwrapRpcReply,
  type RpcCallOptions,
  type RpcEntrypointOptions,
  type RpcReplyBody,
  type StopOptions,
} from '@micro-framework/core';
import { Kafka, logLevel, type Consumer, type EachBatchPayload, type KafkaMessage } from 'kafkajs';
import { BatchingSender } from './batching-sender.ts';
import { ConsumerHealth, heartbeatWhileRunning } from './consumer-health.ts';
import { ContiguousOffsets } from './contiguous-offsets.ts';
import { sharedKafkaClient, type KafkaClientExtension } from './kafka-client.ts';
import { headersFromKafka } from './kafka-headers.ts';
import { brokersFromEnv, brokersLabel, kafkaClientKey, type KafkaOptions } from './kafka-options.ts';
import { KafkaSecurity, reportSecurityCrash } from './kafka-security.ts';
import { ReplySender } from './reply-sender.ts';
import { createTopicsAndWait } from './topic-creation.ts';

/** `<service>.rpc`: the request topic of a service; its instances share it as consumer group `<service>.rpc`. */
export function rpcRequestTopic(service: string): string {
  return `${service}.rpc`;
}

export const RpcHeader = { correlationId: 'x-correlation-id', replyTo: 'x-reply-to' } as const;

/** How long a starting RPC server waits for its consumer to join and fetch before start resolves anyway. */
const serverReadyTimeoutMs = 30_000;

/** How long a Kafka RPC request group waits for an instance that died: 10 s (kafkajs's default is 30 s). */
export const defaultRpcSessionTimeoutMs = 10_000;

/**
 * Consumes a service's request topic and answers through each request's reply topic. The requests of
 * a batch are answered concurrently (each under its route's worker limit), each reply sent as soon as
 * it is ready; only the contiguous prefix of settled requests is resolved (and auto-committed), so a
 * request refused because its route is stopping is fetched again by the partition's next owner. A
 * request whose caller gave up is committed unanswered. Nothing a request does escapes the batch.
 * A consumer kafkajs gives up on is replaced; its health (see ConsumerHealth) is the readiness of
 * every RPC route it serves.
 */
class KafkaRpcServer extends Extension {
  readonly #client: KafkaClientExtension;
  #consumer: Consumer | undefined;
  #health: ConsumerHealth | undefined;
  #supervisor: ConsumerSupervisor | undefined;
  #dispatcher: RpcDispatcher | undefined;
  #replies: ReplySender | undefined;
  #intakeStopped = false;

  readonly #sessionTimeoutMs: number;

  /** `sessionTimeoutMs`: how long the group waits for an instance that died before another takes its requests. */
  constructor(client: KafkaClientExtension, options: { sessionTimeoutMs?: number } = {}) {
    super();
    this.#client = client;
    this.#sessionTimeoutMs = options.sessionTimeoutMs ?? defaultRpcSessionTimeoutMs;
  }

  get #topic(): string {
    return rpcRequestTopic(this.context.config.serviceName);
  }

  override async start(): Promise<void> {
    const topic = this.#topic;
    this.#dispatcher = new RpcDispatcher(this.runner);
    this.#replies = new ReplySender(this.#client.kafka);
    await this.#client.ensureTopics([{ topic, numPartitions: 1 }]);
    const telemetry = this.runner.telemetry;
    this.#health = new ConsumerHealth({ name: `request consumer of ${topic}`, broker: brokersLabel(this.#client.options), telemetry });
    this.#supervisor = new ConsumerSupervisor({ start: (signal) => this.#startConsumer(signal), name: `${topic} (group ${topic})`, telemetry });
    await this.#supervisor.start();
  }

  /** Why requests cannot be taken now: the consumer stopped, crashed, is being replaced or hears nothing from Kafka. */
  readiness(): string | undefined {
    if (this.#intakeStopped) return `request consumer of ${this.#topic} stopped`;
    if (!this.#consumer) return `request consumer of ${this.#topic} is being replaced`;
    return this.#health?.readiness();
  }

  /** Stops fetching requests (and replacing the consumer); those in flight are answered. */
  override async stopIntake(): Promise<void> {
    this.#intakeStopped = true;
    void this.#supervisor?.stop();
    this.#health?.stop();
    try {
      this.#consumer?.pause([{ topic: this.#topic }]);
    } catch {
      // Not running: nothing is fetched.
    }
  }

  override async stop(options: StopOptions = {}): Promise<void> {
    await this.stopIntake();
    // A replacement being connected gives up at its next step.
    if (this.#supervisor) await settledWithin(this.#supervisor.stop(), options.timeoutMs ?? defaultStopTimeoutMs);
    const consumer = this.#consumer;
    this.#consumer = undefined;
    await consumer?.disconnect().catch(() => undefined);
    await this.#replies?.close();
  }

  /**
   * Creates, connects and runs the request consumer; the supervisor calls it again when kafkajs gives
   * the consumer up. A new group starts at the end: requests sent before any instance ran are stale.
   * It resolves only once the consumer joined and fetched (its offsets are set): a request sent after
   * that is never skipped.
   */
  async #startConsumer(signal: AbortSignal): Promise<void> {
    const topic = this.#topic;
    const consumer = this.#client.kafka.consumer({
      groupId: topic,
      maxWaitTimeInMs: 50,
      heartbeatInterval: 1_000,
      sessionTimeout: this.#sessionTimeoutMs,
      allowAutoTopicCreation: false,
    });
    this.#health?.follow(consumer);
    let crashed: (error: unknown) => void = () => undefined;
    const crashing = new Promise<never>((_resolve, reject) => (crashed = reject));
    crashing.catch(() => undefined);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) crashed(payload.error);
      // kafkajs does not restart after some crashes: replace the consumer so requests are answered again.
      if (payload.restart) {
        // kafkajs tries again by itself; a TLS or SASL failure would stay silent meanwhile: report it typed.
        reportSecurityCrash(this.runner.telemetry, `request consumer of ${topic}`, this.#client.security.failure(payload.error), (payload.error as { retryTime?: number }).retryTime);
        return;
      }
      if (this.#consumer !== consumer) return;
      this.#consumer = undefined;
      void consumer.disconnect().catch(() => undefined);
      this.#supervisor?.lost(this.#client.security.typed(payload.error));
    });
    const fetching = new Promise<void>((resolve) => {
      const stop = consumer.on(consumer.events.FETCH, () => {
        stop();
        resolve();
      });
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: false });
      if (signal.aborted) throw new ExtensionIsStopped(`RPC server of ${topic}`);
      this.#consumer = consumer;
      await consumer.run({ eachBatchAutoResolve: false, eachBatch: (payload) => this.#eachBatch(payload) });
      // Stopped while it started: leave the group again rather than consume after the stop.
      if (signal.aborted) throw new ExtensionIsStopped(`RPC server of ${topic}`);
      // Until the first fetch, or a crash kafkajs gives up on, or a stop, whichever comes first.
      const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      await settledWithin(Promise.race([fetching, crashing, stopped]), serverReadyTimeoutMs);
      await Promise.race([crashing, Promise.resolve()]);
      if (this.#consumer !== consumer) throw new ExtensionIsStopped(`RPC server of ${topic}: the request consumer ended while it started`);
      if (signal.aborted) throw new ExtensionIsStopped(`RPC server of ${topic}`);
    } catch (error) {
      if (this.#consumer === consumer) this.#consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      // A reconnection the broker refused (TLS, credentials) is reported by its typed name.
      throw this.#client.security.typed(error);
    }
  }

  async #eachBatch({ batch, resolveOffset, heartbeat }: EachBatchPayload): Promise<void> {
    if (this.#intakeStopped) return;
    const offsets = new ContiguousOffsets();
    for (const message of batch.messages) offsets.track(message.offset);
    // Slow targets keep the member in its group, and its answered heartbeats prove the connection.
    const stopBeating = heartbeatWhileRunning(heartbeat, { skip: () => this.#intakeStopped });
    try {
      await Promise.all(
        batch.messages.map(async (message) => {
          if (!(await this.#answer(message, batch.topic))) return;
          const next = offsets.finish(message.offset);
          if (next !== undefined) resolveOffset(String(BigInt(next) - 1n));
        }),
      );
    } finally {
      stopBeating();
    }
  }

  /** Answers one request; false when it was handed back (its route is stopping). Never rejects. */
  async #answer(message: KafkaMessage, topic: string): Promise<boolean> {
    const headers = headersFromKafka(message.headers);
    const answer = await this.#dispatcher!.answer(message, { body: message.value ?? Buffer.alloc(0), headers, channel: topic });
    if (answer.kind === 'give-back') return false;
    const replyTo = headers[RpcHeader.replyTo];
    const correlationId = headers[RpcHeader.correlationId];
    if (answer.kind === 'reply' && replyTo && correlationId) {
      // A reply the broker does not take is not retried: the caller's timeout ends the call.
      await this.#replies!.send(replyTo, { value: Buffer.from(answer.body), headers: { [RpcHeader.correlationId]: correlationId } }).catch(() => undefined);
    }
    return true;
  }
}

/**
 * Exposes the route's target over RPC on Kafka: requests go to the service's request topic
 * `<service>.rpc` (consumed by one instance of the service), replies to the caller's reply topic with
 * the correlation id in headers. A request whose caller's deadline passed is not run.
 */
export class KafkaRpcListener extends RpcEntrypoint<KafkaMessage> {
  readonly #kafka: KafkaOptions | undefined;
  readonly #sessionTimeoutMs: number | undefined;
  #server: KafkaRpcServer | undefined;

  /**
   * `sessionTimeoutMs` (default 10 s, the broker's minimum is 6 s by default): how long the request
   * group waits for an instance that died (its requests wait that long, and so does the start of
   * the next instance). The RPC routes of a context share one request consumer: the first one's
   * setting counts.
   */
  constructor(options: RpcEntrypointOptions & { kafka?: KafkaOptions; sessionTimeoutMs?: number } = {}) {
    super(options);
    this.#kafka = options.kafka;
    this.#sessionTimeoutMs = options.sessionTimeoutMs;
  }

  override get messagingSystem(): string {
    return 'kafka';
  }

  override brokerNames(): Record<string, unknown> {
    return { target: this.rpcName, topic: rpcRequestTopic(this.context.config.serviceName) };
  }

  /** The readiness of the server's request consumer, which takes the requests of every RPC route of the context. */
  override readiness(): string | undefined {
    return this.#server ? this.#server.readiness() : 'RPC server is not started';
  }

  override async setup(): Promise<void> {
    const client = await sharedKafkaClient(this.context, this.#kafka);
    this.#server = await this.context.shared(`${kafkaClientKey(client.options)}:rpc-server`, () => new KafkaRpcServer(client, { sessionTimeoutMs: this.#sessionTimeoutMs }));
  }

  override async stop(options: StopOptions = {}): Promise<void> {
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
  }
}

/**
 * Calls RPC targets over Kafka with a reply topic of its own (`rpc.reply.<uuid>`, deleted by close());
 * each request carries its deadline (`x-rpc-deadline`).
 * A service whose request topic does not exist fails fast with RpcNoResponders; a service that is down
 * while its topic exists can only be noticed at the deadline (RpcTimeout): Kafka cannot tell.
 * The first call connects: a wrong CA or refused credentials reject it with TlsHandshakeFailed or
 * AuthenticationFailed (not retried), an insecure configuration with InsecureCredentials.
 */
export class KafkaRpcClient extends RpcClient {
  readonly replyTopic = `rpc.reply.${randomUUID()}`;
  readonly #security: KafkaSecurity;
  readonly #maxPayloadBytes: number | undefined;
  readonly #kafka: Kafka;
  readonly #pending = new PendingCalls();
  #ready: Promise<{ consumer: Consumer }> | undefined;
  readonly #producer;
  readonly #sender: BatchingSender;
  readonly #admin;
  readonly #knownTopics = new Set<string>();

  /** `maxPayloadBytes`: every call's default limit on its encoded request (a call's own option wins; see RpcCallOptions). */
  constructor(options: { kafka?: KafkaOptions; maxPayloadBytes?: number } = {}) {
    super();
    this.#security = new KafkaSecurity(options.kafka ?? {}, { brokers: brokersFromEnv(), logLevel: logLevel.ERROR });
    this.#maxPayloadBytes = options.maxPayloadBytes;
    this.#kafka = new Kafka(this.#security.config);
    this.#producer = this.#kafka.producer({ allowAutoTopicCreation: false });
    this.#sender = new BatchingSender(this.#producer);
    this.#admin = this.#kafka.admin();
  }

  /**
   * Calls `target` of `service` and resolves with its result. A request larger than maxPayloadBytes
   * (the call's, else the client's) rejects with PayloadTooLarge before anything is sent or connected.
   */
  override async call<T = unknown>(service: string, target: string, args: readonly unknown[] = [], options: RpcCallOptions = {}): Promise<T> {
    const body = encodeRpcRequest(target, args, { kwargs: options.kwargs, maxPayloadBytes: options.maxPayloadBytes ?? this.#maxPayloadBytes });
    await this.#setup();
    const topic = rpcRequestTopic(service);
    if (!(await this.#topicExists(topic))) throw new RpcNoResponders(service, target);
    const timeoutMs = options.timeoutMs ?? defaultRpcTimeoutMs;
    const correlationId = randomUUID();
    const reply = this.#pending.wait(correlationId, service, target, timeoutMs);
    try {
      await this.#sender.send(topic, {
        value: Buffer.from(body),
        headers: { ...rpcRequestHeaders(timeoutMs), [RpcHeader.correlationId]: correlationId, [RpcHeader.replyTo]: this.replyTopic },
      });
    } catch (error) {
      // Never sent: the call ends with the send's error, not at its timeout.
      this.#pending.reject(correlationId, this.#security.typed(error));
    }
    return unwrapRpcReply((await reply) as RpcReplyBody, service, target) as T;
  }

  /** Rejects pending calls, stops consuming replies and deletes the reply topic. */
  override async close(): Promise<void> {
    this.#pending.rejectAll(new ExtensionIsStopped('KafkaRpcClient'));
    const ready = this.#ready;
    this.#ready = undefined;
    if (!ready) return;
    const { consumer } = await ready.catch(() => ({ consumer: undefined }));
    await consumer?.disconnect().catch(() => undefined);
    await this.#admin.deleteTopics({ topics: [this.replyTopic] }).catch(() => undefined);
    await Promise.allSettled([this.#producer.disconnect(), this.#admin.disconnect()]);
  }

  async #topicExists(topic: string): Promise<boolean> {
    if (this.#knownTopics.has(topic)) return true;
    const topics = await this.#admin.listTopics();
    for (const name of topics) this.#knownTopics.add(name);
    return this.#knownTopics.has(topic);
  }

  #setup(): Promise<{ consumer: Consumer }> {
    this.#ready ??= (async () => {
      await this.#security.connect(async () => {
        await Promise.all([this.#producer.connect(), this.#admin.connect()]);
      });
      await createTopicsAndWait(this.#admin, [{ topic: this.replyTopic, numPartitions: 1 }]);
      const consumer = this.#kafka.consumer({ groupId: this.replyTopic, maxWaitTimeInMs: 50 });
      await consumer.connect();
      await consumer.subscribe({ topics: [this.replyTopic], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const id = headersFromKafka(message.headers)[RpcHeader.correlationId];
          if (id) this.#pending.settle(id, () => parseRpcReply(decodeJson(message.value ?? Buffer.alloc(0))));
        },
      });
      return { consumer };
    })();
    this.#ready.catch(() => (this.#ready = undefined));
    return this.#ready;
  }
}
