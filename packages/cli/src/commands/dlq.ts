import { brokerSettings, type BrokerName, type BrokerSettings } from '../brokers.ts';
import type { DeadLetterStore } from '../dead-letter-store.ts';
import type { DeadLetterEntry } from '../dead-letters.ts';
import { amqpDeadLetters } from '../dlq/amqp-dead-letters.ts';
import { kafkaDeadLetters } from '../dlq/kafka-dead-letters.ts';
import { natsDeadLetters } from '../dlq/nats-dead-letters.ts';
import { routeDeadLetters } from '../dlq/route-dead-letters.ts';
import type { Output } from '../output.ts';
import { reportError } from '../remote-failure.ts';
import { UsageError } from '../usage-error.ts';

export type DlqAction = 'list' | 'replay' | 'purge';

export interface DlqOptions {
  readonly broker: BrokerName;
  readonly url?: string;
  /** --broker-options: a JSON file or module with the adapter's options (tls, credentials...). */
  readonly brokerOptions?: string;
  readonly limit: number;
  readonly yes?: boolean;
  readonly json?: boolean;
  /** NATS: replay to subjects no JetStream stream captures, with core NATS (at most once). */
  readonly core?: boolean;
  /** With `route`: derive the destination from this service module's route. */
  readonly module?: string;
  readonly route?: string;
}

/** The dead-letter destination `name` (queue, stream or topic) on the broker. */
function open({ broker, options }: BrokerSettings, name: string, core?: boolean): Promise<DeadLetterStore> {
  switch (broker) {
    case 'amqp':
      return amqpDeadLetters(options, name);
    case 'nats':
      return natsDeadLetters(options, name, { core });
    case 'kafka':
      return kafkaDeadLetters(options, name);
  }
}

/** The destination the user named: given as it is, or derived from `--module` and `--route`. */
async function destinationOf(given: string | undefined, options: DlqOptions): Promise<string> {
  const derived = options.module !== undefined || options.route !== undefined;
  if (given !== undefined && derived) throw new UsageError('give either the dead-letter destination or --module with --route, not both');
  if (given !== undefined) return given;
  if (options.module === undefined || options.route === undefined) throw new UsageError('name the dead-letter destination (queue, stream or topic), or the route: --module <path> --route <name>');
  return routeDeadLetters(options.module, options.route, options.broker);
}

function printEntry(output: Output, entry: DeadLetterEntry): void {
  const when = entry.lastFailure ? `  failed=${entry.lastFailure}` : '';
  output.out(`- ${entry.position}  reason=${entry.reason}  attempts=${entry.attempts}  from=${entry.original}${when}\n    error: ${entry.error}\n    body: ${entry.body}`);
}

/**
 * `dlq list|replay|purge [destination]`: the dead letters of a route (RabbitMQ queue `<queue>.dlq`,
 * JetStream stream `<stream>-dead-letters`, Kafka topic `<group>.dlt`, as `routes` prints them, or
 * derived from `--module` and `--route`). `list` shows reason, attempts, error and origin and
 * removes nothing; `replay` sends each back with its retry state reset, removing it only once the
 * broker confirmed, and stops at the first failure; `purge` removes them and needs `--yes`. Exit 0
 * when done, 1 when the broker failed (the rest left where it was), 2 for a usage mistake.
 */
export async function dlqCommand(action: DlqAction, given: string | undefined, options: DlqOptions, output: Output): Promise<number> {
  const destination = await destinationOf(given, options);
  if (action === 'purge' && !options.yes) throw new UsageError(`purge deletes every message of ${destination} for good: add --yes`);
  let store: DeadLetterStore | undefined;
  let replayed: number | undefined;
  try {
    store = await open(await brokerSettings(options.broker, options.url, options.brokerOptions), destination, options.core);
    switch (action) {
      case 'list': {
        const entries = await store.list(options.limit);
        if (options.json) output.out(JSON.stringify(entries, null, 2));
        else {
          output.out(`${entries.length} dead letter(s) in ${destination}${entries.length === options.limit ? ` (the first ${options.limit}: --limit shows more)` : ''}`);
          for (const entry of entries) printEntry(output, entry);
        }
        return 0;
      }
      case 'replay': {
        replayed = 0;
        replayed = await store.replay(options.limit, (entry, to) => {
          replayed = (replayed ?? 0) + 1;
          if (!options.json) output.out(`replayed ${entry.position} to ${to}`);
        });
        output.out(options.json ? JSON.stringify({ replayed }) : `${replayed} replayed from ${destination}`);
        return 0;
      }
      case 'purge': {
        const count = await store.purge();
        output.out(options.json ? JSON.stringify({ purged: count ?? null }) : `purged ${count ?? 'all'} message(s) from ${destination}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown dlq action ${String(action)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const failure = reportError(error);
    if (options.json) output.err(JSON.stringify({ error: failure, ...(replayed === undefined ? {} : { replayed }) }));
    else {
      output.err(`dlq ${action} failed: ${failure.name}: ${failure.message}`);
      if (replayed !== undefined) output.err(`${replayed} replayed from ${destination} before the failure; the rest are still there`);
    }
    return 1;
  } finally {
    await store?.close().catch(() => undefined);
  }
}
