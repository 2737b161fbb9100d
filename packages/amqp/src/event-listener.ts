import { listenerTargetName } from '@micro-framework/core';
import { AmqpListener, type AmqpBinding, type AmqpListenerOptions } from './amqp-listener.ts';
import { amqpOptionsFromConfig } from './amqp-options.ts';
import { eventExchange } from './exchange-declaration.ts';

export interface AmqpEventListenerOptions extends AmqpListenerOptions {
  /** The service that dispatches the event. */
  readonly sourceService: string;
  readonly eventName: string;
}

/**
 * Listens to an event of another service, with Nameko's and micro_framework's names and declarations:
 * topic exchange `<source>.events` (durable, auto-delete, as the Python services declare it), routing
 * key = event name, queue `<source>.<event>__<service>.<target>`. Instances
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
    const autoDelete = this.amqpOptions.eventExchangeAutoDelete ?? amqpOptionsFromConfig(this.context.config).eventExchangeAutoDelete;
    return { ...eventExchange(this.sourceService, autoDelete), routingKey: this.eventName };
  }
}
