import type { BrokerName, DriverModule } from '../broker-driver.ts';

/**
 * The drivers by broker, loaded on demand (a run loads only its broker's client). A broker without an
 * entry is not implemented yet: add `drivers/<broker>.ts` exporting a DriverModule and list it here.
 */
export const drivers: Partial<Record<BrokerName, () => Promise<DriverModule>>> = {
  amqp: async () => (await import('./amqp.ts')).amqpDriver,
  nats: async () => (await import('./nats.ts')).natsDriver,
  kafka: async () => (await import('./kafka.ts')).kafkaDriver,
};

/** The driver module of `broker`, or undefined when that broker has none yet. */
export async function loadDriver(broker: BrokerName): Promise<DriverModule | undefined> {
  return drivers[broker]?.();
}
