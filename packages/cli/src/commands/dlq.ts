import { brokerUrl, UsageError, type BrokerName } from '../brokers.ts';
import type { DeadLetterStore } from '../dead-letter-store.ts';
import { amqpDeadLetters } from '../dlq/amqp-dead-letters.ts';
import { kafkaDeadLetters } from '../dlq/kafka-dead-letters.ts';
import { natsDeadLetters } from '../dlq/nats-dead-letters.ts';
import type { Output } from '../output.ts';
import { reportError } from '../remote-failure.ts';

export type DlqAction = 'list' | 'replay' | 'purge';

export interface DlqOptions {
  readonly broker: BrokerName;
  readonly url?: string;
  readonly limit: number;
  readonly yes?: boolean;
  readonly json?: boolean;
  /** NATS: replay to subjects no JetStream stream captures, with core NATS (at most once). */
  readonly core?: boolean;
}

/** The dead-letter destination `name` (queue, stream or topic) on the broker. */
function open(broker: BrokerName, url: string, name: string, core?: boolean): Promise<DeadLetterStore> {
  switch (broker) {
    case 'amqp':
      return amqpDeadLetters(url, name);
    case 'nats':
      return natsDeadLetters(url.split(','), name, { core });
    case 'kafka':
      return kafkaDeadLetters(url.split(','), name);
  }
}

/**
 * `dlq list|replay|purge <destination>`: the dead letters of a route (RabbitMQ queue `<queue>.dlq`,
 * JetStream stream `<stream>-dead-letters`, Kafka topic `<group>.dlt`; `micro-framework routes`
 * prints them). `list` shows reason, attempts, error and original destination; `replay` sends them
 * back with their retry state reset; `purge` removes them and needs `--yes`.
 */
export async function dlqCommand(action: DlqAction, destination: string, options: DlqOptions, output: Output): Promise<number> {
  if (action === 'purge' && !options.yes) throw new UsageError(`purge deletes every message of ${destination} for good: add --yes`);
  const store = await open(options.broker, brokerUrl(options.broker, options.url), destination, options.core);
  try {
    switch (action) {
      case 'list': {
        const entries = await store.list(options.limit);
        if (options.json) output.out(JSON.stringify(entries, null, 2));
        else {
          output.out(`${entries.length} dead letter(s) in ${destination}${entries.length === options.limit ? ` (first ${options.limit})` : ''}`);
          for (const entry of entries) output.out(`- ${entry.position}  reason=${entry.reason}  attempts=${entry.attempts}  from=${entry.original}\n    error: ${entry.error}\n    body: ${entry.body}`);
        }
        return 0;
      }
      case 'replay': {
        let count = 0;
        try {
          count = await store.replay(options.limit, (entry) => {
            if (!options.json) output.out(`replayed ${entry.position} to ${entry.original}`);
          });
        } finally {
          if (options.json) output.out(JSON.stringify({ replayed: count }));
          else output.out(`${count} replayed from ${destination}`);
        }
        return 0;
      }
      case 'purge': {
        const count = await store.purge();
        output.out(options.json ? JSON.stringify({ purged: count ?? null }) : `purged ${count ?? 'all'} message(s) from ${destination}`);
        return 0;
      }
    }
  } catch (error) {
    const failure = reportError(error);
    output.err(options.json ? JSON.stringify({ error: failure }) : `dlq ${action} failed: ${failure.name}: ${failure.message}`);
    return 1;
  } finally {
    await store.close();
  }
}
