import { UsageError } from './usage-error.ts';

export type AmqpAdapter = typeof import('@micro-framework/amqp');
export type NatsAdapter = typeof import('@micro-framework/nats');
export type KafkaAdapter = typeof import('@micro-framework/kafka');

interface Adapters {
  amqp: AmqpAdapter;
  nats: NatsAdapter;
  kafka: KafkaAdapter;
}

/**
 * Imports the adapter package of `broker` on first use, so only the chosen broker's client is
 * loaded. When the package is not installed: a UsageError saying which one to install.
 */
export async function loadAdapter<B extends keyof Adapters>(broker: B): Promise<Adapters[B]> {
  const specifier = `@micro-framework/${broker}`;
  try {
    return (await import(specifier)) as Adapters[B];
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    // Only the adapter itself missing is a usage problem; a broken install below it is reported as it is.
    if (code === 'ERR_MODULE_NOT_FOUND' && String(message).includes(`'${specifier}'`)) {
      throw new UsageError(`--broker ${broker} needs the adapter package ${specifier}, which is not installed: npm install ${specifier}`);
    }
    throw error;
  }
}
