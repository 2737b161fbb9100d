import type { Channel } from 'amqplib';

/** An exchange to declare: how micro_framework and Nameko declare theirs unless told otherwise. */
export interface ExchangeDeclaration {
  readonly exchange: string;
  readonly exchangeType: string;
  /** Deleted by RabbitMQ once its last binding goes. Python services declare event exchanges so. */
  readonly autoDelete?: boolean;
}

/** `<sourceService>.events`: the topic exchange a service's events are published to. */
export function eventExchangeName(sourceService: string): string {
  return `${sourceService}.events`;
}

/**
 * An events exchange as micro_framework declares it (topic, durable, auto-delete unless `autoDelete`
 * is false), so a TypeScript service and a Python one can each declare it first.
 */
export function eventExchange(sourceService: string, autoDelete = true): ExchangeDeclaration {
  return { exchange: eventExchangeName(sourceService), exchangeType: 'topic', autoDelete };
}

/** RabbitMQ's reply code when a declaration does not match the existing entity. */
const preconditionFailed = 406;
/** The mismatches an existing exchange may have and still serve: not its type. */
const toleratedMismatch = /inequivalent arg '(auto_delete|durable)'/;

/**
 * Declares a durable exchange on short-lived channels from `open` (a refused declaration closes only
 * its own channel). One that already exists with another auto-delete or durable flag (declared by an
 * older version of this package, or by another client) is used as it is: RabbitMQ refuses the
 * declaration with 406, and a passive check then proves the exchange is there. One of another type
 * is an error (a topic binding on a fanout exchange would take every message).
 */
export async function declareExchange(open: () => Promise<Channel>, declaration: ExchangeDeclaration): Promise<void> {
  const { exchange, exchangeType, autoDelete = false } = declaration;
  try {
    await onChannel(open, (channel) => channel.assertExchange(exchange, exchangeType, { durable: true, autoDelete }));
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (code !== preconditionFailed || !toleratedMismatch.test(String(message))) throw error;
    await onChannel(open, (channel) => channel.checkExchange(exchange));
  }
}

async function onChannel(open: () => Promise<Channel>, declare: (channel: Channel) => Promise<unknown>): Promise<void> {
  const channel = await open();
  channel.on('error', () => undefined);
  try {
    await declare(channel);
  } finally {
    await channel.close().catch(() => undefined);
  }
}
