import type { Config, Entrypoint } from '@micro-framework/core';
import { AmqpQueueListener } from '@micro-framework/amqp';
import { TopicListener } from '@micro-framework/kafka';
import { JetStreamListener } from '@micro-framework/nats';
import { logLevel } from 'kafkajs';
import { amqpUrl, kafkaBrokers, kafkaPartitions, natsServers } from './endpoints.ts';

/** The entrypoint and config with which a child-process probe consumes `channel` on `broker` (amqp, nats, kafka). */
export function probeSetup(broker: string, channel: string): { entrypoint: Entrypoint; config: Partial<Config> } {
  switch (broker) {
    case 'amqp':
      return { entrypoint: new AmqpQueueListener({ queueName: channel, queueArguments: { 'x-expires': 600_000 } }), config: { amqp: { url: amqpUrl } } };
    case 'nats':
      return { entrypoint: new JetStreamListener({ stream: channel, subjects: [channel] }), config: { nats: { servers: natsServers } } };
    case 'kafka':
      return { entrypoint: new TopicListener({ topic: channel, partitions: kafkaPartitions }), config: { kafka: { brokers: kafkaBrokers, logLevel: logLevel.NOTHING } } };
    default:
      throw new Error(`unknown broker ${broker}`);
  }
}
