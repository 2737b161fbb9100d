import {
  Extension,
  ExtensionIsStopped,
  RpcCommand,
  RpcEntrypoint,
  answerIntrospection,
  decodeJson,
  defaultStopTimeoutMs,
  encodeJson,
  parseRpcRequest,
  rpcErrorReply,
  toError,
  type RpcEntrypointOptions,
  type RpcReplyBody,
  type StopOptions,
} from '@micro-framework/core';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { sharedAmqpConnection, type AmqpConnection } from './amqp-connection.ts';
import { headersFromAmqp } from './amqp-headers.ts';
import { connectionKey, type AmqpOptions } from './amqp-options.ts';
import { rpcExchange, rpcRoutingKey, rpcServiceQueueName, rpcTargetQueueName } from './rpc-names.ts';

type RequestHandler = (request: ReturnType<typeof parseRpcRequest>, message: ConsumeMessage) => Promise<RpcReplyBody>;

/**
 * Consumes one RPC queue: decodes each request, answers through `ufw-rpc` with the request's reply_to
 * and correlation_id, and acks once the reply is confirmed. A request refused because the service is
 * stopping is requeued for another instance. Consumers are re-created after a reconnection.
 */
class RpcQueueConsumer {
  readonly #connection: AmqpConnection;
  readonly #queue: string;
  readonly #bindings: readonly string[];
  readonly #prefetch: number;
  readonly #handle: RequestHandler;
  #channel: Channel | undefined;
  #tag: string | undefined;
  #detach: (() => void) | undefined;
  #stopping = false;

  constructor(connection: AmqpConnection, queue: string, bindings: readonly string[], prefetch: number, handle: RequestHandler) {
    this.#connection = connection;
    this.#queue = queue;
    this.#bindings = bindings;
    this.#prefetch = prefetch;
    this.#handle = handle;
  }

  async start(): Promise<void> {
    this.#detach = await this.#connection.attach((model) => this.#consume(model));
  }

  /** Stops taking requests; the caller drains in-flight ones, then calls close(). */
  async cancel(): Promise<void> {
    this.#stopping = true;
    this.#detach?.();
    if (this.#channel && this.#tag) await this.#channel.cancel(this.#tag).catch(() => undefined);
  }

  async close(): Promise<void> {
    const channel = this.#channel;
    this.#channel = undefined;
    await channel?.close().catch(() => undefined);
  }

  async #consume(model: ChannelModel): Promise<void> {
    if (this.#stopping) return;
    const channel = await model.createChannel();
    channel.on('error', () => undefined);
    await channel.assertExchange(rpcExchange, 'topic', { durable: true });
    await channel.assertQueue(this.#queue, { durable: true });
    for (const key of this.#bindings) await channel.bindQueue(this.#queue, rpcExchange, key);
    await channel.prefetch(this.#prefetch);
    const { consumerTag } = await channel.consume(this.#queue, (message) => {
      if (message) void this.#answer(channel, message);
    });
    this.#channel = channel;
    this.#tag = consumerTag;
  }

  async #answer(channel: Channel, message: ConsumeMessage): Promise<void> {
    let reply: RpcReplyBody;
    try {
      reply = await this.#handle(parseRpcRequest(decodeJson(message.content)), message);
    } catch (error) {
      if (error instanceof ExtensionIsStopped) {
        try { channel.reject(message, true); } catch { /* channel gone: requeued by RabbitMQ */ }
        return;
      }
      reply = rpcErrorReply(toError(error));
    }
    const { replyTo, correlationId } = message.properties;
    try {
      if (replyTo) {
        await this.#connection.publish(rpcExchange, String(replyTo), encodeJson(reply), {
          correlationId: correlationId === undefined ? undefined : String(correlationId),
          persistent: false,
        });
      }
      channel.ack(message);
    } catch {
      try { channel.reject(message, true); } catch { /* channel gone: requeued by RabbitMQ */ }
    }
  }
}

/** Answers `__list_targets__` and `__get_target__` for every RPC target of the service instance. */
class RpcIntrospection extends Extension {
  #consumer: RpcQueueConsumer | undefined;
  readonly #connection: AmqpConnection;

  constructor(connection: AmqpConnection) {
    super();
    this.#connection = connection;
  }

  override async start(): Promise<void> {
    const service = this.context.config.serviceName;
    const keys = [RpcCommand.listTargets, RpcCommand.getTarget].map((command) => rpcRoutingKey(service, command));
    this.#consumer = new RpcQueueConsumer(this.#connection, rpcServiceQueueName(service), keys, 10, async (request) => {
      const reply = answerIntrospection(this.runner, request);
      if (!reply) throw new Error(`unexpected command ${request.command} on ${rpcServiceQueueName(service)}`);
      return reply;
    });
    await this.#consumer.start();
  }

  override async stop(): Promise<void> {
    await this.#consumer?.cancel();
    await this.#consumer?.close();
  }
}

/**
 * Exposes the route's target over RPC on RabbitMQ, wire-compatible with micro_framework: queue
 * `rpc-<service>-<target>` bound to `ufw-rpc` with `<service>.<target>`; replies go to `ufw-rpc` with
 * the request's reply_to as routing key and its correlation_id. A target error is replied, never
 * retried nor dead-lettered.
 */
export class RpcListener extends RpcEntrypoint {
  readonly #amqp: AmqpOptions | undefined;
  #consumer: RpcQueueConsumer | undefined;

  constructor(options: RpcEntrypointOptions & { amqp?: AmqpOptions } = {}) {
    super(options);
    this.#amqp = options.amqp;
  }

  get queueName(): string {
    return rpcTargetQueueName(this.context.config.serviceName, this.rpcName);
  }

  override async setup(): Promise<void> {
    const connection = await sharedAmqpConnection(this.context, this.#amqp);
    await this.context.shared(`${connectionKey(connection.options)}:rpc-introspection`, () => new RpcIntrospection(connection));
    const service = this.context.config.serviceName;
    const keys = [rpcRoutingKey(service, this.rpcName)];
    this.#consumer = new RpcQueueConsumer(connection, this.queueName, keys, this.context.config.maxWorkers, (request, message) =>
      this.handleRequest(
        request,
        { headers: headersFromAmqp(message.properties.headers), channel: this.queueName, redelivered: message.fields.redelivered },
        message,
      ),
    );
  }

  override async start(): Promise<void> {
    await this.#consumer?.start();
  }

  override async stop(options: StopOptions = {}): Promise<void> {
    await this.#consumer?.cancel();
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
    await this.#consumer?.close();
  }
}
