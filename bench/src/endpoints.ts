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

/** A message of the failure-cost case: the bench message's shape with the message's own id. */
export const failureMessage = (id: number): string => JSON.stringify({ pattern: 'bench', data: { id } });

/**
 * A message of the sustained case: its id and `sentAt`, the publisher's wall-clock time in ms
 * (`performance.timeOrigin + performance.now()`, comparable across processes on one machine).
 */
/** The id of the sustained case's calibration messages (warm-up messages have id -1; neither is measured). */
export const calibrationId = -2;

export const sustainedMessage = (id: number, sentAt: number): string => JSON.stringify({ pattern: 'bench', data: { id, sentAt } });

/** The `data` of a failure-cost or sustained message, however a contestant received it (bytes, text or parsed). */
export function messageData(message: unknown): { id: number; sentAt?: number } {
  const parsed = typeof message === 'string' || Buffer.isBuffer(message) || message instanceof Uint8Array ? (JSON.parse(Buffer.from(message as Uint8Array).toString()) as unknown) : message;
  // NestJS hands its handlers the packet's `data` only.
  const packet = parsed as { id?: unknown; sentAt?: unknown; data?: { id?: unknown; sentAt?: unknown } } | null;
  const data = typeof packet?.id === 'number' ? packet : packet?.data;
  if (typeof data?.id !== 'number') throw new TypeError(`not a bench message with an id: ${JSON.stringify(parsed)}`);
  return typeof data.sentAt === 'number' ? { id: data.id, sentAt: data.sentAt } : { id: data.id };
}

/** Wall-clock milliseconds with sub-millisecond resolution, the clock of `sentAt`. */
export const wallClockMs = (): number => performance.timeOrigin + performance.now();
