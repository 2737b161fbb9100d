import {
  Extension,
  RpcCommand,
  RpcDispatcher,
  RpcEntrypoint,
  defaultStopTimeoutMs,
  type Headers,
  type RpcAnswer,
  type RpcEntrypointOptions,
  type StopOptions,
  type Telemetry,
} from '@micro-framework/core';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { sharedAmqpConnection, type AmqpConnection } from './amqp-connection.ts';
import { AmqpAckWindow } from './ack-window.ts';
import { headersFromAmqp } from './amqp-headers.ts';
import { isPythonCaller, pythonReplyBody } from './python-dialect.ts';
import { connectionKey, type AmqpOptions } from './amqp-options.ts';
import { QueueConsumer } from './queue-consumer.ts';
import {
  rpcBroadcastRoutingKey,
  rpcDirectReplyHeader,
  rpcExchange,
  isRpcReplyQueueName,
  rpcRoutingKey,
  rpcServiceQueueName,
  rpcTargetQueueName,
} from './rpc-names.ts';

type Answer = (message: ConsumeMessage, headers: Headers) => Promise<RpcAnswer>;
type Track = (work: Promise<void>) => Promise<void>;

/**
 * Consumes one RPC queue and carries out the dispatcher's answer for each request: a reply goes
 * with the request's correlation_id to its reply_to (see replyExchange), then the request is acked; a
 * request whose caller gave up is acked without a reply; one refused because its route is stopping
 * is requeued for another instance. A reply RabbitMQ does not confirm is not retried (the caller's
 * timeout ends the call): the request is acked rather than run again and again. The queue is
 * declared and consumed again after a reconnection, and when RabbitMQ cancels the consumer (the
 * queue was deleted) or closes its channel (see QueueConsumer).
 */
class RpcQueueConsumer {
  readonly #connection: AmqpConnection;
  readonly #queue: string;
  readonly #bindings: readonly string[];
  readonly #answer: Answer;
  readonly #track: Track;
  readonly #consumer: QueueConsumer;
  /** The acks of the channel consumed on last (see AmqpAckWindow): flushed before the channel closes. */
  #acks: AmqpAckWindow | undefined;

  /** `track` counts each request, from receipt to its ack, as in-flight work of the owner. */
  constructor(
    connection: AmqpConnection,
    telemetry: Telemetry,
    queue: string,
    bindings: readonly string[],
    prefetch: number,
    answer: Answer,
    track: Track = (work) => work,
  ) {
    this.#connection = connection;
    this.#queue = queue;
    this.#bindings = bindings;
    this.#answer = answer;
    this.#track = track;
    this.#consumer = new QueueConsumer({
      connection,
      queue,
      prefetch,
      telemetry,
      declare: (model) => this.#declare(model),
      onChannel: (channel) => {
        // A request is acked only once its reply is confirmed; the acks of requests finished in the
        // same event-loop turn go as one `multiple` ack.
        const acks = new AmqpAckWindow(channel);
        this.#acks = acks;
        return (message) => {
          acks.delivered(message);
          void this.#track(this.#settle(channel, acks, message));
        };
      },
    });
  }

  async start(): Promise<void> {
    await this.#consumer.start();
  }

  /** Why requests are not taken now (the consumer is being set up again), or undefined while it consumes. */
  readiness(): string | undefined {
    return this.#connection.isConnected ? this.#consumer.readiness() : 'no connection to RabbitMQ';
  }

  /** Stops taking requests (and setting the consumer up again); the caller drains in-flight ones, then calls close(). */
  async cancel(): Promise<void> {
    await this.#consumer.cancel();
  }

  /** Sends the acks still pending (in-flight requests drained first), then closes the channel. */
  async close(): Promise<void> {
    this.#acks?.flush();
    await this.#consumer.close();
  }

  /** Declares `ufw-rpc`, the queue and its bindings on a short-lived channel of `model`. */
  async #declare(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    channel.on('error', () => undefined);
    try {
      await channel.assertExchange(rpcExchange, 'topic', { durable: true });
      await channel.assertQueue(this.#queue, { durable: true });
      for (const key of this.#bindings) await channel.bindQueue(this.#queue, rpcExchange, key);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  async #settle(channel: Channel, acks: AmqpAckWindow, message: ConsumeMessage): Promise<void> {
    const headers = headersFromAmqp(message.properties.headers);
    const answer = await this.#answer(message, headers);
    try {
      if (answer.kind === 'give-back') {
        acks.settledElsewhere(message);
        channel.reject(message, true);
        return;
      }
      const { replyTo, correlationId } = message.properties;
      if (answer.kind === 'reply' && replyTo) {
        const to = String(replyTo);
        await this.#connection
          .publish(replyExchange(headers, to), to, isPythonCaller(headers) ? pythonReplyBody(answer.body) : answer.body, {
            correlationId: correlationId === undefined ? undefined : String(correlationId),
            persistent: false,
          })
          .catch(() => undefined);
      }
      acks.ack(message);
    } catch {
      // The channel closed: RabbitMQ requeues the request by itself.
    }
  }
}

/**
 * The exchange a reply goes through: the default one (straight to the queue named by reply_to) when
 * the caller asked for it and reply_to has the exact shape of this package's reply queues, else
 * `ufw-rpc`. The shape check keeps a caller from having replies put into any other queue (Nameko's
 * reply queues share the `rpc.reply-` prefix).
 */
function replyExchange(headers: Headers, replyTo: string): string {
  return headers[rpcDirectReplyHeader] === '1' && isRpcReplyQueueName(replyTo) ? '' : rpcExchange;
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
    this.#consumer = new RpcQueueConsumer(this.#connection, this.runner.telemetry, queue, keys, 10, (message, headers) =>
      dispatcher.answerIntrospection({ body: message.content, headers, channel: queue }),
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
    return this.#consumer ? this.#consumer.readiness() : `not consuming ${this.queueName}`;
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
    this.#consumer = new RpcQueueConsumer(connection, this.runner.telemetry, this.queueName, keys, this.context.config.maxWorkers, (message, headers) =>
      dispatcher.answer(
        message,
        {
          body: message.content,
          headers,
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
