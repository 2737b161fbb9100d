/**
 * npm run chaos -- --broker nats [--messages 20000] [--seed S] [--seconds 60] [--short] [--out dir] [--keep]
 * One broker's chaos run (issue #13): load, faults and poison against a consumer service in its own
 * process; prints the figures and writes <out>/latest.{json,md} (other brokers' last runs stay).
 * Exit code: 0 when the rule holds, 1 when a message was lost or an RPC call hung, 2 for a broker
 * without a driver yet, 3 when the harness itself failed.
 */
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { brokerNames, type BrokerName } from './broker-driver.ts';
import { NotImplemented, runChaos } from './orchestrator.ts';
import { randomSeed } from './prng.ts';
import { recordRun, writeResults } from './render.ts';

const wholeNumber = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};

const program = new Command('chaos')
  .description('Load, faults and poison against a consumer service on one broker; counts what was lost.')
  .addOption(new Option('--broker <broker>', 'the broker to run on').choices(brokerNames).makeOptionMandatory())
  .option('--messages <n>', 'messages to publish (default 20000, or 2000 with --short)', wholeNumber)
  .option('--seed <n>', 'seed of the fault schedule and message plan (default: random, printed)', wholeNumber)
  .option('--seconds <n>', 'planned length of publishing (default 60, or 25 with --short)', wholeNumber)
  .option('--short', 'the CI run: 2000 messages, one kill, one broker restart, one cut', false)
  .addOption(new Option('--out <dir>', 'where latest.json and latest.md go').default(fileURLToPath(new URL('../results', import.meta.url)), 'reliability/results'))
  .option('--keep', 'keep the run directory (journals, consumer logs) even when nothing was lost', false)
  .parse();

const options = program.opts<{ broker: BrokerName; messages?: number; seed?: number; seconds?: number; short: boolean; out: string; keep: boolean }>();
const seed = options.seed ?? randomSeed();
try {
  const run = await runChaos({
    broker: options.broker,
    messages: options.messages ?? (options.short ? 2_000 : 20_000),
    seconds: options.seconds ?? (options.short ? 25 : 60),
    seed,
    short: options.short,
    keep: options.keep,
  });
  writeResults(options.out, recordRun(run, fileURLToPath(new URL('../..', import.meta.url))));
  const f = run.figures;
  console.log(
    `\n${run.label}, seed ${seed}: confirmed ${f.confirmedPublished}, processed ${f.processed}, duplicates ${f.duplicates}, callbacks ${f.callbacksHandled}, ` +
      `dead-lettered ${f.deadLettered.ids} ${JSON.stringify(f.deadLettered.byReason)}, LOST ${f.lost}; RPC ok ${f.rpc.ok}, hung ${f.rpc.hung}; peak RSS ${Math.round(f.peakRssBytes / 2 ** 20)} MiB`,
  );
  console.log(`results: ${options.out}/latest.md`);
  if (run.broken.length > 0) {
    console.log(`RULE BROKEN: ${run.broken.join('; ')}. Replay with --seed ${seed}; journals and consumer logs kept in ${run.runDir}`);
    process.exit(1);
  }
  process.exit(0);
} catch (error) {
  if (error instanceof NotImplemented) {
    console.error(error.message);
    process.exit(2);
  }
  console.error(`chaos run failed (seed ${seed}):`, error);
  process.exit(3);
}
