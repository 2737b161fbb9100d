import { brokerClient, brokerSettings, type BrokerName } from '../brokers.ts';
import { parseHeaders, parseJson } from '../json-arguments.ts';
import type { Output } from '../output.ts';
import { reportError } from '../remote-failure.ts';
import { UsageError } from '../usage-error.ts';

export interface EmitOptions {
  readonly broker: BrokerName;
  readonly url?: string;
  /** --broker-options: a JSON file or module with the adapter's options (tls, credentials...). */
  readonly brokerOptions?: string;
  readonly header: readonly string[];
  /** NATS subject or Kafka topic instead of `<source>.<event>`. */
  readonly to?: string;
  /** Kafka record key. */
  readonly key?: string;
  readonly json?: boolean;
}

/**
 * `emit <source> <event> <payload>`: publishes an event as service `source` would, and waits for the
 * broker's confirmation. RabbitMQ: exchange `<source>.events`, routing key `<event>`; NATS: subject
 * `<source>.<event>` (JetStream when a stream captures it); Kafka: topic `<source>.<event>`. Exit 0
 * once confirmed, 1 when the broker refused or could not be reached, 2 for a usage mistake.
 */
export async function emitCommand(source: string, event: string, payload: string, options: EmitOptions, output: Output): Promise<number> {
  const body = parseJson(payload, 'payload');
  const headers = parseHeaders(options.header);
  if (options.to !== undefined && options.broker === 'amqp') throw new UsageError('--to is for NATS and Kafka: on RabbitMQ an event goes to the exchange <source>.events');
  if (options.key !== undefined && options.broker !== 'kafka') throw new UsageError('--key is for Kafka');
  const broker = await brokerClient(await brokerSettings(options.broker, options.url, options.brokerOptions));
  try {
    const where = await broker.emit(source, event, body, { headers, destination: options.to, key: options.key });
    output.out(options.json ? JSON.stringify({ published: true, to: where }) : `published ${source}.${event} to ${where}`);
    return 0;
  } catch (error) {
    const failure = reportError(error);
    output.err(options.json ? JSON.stringify({ error: failure }) : `could not publish: ${failure.name}: ${failure.message}`);
    return 1;
  } finally {
    await broker.close();
  }
}
