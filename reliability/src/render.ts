import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BrokerName } from './broker-driver.ts';
import { describeFault } from './fault-schedule.ts';
import type { ChaosRun } from './orchestrator.ts';
import { gitRevision, packageVersion } from './versions.ts';

/** A run as the results file keeps it: with the machine and versions it ran on. */
export interface RecordedRun extends ChaosRun {
  readonly machine: string;
  readonly node: string;
  readonly packages: Record<string, string>;
}

/** One line of the history: what a run showed, kept after later runs of its broker replaced it. */
export interface HistoryEntry {
  readonly broker: BrokerName;
  readonly startedAt: string;
  readonly seed: number;
  readonly short: boolean;
  readonly messages: number;
  readonly lost: number;
  readonly hung: number;
  readonly duplicates: number;
  readonly deadLettered: number;
  /** Per-key order violations, or null where order is not judged. */
  readonly orderViolations: number | null;
  readonly broken: readonly string[];
  readonly repository: string;
}

/** reliability/results/latest.json: the last run of each broker, and a line for every run recorded. */
export interface Results {
  readonly updated: string;
  readonly runs: Partial<Record<BrokerName, RecordedRun>>;
  /** Oldest first, the last `historyLength` runs. */
  readonly history?: readonly HistoryEntry[];
}

/** How many runs the history keeps. */
export const historyLength = 60;

function historyEntry(run: RecordedRun): HistoryEntry {
  const f = run.figures;
  return {
    broker: run.broker,
    startedAt: run.startedAt,
    seed: run.seed,
    short: run.settings['short'] === true,
    messages: f.planned,
    lost: f.lost,
    hung: f.rpc.hung,
    duplicates: f.duplicates,
    deadLettered: f.deadLettered.ids,
    orderViolations: f.keyedOrder.judged ? f.keyedOrder.violations : null,
    broken: run.broken,
    repository: run.packages['repository'] ?? 'unknown',
  };
}

/** The machine, Node and package versions of this process, added to a run before it is recorded. */
export function recordRun(run: ChaosRun, repositoryRoot: string): RecordedRun {
  const cpu = cpus();
  const packages: Record<string, string> = { repository: gitRevision(repositoryRoot) };
  for (const name of ['@micro-framework/core', `@micro-framework/${run.broker}`]) packages[name] = packageVersion(name);
  return {
    ...run,
    machine: `${platform()} ${release()}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    packages,
  };
}

/** Adds the run to `<out>/latest.json` (other brokers' last runs stay) and rewrites `<out>/latest.md`. */
export function writeResults(out: string, run: RecordedRun): Results {
  mkdirSync(out, { recursive: true });
  const file = join(out, 'latest.json');
  const previous: Results = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Results) : { updated: '', runs: {} };
  // A results file from before the history: its last runs start it.
  const earlier = previous.history ?? Object.values(previous.runs).filter((r): r is RecordedRun => r !== undefined).map(historyEntry);
  const history = [...earlier, historyEntry(run)].slice(-historyLength);
  const results: Results = { updated: new Date().toISOString(), runs: { ...previous.runs, [run.broker]: run }, history };
  const write = (name: string, text: string): void => {
    writeFileSync(join(out, `${name}.tmp`), text);
    renameSync(join(out, `${name}.tmp`), join(out, name));
  };
  write('latest.json', `${JSON.stringify(results, null, 2)}\n`);
  write('latest.md', markdown(results));
  return results;
}

const count = (n: number): string => n.toLocaleString('en-US');
const mib = (bytes: number): string => `${Math.round(bytes / 2 ** 20)} MiB`;
const byName = (counts: Record<string, number>): string =>
  Object.keys(counts).length === 0 ? '0' : Object.entries(counts).map(([name, n]) => `${name} ${count(n)}`).join(', ');
const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

/** The rows of the summary table, one value per broker. */
function rows(run: RecordedRun): Array<[string, string]> {
  const f = run.figures;
  const order = f.keyedOrder.judged
    ? `${count(f.keyedOrder.violations)} (${count(f.keyedOrder.keysChecked)} keys checked)`
    : `not judged (capability off); observed ${count(f.keyedOrder.violations)}`;
  return [
    ['verdict', run.broken.length === 0 ? '**pass**' : `**FAIL**: ${run.broken.join('; ')}`],
    ['seed', `\`${run.seed}\``],
    ['run', `${run.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${run.settings['short'] ? 'short' : 'full'}, ${run.seconds} s`],
    ['confirmed published', `${count(f.confirmedPublished)} of ${count(f.planned)}${f.unconfirmed > 0 ? ` (${count(f.unconfirmed)} never confirmed)` : ''}`],
    ['processed (unique ids)', count(f.processed)],
    ['duplicates', count(f.duplicates)],
    ['callbacks run (handled)', `${count(f.callbackRuns)} (${count(f.callbacksHandled)})`],
    ['dead-lettered by reason', byName(f.deadLettered.byReason)],
    ['**lost**', `**${count(f.lost)}**`],
    ['ended elsewhere than expected', `${count(sum(f.unexpectedOutcomes))}`],
    ['per-key order violations', order],
    ['RPC calls ok (incl. RemoteError asked for) / failed typed / untyped / **hung**', `${count(f.rpc.ok + f.rpc.remoteErrorAsked)} / ${count(sum(f.rpc.failedTyped))} / ${count(sum(f.rpc.failedUntyped))} / **${count(f.rpc.hung)}**`],
    ['RPC errors that misreport (RpcTargetNotFound for a target that exists)', count(f.rpc.misleading)],
    ['peak RSS of the consumer', mib(f.peakRssBytes)],
    ['consumer crashes (not caused by the run)', count(f.consumer.unexpectedExits.length)],
    ...f.recovery.map((r, i): [string, string] => [
      `recovery after fault ${i + 1}`,
      `${r.recoveryMs === null ? 'none processed after it' : `${(r.recoveryMs / 1_000).toFixed(1)} s`} (${describeFault(r.fault)})`,
    ]),
  ];
}

/** The Markdown page: the rule, a table with a column per broker, then each broker's details. */
export function markdown(results: Results): string {
  const runs = Object.values(results.runs).filter((run): run is RecordedRun => run !== undefined);
  const lines: string[] = [
    '# Reliability figures',
    '',
    'Written by `npm run chaos -- --broker <broker>` (see reliability/README.md). Each column is the last run on that broker.',
    '**The rule: lost = 0 and hung RPC calls = 0, for any seed** (and no per-key order violation where the broker keeps per-key order, and no RPC answer or error that says something false).',
    'Lost = confirmed by the broker, yet neither processed by the target, handled by the callback, nor dead-lettered.',
    '',
  ];
  if (runs.length === 0) return `${lines.join('\n')}\nNo run yet.\n`;
  const table = runs.map((run) => new Map(rows(run)));
  const labels = [...new Set(table.flatMap((values) => [...values.keys()]))];
  lines.push(`| | ${runs.map((run) => run.label).join(' | ')} |`, `|---|${runs.map(() => '---').join('|')}|`);
  for (const label of labels) lines.push(`| ${label} | ${table.map((values) => values.get(label) ?? '—').join(' | ')} |`);
  for (const run of runs) {
    const f = run.figures;
    lines.push('', `## ${run.label}`, '');
    lines.push(`Replay: \`npm run chaos -- --broker ${run.broker} --seed ${run.seed} --messages ${run.settings['messages']} --seconds ${run.settings['seconds']}${run.settings['short'] ? ' --short' : ''}\``, '');
    lines.push(`- machine: ${run.machine}; Node ${run.node}; ${Object.entries({ ...run.packages, ...run.versions }).map(([name, version]) => `${name} ${version}`).join(', ')}`);
    lines.push(`- settings: ${Object.entries(run.settings).map(([name, value]) => `${name} ${String(value)}`).join(', ')}`);
    lines.push(`- publishing: ${f.timings.publishSeconds.toFixed(1)} s, ${count(f.timings.confirmedPerSecond)} confirmed/s, ${count(f.publishRetries)} publishes tried again; drain: ${f.timings.drainSeconds.toFixed(1)} s (${f.timings.drainEndedBy})`);
    lines.push(`- RPC: ${count(f.rpc.calls)} calls (timeout ${f.rpc.timeoutMs} ms): ${count(f.rpc.ok)} answered, ${count(f.rpc.remoteErrorAsked)} RemoteError as asked, typed failures ${byName(f.rpc.failedTyped)}, untyped ${byName(f.rpc.failedUntyped)}, wrong answers ${count(f.rpc.wrongAnswer)}, hung ${count(f.rpc.hung)}; the target ran ${count(f.rpc.handledByTarget)} times`);
    const times = Object.entries(f.rpc.failureTimes).map(([name, at]) => `${name} at ${at.map((ms) => `${(ms / 1_000).toFixed(1)}`).join(', ')} s`);
    if (times.length > 0) lines.push(`- first RPC failures of each kind (after publishing began): ${times.join('; ')}`);
    lines.push(`- dead letters: ${count(f.deadLettered.copies)} copies of ${count(f.deadLettered.ids)} messages; without an id ${count(f.deadLettered.withoutId)}; with CR/LF in a header ${count(f.deadLettered.unsafeHeaders)}`);
    if (sum(f.unexpectedOutcomes) > 0) lines.push(`- ended elsewhere than expected: ${byName(f.unexpectedOutcomes)}`);
    if (!f.keyedOrder.judged) lines.push(`- per-key order not judged: ${f.keyedOrder.reason ?? ''}`);
    lines.push(`- journal: ${count(f.journal.records)} records, ${f.journal.tornLines} torn last lines; consumer incarnations ${f.consumer.incarnations}`);
    lines.push('', '| fault | planned at | began | lasted | first message processed after it |', '|---|---|---|---|---|');
    run.faultLog.forEach((entry, i) => {
      const recovery = f.recovery[i]?.recoveryMs;
      lines.push(`| ${entry.what} | ${((run.schedule[i]?.atMs ?? 0) / 1_000).toFixed(1)} s | ${(entry.startedAtMs / 1_000).toFixed(1)} s | ${((entry.endedAtMs - entry.startedAtMs) / 1_000).toFixed(1)} s | ${recovery === null || recovery === undefined ? 'none' : `${(recovery / 1_000).toFixed(1)} s`} |`);
    });
    if (run.notes.length > 0) lines.push('', ...run.notes.map((note) => `- ${note}`));
  }
  const history = results.history ?? [];
  if (history.length > 0) {
    lines.push('', '## Every run recorded here', '', `Oldest first (the last ${historyLength}); a broker's column above is its last line here.`, '');
    lines.push('| started (UTC) | broker | run | seed | lost | hung | duplicates | dead-lettered | order violations | verdict | repository |', '|---|---|---|---|---|---|---|---|---|---|---|');
    for (const entry of history) {
      const verdict = entry.broken.length === 0 ? 'pass' : `**FAIL**: ${entry.broken.join('; ')}`;
      const order = entry.orderViolations === null ? 'not judged' : count(entry.orderViolations);
      lines.push(`| ${entry.startedAt.slice(0, 16).replace('T', ' ')} | ${entry.broker} | ${entry.short ? 'short' : 'full'}, ${count(entry.messages)} | \`${entry.seed}\` | **${count(entry.lost)}** | ${count(entry.hung)} | ${count(entry.duplicates)} | ${count(entry.deadLettered)} | ${order} | ${verdict} | ${entry.repository} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}
