import { randomUUID } from 'node:crypto';
import {
  ExtensionIsStopped,
  MicroFrameworkError,
  PendingCalls,
  RpcClient,
  decodeJson,
  defaultRpcTimeoutMs,
  defaultTelemetry,
  encodeRpcRequest,
  parseRpcReply,
  rpcRequestHeaders,
  unwrapRpcReply,
  type RpcCallOptions,
} from '@micro-framework/core';
import type { ChannelModel, ConsumeMessage, Message } from 'amqplib';
import { AmqpConnection, PublishError } from './amqp-connection.ts';
import type { AmqpOptions } from './amqp-options.ts';
import { QueueConsumer } from './queue-consumer.ts';
import { rpcDirectReplyHeader, rpcExchange, rpcReplyQueuePrefix, rpcRequestRoutingKey, rpcRoutingKey } from './rpc-names.ts';

/**
 * The client's reply queue was lost while calls waited: RabbitMQ cancelled its consumer (the queue
 * was deleted). Their replies cannot arrive, whether or not their targets ran. (A reply channel
 * RabbitMQ closed with an error fails no call: the queue is still there, it is consumed again and
 * the calls keep waiting for their replies within their timeout.)
 */
export class ReplyQueueLost extends MicroFrameworkError {}

/**
 * Calls RPC targets over RabbitMQ with one exclusive reply queue per client, bound to `ufw-rpc` under
 * its own name; requests ask listeners of this package to reply straight to it through the default
 * exchange (rpcDirectReplyHeader), others reply through `ufw-rpc`. Requests are mandatory: a request no queue takes comes back at once, and the client
 * then asks the service for its targets to tell "service down" (RpcNoResponders) from "no such
 * target" (RpcTargetNotFound). Requests carry the caller's deadline (AMQP `expiration` and the
 * `x-rpc-deadline` header), so one still queued when the caller gave up is never run. Late replies of
 * timed-out calls are dropped. When RabbitMQ cancels the reply consumer (the reply queue was deleted),
 * the calls waiting fail at once with ReplyQueueLost and the queue is declared and consumed again;
 * calls made meanwhile wait for it (within their timeout). When RabbitMQ closes the reply channel
 * with an error, or a reconnection cannot declare the reply queue yet (RESOURCE_LOCKED: the broker
 * still holds it for the dropped connection), the queue is consumed again with backoff and the
 * connection's setup never fails for it: waiting calls keep waiting within their timeout.
 */
export class AmqpRpcClient extends RpcClient {
  readonly connection: AmqpConnection;
  readonly replyQueue = `${rpcReplyQueuePrefix}${randomUUID()}`;
  readonly #owned: boolean;
  readonly #pending = new PendingCalls();
  #ready: Promise<void> | undefined;
  #removeReturnListener: (() => void) | undefined;
  #replies: QueueConsumer | undefined;
  readonly #maxPayloadBytes: number | undefined;

  /**
   * With `connection`, shares it; otherwise opens its own from `amqp` (closed by close()).
   * `maxPayloadBytes`: every call's default limit on its encoded request (a call's own option wins).
   */
  constructor(options: { connection?: AmqpConnection; amqp?: AmqpOptions; maxPayloadBytes?: number } = {}) {
    super();
    this.#owned = !options.connection;
    this.connection = options.connection ?? new AmqpConnection(options.amqp ?? { url: process.env['AMQP_URL'] });
    this.#maxPayloadBytes = options.maxPayloadBytes;
  }

  /**
   * Calls `service.target`. A request larger than maxPayloadBytes (the call's, else the client's)
   * rejects with PayloadTooLarge before anything is sent or any connection opened.
   */
  override async call<T = unknown>(service: string, target: string, args: readonly unknown[] = [], options: RpcCallOptions = {}): Promise<T> {
    const body = encodeRpcRequest(target, args, { kwargs: options.kwargs, maxPayloadBytes: options.maxPayloadBytes ?? this.#maxPayloadBytes });
    // Set up once: later calls skip the wait for the settled setup.
    if (this.#replies === undefined) await this.#setup();
    let timeoutMs = options.timeoutMs ?? defaultRpcTimeoutMs;
    // The reply queue is being set up again (RabbitMQ cancelled its consumer): a reply would find no queue.
    const replies = this.#replies;
    const lost = replies?.lost;
    if (replies && lost !== undefined) {
      const began = performance.now();
      if (!(await replies.recovered(timeoutMs))) {
        throw new ReplyQueueLost(`RPC ${service}.${target} not sent: reply queue ${this.replyQueue} lost (${lost}) and not consuming again within ${timeoutMs} ms`);
      }
      timeoutMs = Math.max(1, Math.round(timeoutMs - (performance.now() - began)));
    }
    const correlationId = randomUUID();
    const headers = rpcRequestHeaders(timeoutMs);
    headers[rpcDirectReplyHeader] = '1';
    const reply = this.#pending.wait(correlationId, service, target, timeoutMs);
    // The call ends with the reply; the confirm is not awaited first (a reply proves the request was
    // routed). A nack, a return (no queue bound) or a lost channel before the reply ends it with that error.
    this.connection
      .publish(rpcExchange, rpcRequestRoutingKey(service, target), body, {
        replyTo: this.replyQueue,
        correlationId,
        mandatory: true,
        persistent: false,
        expiration: String(Math.max(1, Math.ceil(timeoutMs))),
        headers,
      })
      .catch((error: unknown) => this.#failed(correlationId, error));
    return (await reply) as T;
  }

  /**
   * Rejects pending calls with ExtensionIsStopped, stops consuming replies and closes the connection
   * if this client opened it.
   */
  override async close(): Promise<void> {
    this.#pending.rejectAll(new ExtensionIsStopped('AmqpRpcClient'));
    this.#removeReturnListener?.();
    await this.#replies?.close();
    if (this.#owned) await this.connection.stop();
  }

  #setup(): Promise<void> {
    this.#ready ??= (async () => {
      if (this.#owned) await this.connection.setup();
      this.#removeReturnListener ??= this.connection.onReturn((message) => this.#onReturned(message));
      const replies = new QueueConsumer({
        connection: this.connection,
        queue: this.replyQueue,
        noAck: true,
        declare: (model) => this.#declareReplyQueue(model),
        onChannel: () => (message) => this.#onReply(message),
        // Replies sent while the queue was gone are lost: the calls waiting for them end now. After a
        // channel closed with an error the queue is still there: its replies arrive once consumed again.
        onLost: (error) => {
          if (error.how === 'cancelled') this.#pending.rejectAll(new ReplyQueueLost(`${error.message}: the reply cannot arrive (the target may have run)`, { cause: error }));
        },
        telemetry: this.connection.isBound ? this.connection.runner.telemetry : defaultTelemetry(),
      });
      try {
        await replies.start();
      } catch (error) {
        await replies.close();
        throw error;
      }
      this.#replies = replies;
    })().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /** Declares the exclusive reply queue, bound to `ufw-rpc` under its name, on a short-lived channel of `model`. */
  async #declareReplyQueue(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    channel.on('error', () => undefined);
    try {
      await channel.assertExchange(rpcExchange, 'topic', { durable: true });
      await channel.assertQueue(this.replyQueue, { exclusive: true, autoDelete: true, durable: false });
      await channel.bindQueue(this.replyQueue, rpcExchange, this.replyQueue);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  #onReply(message: ConsumeMessage): void {
    const id = message.properties.correlationId;
    if (typeof id !== 'string') return;
    this.#pending.settle(id, (call) => unwrapRpcReply(parseRpcReply(decodeJson(message.content)), call.service, call.target));
  }

  /** A request that could not be published ends its call, unless it came back unroutable: #onReturned decides then. */
  #failed(id: string, error: unknown): void {
    if (error instanceof PublishError && error.reason === 'unroutable') return;
    this.#pending.reject(id, error);
  }

  #onReturned(message: Message): void {
    const id = message.properties.correlationId;
    if (typeof id !== 'string') return;
    const call = this.#pending.get(id);
    const plainKey = call && rpcRoutingKey(call.service, call.target);
    if (call && message.fields.routingKey !== plainKey && message.fields.routingKey === rpcRequestRoutingKey(call.service, call.target)) {
      // An introspection command nobody took by micro_framework's broadcast key: services of earlier
      // versions of this package bind only `<service>.<command>`. Asked once more there.
      const { headers, expiration, replyTo, correlationId } = message.properties;
      this.connection
        .publish(rpcExchange, plainKey!, message.content, { replyTo, correlationId, headers, expiration, mandatory: true, persistent: false })
        .catch((error: unknown) => this.#failed(id, error));
      return;
    }
    this.#pending.settle(id, async (call) => {
      // Unroutable: is the service up without that target, or is nobody there?
      return this.explainUnanswered(call.service, call.target, Math.max(1, Math.min(2_000, call.deadline - Date.now())));
    });
  }
}
