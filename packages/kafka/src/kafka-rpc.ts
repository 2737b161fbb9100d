import { randomUUID } from 'node:crypto';
import {
  Extension,
  ExtensionIsStopped,
  PendingCalls,
  RpcClient,
  RpcEntrypoint,
  RpcNoResponders,
  RpcTargetNotFound,
  answerIntrospection,
  decodeJson,
  defaultRpcTimeoutMs,
  defaultStopTimeoutMs,
  encodeJson,
  parseRpcReply,
  parseRpcRequest,
  rpcEntrypoints,
  rpcErrorReply,
  rpcRequestBody,
  toError,
  unwrapRpcReply,
  type RpcCallOptions,
  type RpcEntrypointOptions,
  type RpcReplyBody,
  type StopOptions,
} from '@micro-framework/core';
import { Kafka, logLevel, type Consumer, type KafkaMessage } from 'kafkajs';
import { BatchingSender } from './batching-sender.ts';
import { sharedKafkaClient, type KafkaClientExtension } from './kafka-client.ts';
import { headersFromKafka } from './kafka-headers.ts';
import { brokersFromEnv, kafkaClientKey, type KafkaOptions } from './kafka-options.ts';

/** `<service>.rpc`: the request topic of a service; its instances share it as consumer group `<service>.rpc`. */
export function rpcRequestTopic(service: string): string {
  return `${service}.rpc`;
}

export const RpcHeader = { correlationId: 'x-correlation-id', replyTo: 'x-reply-to' } as const;

/** Consumes a service's request topic and answers through each request's reply topic. */
class KafkaRpcServer extends Extension {
  readonly #client: KafkaClientExtension;
  #consumer: Consumer | undefined;

  constructor(client: KafkaClientExtension) {
    super();
    this.#client = client;
  }

  override async start(): Promise<void> {
    const service = this.context.config.serviceName;
    const topic = rpcRequestTopic(service);
    await this.#client.ensureTopics([{ topic, numPartitions: 1 }]);
    const consumer = this.#client.kafka.consumer({ groupId: topic, maxWaitTimeInMs: 50, allowAutoTopicCreation: false });
    this.#consumer = consumer;
    await consumer.connect();
    // Requests sent while no instance ran are stale: their callers have timed out.
    await consumer.subscribe({ topics: [topic], fromBeginning: false });
    // The requests of a fetched batch are answered concurrently (each under its route's worker limit),
    // each reply sent as soon as it is ready; the next batch waits for the slowest of this one.
    await consumer.run({
      eachBatch: async ({ batch }) => {
        await Promise.all(batch.messages.map((message) => this.#answer(message)));
      },
    });
  }

  override async stop(): Promise<void> {
    await this.#consumer?.disconnect().catch(() => undefined);
    this.#consumer = undefined;
  }

  async #answer(message: KafkaMessage): Promise<void> {
    const headers = headersFromKafka(message.headers);
    const replyTo = headers[RpcHeader.replyTo];
    const correlationId = headers[RpcHeader.correlationId];
    let reply: RpcReplyBody | undefined;
    try {
      const request = parseRpcRequest(decodeJson(message.value ?? Buffer.alloc(0)));
      reply = answerIntrospection(this.runner, request);
      if (!reply) {
        const entrypoint = rpcEntrypoints(this.runner).get(request.command);
        reply = entrypoint
          ? await entrypoint.handleRequest(request, { headers, channel: rpcRequestTopic(this.context.config.serviceName) }, message)
          : rpcErrorReply(new RpcTargetNotFound(this.context.config.serviceName, request.command));
      }
    } catch (error) {
      if (error instanceof ExtensionIsStopped) return;
      reply = rpcErrorReply(toError(error));
    }
    if (!replyTo || !correlationId) return;
    await this.#client.sender.send(replyTo, { value: Buffer.from(encodeJson(reply)), headers: { [RpcHeader.correlationId]: correlationId } });
  }
}

/**
 * Exposes the route's target over RPC on Kafka: requests go to the service's request topic
 * `<service>.rpc` (consumed by one instance of the service), replies to the caller's reply topic with
 * the correlation id in headers.
 */
export class KafkaRpcListener extends RpcEntrypoint {
  readonly #kafka: KafkaOptions | undefined;

  constructor(options: RpcEntrypointOptions & { kafka?: KafkaOptions } = {}) {
    super(options);
    this.#kafka = options.kafka;
  }

  override async setup(): Promise<void> {
    const client = await sharedKafkaClient(this.context, this.#kafka);
    await this.context.shared(`${kafkaClientKey(client.options)}:rpc-server`, () => new KafkaRpcServer(client));
  }

  override async stop(options: StopOptions = {}): Promise<void> {
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
  }
}

/**
 * Calls RPC targets over Kafka with a reply topic of its own (`rpc.reply.<uuid>`, deleted by close()).
 * A service whose request topic does not exist fails fast with RpcNoResponders; a service that is down
 * while its topic exists can only be noticed at the deadline (RpcTimeout): Kafka cannot tell.
 */
export class KafkaRpcClient extends RpcClient {
  readonly replyTopic = `rpc.reply.${randomUUID()}`;
  readonly #kafka: Kafka;
  readonly #pending = new PendingCalls();
  #ready: Promise<{ consumer: Consumer }> | undefined;
  readonly #producer;
  readonly #sender: BatchingSender;
  readonly #admin;
  readonly #knownTopics = new Set<string>();

  constructor(options: { kafka?: KafkaOptions } = {}) {
    super();
    this.#kafka = new Kafka({ brokers: brokersFromEnv(), logLevel: logLevel.ERROR, ...options.kafka });
    this.#producer = this.#kafka.producer({ allowAutoTopicCreation: false });
    this.#sender = new BatchingSender(this.#producer);
    this.#admin = this.#kafka.admin();
  }

  override async call<T = unknown>(service: string, target: string, args: readonly unknown[] = [], options: RpcCallOptions = {}): Promise<T> {
    await this.#setup();
    const topic = rpcRequestTopic(service);
    if (!(await this.#topicExists(topic))) throw new RpcNoResponders(service, target);
    const timeoutMs = options.timeoutMs ?? defaultRpcTimeoutMs;
    const correlationId = randomUUID();
    const reply = this.#pending.wait(correlationId, service, target, timeoutMs);
    try {
      await this.#sender.send(topic, {
        value: Buffer.from(encodeJson(rpcRequestBody(target, args, options.kwargs))),
        headers: { [RpcHeader.correlationId]: correlationId, [RpcHeader.replyTo]: this.replyTopic },
      });
    } catch (error) {
      // Never sent: the call ends with the send's error, not at its timeout.
      this.#pending.reject(correlationId, error);
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
      await Promise.all([this.#producer.connect(), this.#admin.connect()]);
      await this.#admin.createTopics({ waitForLeaders: true, topics: [{ topic: this.replyTopic, numPartitions: 1 }] });
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
