import { DelayedBackoff } from '@micro-framework/core';

/**
 * A backoff that waits on JetStream: the failed message is nak'ed with the interval as delay and
 * redelivered when due, its retry state kept in a KV bucket (see RetryStateStore). With a consumer
 * max_deliver, a retry past it is dead-lettered instead of silently dropped. Works with JetStreamListener.
 */
export class NatsBackoff extends DelayedBackoff {}
