import type { Config, Entrypoint } from '@micro-framework/core';
import { amqpUrl, kafkaBrokers, kafkaPartitions, natsServers } from './endpoints.ts';

/**
 * The entrypoint and config with which a child-process probe consumes `channel` on `broker` (amqp,
 * nats, kafka). Loads only that broker's adapter, as a service that uses one broker does.
 */
export async function probeSetup(broker: string, channel: string): Promise<{ entrypoint: Entrypoint; config: Partial<Config> }> {
  switch (broker) {
    case 'amqp': {
      const { AmqpQueueListener } = await import('@micro-framework/amqp');
      return { entrypoint: new AmqpQueueListener({ queueName: channel, queueArguments: { 'x-expires': 600_000 } }), config: { amqp: { url: amqpUrl } } };
    }
    case 'nats': {
      const { JetStreamListener } = await import('@micro-framework/nats');
      return { entrypoint: new JetStreamListener({ stream: channel, subjects: [channel] }), config: { nats: { servers: natsServers } } };
    }
    case 'kafka': {
      const [{ TopicListener }, { logLevel }] = await Promise.all([import('@micro-framework/kafka'), import('kafkajs')]);
      return { entrypoint: new TopicListener({ topic: channel, partitions: kafkaPartitions }), config: { kafka: { brokers: kafkaBrokers, logLevel: logLevel.NOTHING } } };
    }
    default:
      throw new Error(`unknown broker ${broker}`);
  }
}
