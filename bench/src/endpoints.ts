/** Where the bench finds each broker, and the message every consume contestant drains. */
export const amqpUrl = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
export const natsServers = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
export const kafkaBrokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');

/**
 * The drained message: a small JSON object in NestJS's `{ pattern, data }` packet shape, which its
 * RabbitMQ transport needs to find a handler; every other contestant takes it as an opaque JSON body.
 */
export const benchMessage = JSON.stringify({ pattern: 'bench', data: { id: 1, name: 'bench', amount: 12.5 } });

/** Partitions of every Kafka topic the bench drains. */
export const kafkaPartitions = 8;
