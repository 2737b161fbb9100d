import { Entrypoint, type IncomingMessage } from '../entrypoint.ts';
import { defaultStopTimeoutMs, type StopOptions } from '../extension.ts';
import type { RetryState } from '../meta.ts';
import type { PayloadFormat } from '../payload-decoder.ts';
import { writeRetryHeaders } from '../retry-headers.ts';
import { listenerTargetName } from '../listener-naming.ts';
import type { Settlement } from '../settlement.ts';
import { InMemoryBroker, type MemoryConsumer, type MemoryDelivery } from './in-memory-broker.ts';

export interface InMemoryEventListenerOptions {
  /** Service that dispatches the event. */
  readonly sourceService: string;
  readonly eventName: string;
  /** Drops (acks without calling the target) payloads for which it returns false. */
  readonly payloadFilter?: (payload: unknown) => boolean;
  readonly format?: PayloadFormat;
  readonly broker?: InMemoryBroker;
}

/** The channel an event is published on; `<sourceService>.<eventName>`. */
export function eventChannel(sourceService: string, eventName: string): string {
  return `${sourceService}.${eventName}`;
}

/**
 * Listens to an event on the in-memory broker. Its queue `<source>.<event>__<service>.<target>` is
 * shared by every instance of the service (competing consumers) while other services get their own
 * copy (fan-out). Prefetch is the context's maxWorkers; a message is acked once its route finished
 * (success, callback done, retry scheduled or dead-lettered to `<queue>.dlq`); a stopped route's
 * message goes back to the queue.
 */
export class InMemoryEventListener extends Entrypoint<MemoryDelivery> {
  readonly sourceService: string;
  readonly eventName: string;
  readonly broker: InMemoryBroker;
  readonly #payloadFilter: ((payload: unknown) => boolean) | undefined;
  readonly #format: PayloadFormat;
  #consumer: MemoryConsumer | undefined;

  constructor(options: InMemoryEventListenerOptions) {
    super();
    this.sourceService = options.sourceService;
    this.eventName = options.eventName;
    this.broker = options.broker ?? InMemoryBroker.default;
    this.#payloadFilter = options.payloadFilter;
    this.#format = options.format ?? 'json';
  }

  get channel(): string {
    return eventChannel(this.sourceService, this.eventName);
  }

  get queueName(): string {
    return `${this.channel}__${this.context.config.serviceName}.${listenerTargetName(this.route)}`;
  }

  get deadLetterQueueName(): string {
    return `${this.queueName}.dlq`;
  }

  override get messagingSystem(): string {
    return 'in_memory';
  }

  override brokerNames(): Record<string, unknown> {
    return { channel: this.channel, queue: this.queueName, deadLetterQueue: this.deadLetterQueueName };
  }

  override async setup(): Promise<void> {
    this.broker.bindQueue(this.queueName, this.channel);
    this.broker.declareQueue(this.deadLetterQueueName);
  }

  override async start(): Promise<void> {
    const consumer = this.broker.consume(this.queueName, this.context.config.maxWorkers, (delivery) => {
      void this.deliver(delivery, this.#incoming(delivery), settlement);
    });
    const settlement: Settlement<MemoryDelivery> = {
      giveBackDelay: 'process',
      ack: (delivery) => consumer.ack(delivery),
      deadLetter: (delivery, copy) => this.broker.sendToQueue(this.deadLetterQueueName, { body: delivery.message.body, headers: copy.headers }),
      giveBack: (delivery) => consumer.giveBack(delivery),
    };
    this.#consumer = consumer;
  }

  /** Cancels the consumer: no new delivery reaches this listener. */
  override async stopIntake(): Promise<void> {
    this.#consumer?.cancel();
  }

  /** Stops intake, drains in-flight calls up to the timeout, then gives back what is left. */
  override async stop(options: StopOptions = {}): Promise<void> {
    const consumer = this.#consumer;
    if (!consumer) return;
    consumer.cancel();
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
    consumer.close();
    this.#consumer = undefined;
  }

  /** Re-sends the original body and headers to this listener's queue after the delay. */
  override async scheduleRetry(delivery: MemoryDelivery, retry: RetryState, delayMs: number): Promise<void> {
    await this.broker.sendToQueue(
      this.queueName,
      { ...delivery.message, headers: writeRetryHeaders(delivery.message.headers, retry) },
      delayMs,
    );
  }

  #incoming(delivery: MemoryDelivery): IncomingMessage {
    return {
      body: delivery.message.body,
      headers: delivery.message.headers,
      channel: this.channel,
      format: this.#format,
      payloadFilter: this.#payloadFilter,
      meta: { redelivered: delivery.redelivered, deliveryCount: delivery.deliveryCount, key: delivery.message.key },
    };
  }
}
