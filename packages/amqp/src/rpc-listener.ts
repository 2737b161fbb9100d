import {
  Extension,
  RpcCommand,
  RpcDispatcher,
  RpcEntrypoint,
  defaultStopTimeoutMs,
  type RpcAnswer,
  type RpcEntrypointOptions,
  type StopOptions,
} from '@micro-framework/core';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { sharedAmqpConnection, type AmqpConnection } from './amqp-connection.ts';
import { headersFromAmqp } from './amqp-headers.ts';
import { isPythonCaller, pythonReplyBody } from './python-dialect.ts';
import { connectionKey, type AmqpOptions } from './amqp-options.ts';
import { rpcBroadcastRoutingKey, rpcExchange, rpcRoutingKey, rpcServiceQueueName, rpcTargetQueueName } from './rpc-names.ts';

type Answer = (message: ConsumeMessage) => Promise<RpcAnswer>;
type Track = (work: Promise<void>) => Promise<void>;

/**
 * Consumes one RPC queue and carries out the dispatcher's answer for each request: a reply goes
 * through `ufw-rpc` with the request's reply_to and correlation_id, then the request is acked; a
 * request whose caller gave up is acked without a reply; one refused because its route is stopping
 * is requeued for another instance. A reply RabbitMQ does not confirm is not retried (the caller's
 * timeout ends the call): the request is acked rather than run again and again. Consumers are
 * re-created after a reconnection.
 */
class RpcQueueConsumer {
  readonly #connection: AmqpConnection;
  readonly #queue: string;
  readonly #bindings: readonly string[];
  readonly #prefetch: number;
  readonly #answer: Answer;
  readonly #track: Track;
  #channel: Channel | undefined;
  #tag: string | undefined;
  #detach: (() => void) | undefined;
  #stopping = false;

  /** `track` counts each request, from receipt to its ack, as in-flight work of the owner. */
  constructor(connection: AmqpConnection, queue: string, bindings: readonly string[], prefetch: number, answer: Answer, track: Track = (work) => work) {
    this.#connection = connection;
    this.#queue = queue;
    this.#bindings = bindings;
    this.#prefetch = prefetch;
    this.#answer = answer;
    this.#track = track;
  }

  async start(): Promise<void> {
    this.#detach = await this.#connection.attach((model) => this.#consume(model));
  }

  /** True while a consumer runs on a live channel. */
  get isConsuming(): boolean {
    return this.#channel !== undefined && this.#tag !== undefined && this.#connection.isConnected;
  }

  /** Stops taking requests; the caller drains in-flight ones, then calls close(). */
  async cancel(): Promise<void> {
    this.#stopping = true;
    this.#detach?.();
    const tag = this.#tag;
    this.#tag = undefined;
    if (this.#channel && tag) await this.#channel.cancel(tag).catch(() => undefined);
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
      if (message) void this.#track(this.#settle(channel, message));
    });
    this.#channel = channel;
    this.#tag = consumerTag;
    // A stop that began while this consumer was being set up (a reconnection) cancels it now.
    if (this.#stopping) await this.cancel();
  }

  async #settle(channel: Channel, message: ConsumeMessage): Promise<void> {
    const answer = await this.#answer(message);
    try {
      if (answer.kind === 'give-back') {
        channel.reject(message, true);
        return;
      }
      const { replyTo, correlationId } = message.properties;
      if (answer.kind === 'reply' && replyTo) {
        await this.#connection
          .publish(rpcExchange, String(replyTo), isPythonCaller(headersFromAmqp(message.properties.headers)) ? pythonReplyBody(answer.body) : answer.body, {
            correlationId: correlationId === undefined ? undefined : String(correlationId),
            persistent: false,
          })
          .catch(() => undefined);
      }
      channel.ack(message);
    } catch {
      // The channel closed: RabbitMQ requeues the request by itself.
    }
  }
}

/**
 * Answers `__list_targets__` and `__get_target__` for every RPC target of the service instance, under
 * `<service>.<command>` and micro_framework's `<service>._broadcast.<command>`.
 */
class RpcIntrospection extends Extension {
  #consumer: RpcQueueConsumer | undefined;
  readonly #connection: AmqpConnection;

  constructor(connection: AmqpConnection) {
    super();
    this.#connection = connection;
  }

  override async start(): Promise<void> {
    const service = this.context.config.serviceName;
    const keys = [RpcCommand.listTargets, RpcCommand.getTarget].flatMap((command) => [rpcRoutingKey(service, command), rpcBroadcastRoutingKey(service, command)]);
    const dispatcher = new RpcDispatcher(this.runner);
    const queue = rpcServiceQueueName(service);
    this.#consumer = new RpcQueueConsumer(this.#connection, queue, keys, 10, (message) =>
      dispatcher.answer(message, { body: message.content, headers: headersFromAmqp(message.properties.headers), channel: queue }),
    );
    await this.#consumer.start();
  }

  override async stopIntake(): Promise<void> {
    await this.#consumer?.cancel();
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
 * retried nor dead-lettered; a request whose caller's deadline passed is dropped unanswered.
 */
export class AmqpRpcListener extends RpcEntrypoint<ConsumeMessage> {
  readonly #amqp: AmqpOptions | undefined;
  #consumer: RpcQueueConsumer | undefined;

  constructor(options: RpcEntrypointOptions & { amqp?: AmqpOptions } = {}) {
    super(options);
    this.#amqp = options.amqp;
  }

  get queueName(): string {
    return rpcTargetQueueName(this.context.config.serviceName, this.rpcName);
  }

  override get messagingSystem(): string {
    return 'rabbitmq';
  }

  override readiness(): string | undefined {
    return this.#consumer?.isConsuming ? undefined : `not consuming ${this.queueName}`;
  }

  override brokerNames(): Record<string, unknown> {
    return { target: this.rpcName, queue: this.queueName, exchange: rpcExchange, routingKey: rpcRoutingKey(this.context.config.serviceName, this.rpcName) };
  }

  override async setup(): Promise<void> {
    const connection = await sharedAmqpConnection(this.context, this.#amqp);
    await this.context.shared(`${connectionKey(connection.options)}:rpc-introspection`, () => new RpcIntrospection(connection));
    const service = this.context.config.serviceName;
    const keys = [rpcRoutingKey(service, this.rpcName)];
    const dispatcher = new RpcDispatcher(this.runner);
    this.#consumer = new RpcQueueConsumer(connection, this.queueName, keys, this.context.config.maxWorkers, (message) =>
      dispatcher.answer(
        message,
        {
          body: message.content,
          headers: headersFromAmqp(message.properties.headers),
          channel: this.queueName,
          meta: { redelivered: message.fields.redelivered },
        },
        this,
      ),
      (work) => this.track(work),
    );
  }

  override async start(): Promise<void> {
    await this.#consumer?.start();
  }

  override async stopIntake(): Promise<void> {
    await this.#consumer?.cancel();
  }

  override async stop(options: StopOptions = {}): Promise<void> {
    await this.stopIntake();
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
    await this.#consumer?.close();
  }
}
