import { DelayedBackoff } from '@micro-framework/core';

/**
 * A backoff that waits on RabbitMQ, not in the process: the failed message is published to a delay
 * queue (one per delay tier, see delayTierMs) that dead-letters it back to the listener's queue when
 * due, with the retry count, first error time and last error in its headers. The original is acked
 * only after RabbitMQ confirmed the retry, so a retry survives a service restart. Needs no plugin.
 */
export class AmqpBackoff extends DelayedBackoff {}
