import { randomUUID } from 'node:crypto';
import {
  ExtensionIsStopped,
  PendingCalls,
  RpcClient,
  RpcCommand,
  RpcNoResponders,
  RpcTargetNotFound,
  decodeJson,
  defaultRpcTimeoutMs,
  encodeJson,
  parseRpcReply,
  rpcRequestBody,
  rpcRequestHeaders,
  unwrapRpcReply,
  type RpcCallOptions,
} from '@micro-framework/core';
import type { ChannelModel, ConsumeMessage, Message } from 'amqplib';
import { AmqpConnection, PublishError } from './amqp-connection.ts';
import type { AmqpOptions } from './amqp-options.ts';
import { rpcExchange, rpcRequestRoutingKey, rpcRoutingKey } from './rpc-names.ts';

/**
 * Calls RPC targets over RabbitMQ with one exclusive reply queue per client, bound to `ufw-rpc` under
 * its own name. Requests are mandatory: a request no queue takes comes back at once, and the client
 * then asks the service for its targets to tell "service down" (RpcNoResponders) from "no such
 * target" (RpcTargetNotFound). Requests carry the caller's deadline (AMQP `expiration` and the
 * `x-rpc-deadline` header), so one still queued when the caller gave up is never run. Late replies of
 * timed-out calls are dropped.
 */
export class AmqpRpcClient extends RpcClient {
  readonly connection: AmqpConnection;
  readonly replyQueue = `rpc.reply-${randomUUID()}`;
  readonly #owned: boolean;
  readonly #pending = new PendingCalls();
  #ready: Promise<void> | undefined;
  #removeReturnListener: (() => void) | undefined;

  /** With `connection`, shares it; otherwise opens its own from `amqp` (closed by close()). */
  constructor(options: { connection?: AmqpConnection; amqp?: AmqpOptions } = {}) {
    super();
    this.#owned = !options.connection;
    this.connection = options.connection ?? new AmqpConnection(options.amqp ?? { url: process.env['AMQP_URL'] });
  }

  override async call<T = unknown>(service: string, target: string, args: readonly unknown[] = [], options: RpcCallOptions = {}): Promise<T> {
    await this.#setup();
    const timeoutMs = options.timeoutMs ?? defaultRpcTimeoutMs;
    const correlationId = randomUUID();
    const reply = this.#pending.wait(correlationId, service, target, timeoutMs);
    // The call ends with the reply; the confirm is not awaited first (a reply proves the request was
    // routed). A nack, a return (no queue bound) or a lost channel before the reply ends it with that error.
    this.connection
      .publish(rpcExchange, rpcRequestRoutingKey(service, target), encodeJson(rpcRequestBody(target, args, options.kwargs)), {
        replyTo: this.replyQueue,
        correlationId,
        mandatory: true,
        persistent: false,
        expiration: String(Math.max(1, Math.ceil(timeoutMs))),
        headers: rpcRequestHeaders(timeoutMs),
      })
      .catch((error: unknown) => this.#failed(correlationId, error));
    return (await reply) as T;
  }

  /** Rejects pending calls with ExtensionIsStopped and closes the connection if this client opened it. */
  override async close(): Promise<void> {
    this.#pending.rejectAll(new ExtensionIsStopped('AmqpRpcClient'));
    this.#removeReturnListener?.();
    if (this.#owned) await this.connection.stop();
  }

  #setup(): Promise<void> {
    this.#ready ??= (async () => {
      if (this.#owned) await this.connection.setup();
      this.#removeReturnListener = this.connection.onReturn((message) => this.#onReturned(message));
      await this.connection.attach((model) => this.#listen(model));
    })().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #listen(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    channel.on('error', () => undefined);
    await channel.assertExchange(rpcExchange, 'topic', { durable: true });
    await channel.assertQueue(this.replyQueue, { exclusive: true, autoDelete: true, durable: false });
    await channel.bindQueue(this.replyQueue, rpcExchange, this.replyQueue);
    await channel.consume(this.replyQueue, (message) => message && this.#onReply(message), { noAck: true });
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
      if (call.target === RpcCommand.listTargets || call.target === RpcCommand.getTarget) throw new RpcNoResponders(call.service, call.target);
      // Unroutable: is the service up without that target, or is nobody there?
      const timeoutMs = Math.max(1, Math.min(2_000, call.deadline - Date.now()));
      await this.listTargets(call.service, { timeoutMs }).catch((error: unknown) => {
        throw error instanceof RpcNoResponders ? new RpcNoResponders(call.service, call.target) : error;
      });
      throw new RpcTargetNotFound(call.service, call.target);
    });
  }
}
