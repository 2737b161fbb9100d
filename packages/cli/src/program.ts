import { createRequire } from 'node:module';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { brokerNames, type BrokerName } from './brokers.ts';
import { callCommand } from './commands/call.ts';
import { dlqCommand, type DlqAction } from './commands/dlq.ts';
import { emitCommand } from './commands/emit.ts';
import { routesCommand } from './commands/routes.ts';
import { runCommand } from './commands/run.ts';
import { processOutput, type Output } from './output.ts';
import { UsageError } from './usage-error.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const positiveInteger = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('expected a whole number > 0');
  return parsed;
};

const collect = (value: string, previous: string[]): string[] => [...previous, value];

const brokerOption = (): Option => new Option('-b, --broker <broker>', 'the broker').choices(brokerNames).makeOptionMandatory();
const urlOption = (): Option => new Option('-u, --url <url>', 'broker URL (default: the --broker-options address, else AMQP_URL, NATS_URL or KAFKA_BROKERS, else loopback)');
const brokerOptionsOption = (): Option =>
  new Option('--broker-options <path>', "JSON file or ES module (default export) with the adapter's options, as in a service config's amqp / nats / kafka key: tls, credentials, allowInsecure...");

/** The `micro-framework` command line; each action stores its exit code in `result.code`. */
export function createProgram(output: Output = processOutput): { program: Command; result: { code: number } } {
  const result = { code: 0 };
  const program = new Command('micro-framework')
    .description('Run @micro-framework services, call their RPC targets, emit events, list their routes, list, replay and purge their dead letters.')
    .version(version)
    .exitOverride()
    .configureOutput({ writeOut: (text) => output.out(text.trimEnd()), writeErr: (text) => output.err(text.trimEnd()) })
    .showHelpAfterError('(micro-framework --help lists the commands)');

  program
    .command('run')
    .description('start the Runner a module exports (default export, or named "runner"); SIGINT/SIGTERM stop it gracefully')
    .argument('<module>', 'path of the service module')
    .option('--env-file <path>', 'load environment variables from this file first')
    .addOption(new Option('--stop-timeout <ms>', 'how long a stop lets in-flight calls finish').argParser(positiveInteger).default(30_000))
    .action(async (module: string, options: { envFile?: string; stopTimeout: number }) => {
      result.code = await runCommand(module, options, output);
    });

  program
    .command('call')
    .description("call an RPC target and print its reply; a remote error prints its name and message (exit 1)")
    .argument('<service>', 'the service exposing the target')
    .argument('<target>', 'the target name')
    .argument('[args]', 'JSON array of positional arguments (one JSON value is taken as the only argument)')
    .addOption(brokerOption())
    .addOption(urlOption())
    .addOption(brokerOptionsOption())
    .option('--kwargs <json>', 'JSON object of keyword arguments (a last object argument for TypeScript targets)')
    .addOption(new Option('--timeout <ms>', 'how long to wait for the reply').argParser(positiveInteger).default(10_000))
    .option('--json', 'print the reply (or the error) as JSON')
    .action(async (service: string, target: string, args: string | undefined, options: { broker: BrokerName; url?: string; brokerOptions?: string; kwargs?: string; timeout: number; json?: boolean }) => {
      result.code = await callCommand(service, target, args, options, output);
    });

  program
    .command('emit')
    .description('publish an event as <source> would, once the broker confirmed it')
    .argument('<source>', 'the service the event comes from')
    .argument('<event>', 'the event name')
    .argument('<payload>', 'the JSON payload')
    .addOption(brokerOption())
    .addOption(urlOption())
    .addOption(brokerOptionsOption())
    .option('--header <name=value>', 'a header (repeatable)', collect, [])
    .option('--to <destination>', 'NATS subject or Kafka topic instead of <source>.<event>')
    .option('--key <key>', 'Kafka: the record key')
    .option('--json', 'print the result as JSON')
    .action(async (source: string, event: string, payload: string, options: { broker: BrokerName; url?: string; brokerOptions?: string; header: string[]; to?: string; key?: string; json?: boolean }) => {
      result.code = await emitCommand(source, event, payload, options, output);
    });

  program
    .command('dlq')
    .description("a route's dead letters: list them (reason, attempts, error, origin), replay them to where they came from, or purge them")
    .addArgument(new Argument('<action>', 'what to do').choices(['list', 'replay', 'purge']))
    .argument('[destination]', 'the dead-letter queue (RabbitMQ), stream (JetStream) or topic (Kafka), as `routes` prints it')
    .addOption(brokerOption())
    .addOption(urlOption())
    .addOption(brokerOptionsOption())
    .option('--module <path>', 'instead of the destination: the service module of the route')
    .option('--route <name>', "with --module: the route's label or target name")
    .addOption(new Option('--limit <count>', 'at most this many messages (list, replay)').argParser(positiveInteger).default(100))
    .option('--yes', 'confirm a purge')
    .option('--core', 'NATS: replay to subjects no JetStream stream captures with core NATS (at most once)')
    .option('--json', 'print the result as JSON')
    .action(async (action: DlqAction, destination: string | undefined, options: { broker: BrokerName; url?: string; brokerOptions?: string; module?: string; route?: string; limit: number; yes?: boolean; json?: boolean; core?: boolean }) => {
      result.code = await dlqCommand(action, destination, options, output);
    });

  program
    .command('routes')
    .description('list what a service module consumes and exposes: entrypoints, broker names, backoffs (no broker needed)')
    .argument('<module>', 'path of the service module')
    .option('--json', 'print them as JSON')
    .action(async (module: string, options: { json?: boolean }) => {
      result.code = await routesCommand(module, options, output);
    });

  return { program, result };
}

/**
 * Runs the command line on `argv` (without the node and script entries) and resolves with the exit
 * code: the command's, 2 for a usage error (unknown command, missing argument, bad JSON), 0 for help.
 */
export async function main(argv: readonly string[], output: Output = processOutput): Promise<number> {
  const { program, result } = createProgram(output);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return result.code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof UsageError) {
      output.err(`micro-framework: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
