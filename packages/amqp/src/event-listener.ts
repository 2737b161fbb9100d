import { listenerTargetName } from '@micro-framework/core';
import { AmqpListener, type AmqpBinding, type AmqpListenerOptions } from './amqp-listener.ts';

export interface AmqpEventListenerOptions extends AmqpListenerOptions {
  /** The service that dispatches the event. */
  readonly sourceService: string;
  readonly eventName: string;
}

/** `<sourceService>.events`: the topic exchange a service's events are published to. */
export function eventExchangeName(sourceService: string): string {
  return `${sourceService}.events`;
}

/**
 * Listens to an event of another service, with Nameko's and micro_framework's names: topic exchange
 * `<source>.events`, routing key = event name, queue `<source>.<event>__<service>.<target>`. Instances
 * of one service share the queue (competing consumers); each service gets its own copy (fan-out).
 */
export class AmqpEventListener extends AmqpListener {
  readonly sourceService: string;
  readonly eventName: string;

  constructor(options: AmqpEventListenerOptions) {
    super(options);
    this.sourceService = options.sourceService;
    this.eventName = options.eventName;
  }

  get queueName(): string {
    return `${this.sourceService}.${this.eventName}__${this.context.config.serviceName}.${listenerTargetName(this.route)}`;
  }

  protected get binding(): AmqpBinding {
    return { exchange: eventExchangeName(this.sourceService), exchangeType: 'topic', routingKey: this.eventName };
  }
}
