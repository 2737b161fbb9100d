import { DelayedBackoff } from '@micro-framework/core';

/**
 * A backoff that waits on Kafka: the failed record is produced to the group's retry topic
 * (`<topic>.<group>.retry`) with its retry state and due time in headers; the listener consumes that
 * topic too and holds each record until it is due. The original offset is committed only after the
 * broker acknowledged the retry record, so a retry survives a restart. Retries leave the key's order.
 */
export class KafkaBackoff extends DelayedBackoff {}
