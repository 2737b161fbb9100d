/**
 * npm run bench:cpu-cost [-- --brokers amqp,nats,kafka --rounds 3 --rpc-calls 8000 --messages 50000 --out results/cpu-cost]
 *
 * Where the CPU of a call or a message goes: each contestant of the RPC (64 in flight) and consume
 * cases runs alone in a fresh process, round after round in alternating order, and reports its rate,
 * its own CPU time per call or message, and the broker server's (from /proc). On a machine whose
 * cores the broker and the service share, the sum of the two sets the rate; the figures say which
 * side a gap comes from. Writes <out>.json and <out>.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summarize, type Summary } from '../stats.ts';

const { values } = parseArgs({
  options: {
    brokers: { type: 'string', default: 'amqp,nats,kafka' },
    rounds: { type: 'string', default: '3' },
    'rpc-calls': { type: 'string', default: '8000' },
    messages: { type: 'string', default: '50000' },
    out: { type: 'string', default: 'results/cpu-cost' },
  },
});
const rounds = Number(values.rounds);

/** The contestants measured per broker and case (the bench's names); peers only when installed. */
const plan: Record<string, Record<string, string[]>> = {
  amqp: {
    rpc: ['amqplib (raw)', '@micro-framework/amqp', 'NestJS microservices', 'Moleculer'],
    'rpc-sequential': ['amqplib (raw)', '@micro-framework/amqp', 'NestJS microservices', 'Moleculer'],
    consume: ['amqplib (raw)', '@micro-framework/amqp', 'NestJS microservices', 'Moleculer'],
  },
  nats: { rpc: ['@nats-io/transport-node (raw)', '@micro-framework/nats', 'NestJS microservices', 'Moleculer'], consume: ['@nats-io/jetstream (raw)', '@micro-framework/nats', 'Moleculer'] },
  kafka: { consume: ['kafkajs (raw)', '@micro-framework/kafka', 'NestJS microservices', 'Moleculer'] },
};

interface Row {
  broker: string;
  case: string;
  contestant: string;
  perSecond: Summary;
  processMicros: Summary;
  brokerMicros: Summary;
  otherPercent: Summary;
}

const measureScript = fileURLToPath(new URL('measure.ts', import.meta.url));
const rows: Row[] = [];
for (const broker of values.brokers.split(',')) {
  const cases = plan[broker];
  if (!cases) throw new Error(`unknown broker ${broker}; choose among ${Object.keys(plan).join(', ')}`);
  for (const [name, contestants] of Object.entries(cases)) {
    const units = name === 'rpc' ? Number(values['rpc-calls']) : name === 'rpc-sequential' ? Number(values['rpc-calls']) / 2 : Number(values.messages);
    const samples = new Map(contestants.map((c) => [c, [] as Array<Record<string, number>>]));
    for (let round = 1; round <= rounds; round += 1) {
      for (const contestant of round % 2 === 1 ? contestants : [...contestants].reverse()) {
        let output: string;
        try {
          output = execFileSync(process.execPath, ['--conditions=@micro-framework/source', measureScript, '--broker', broker, '--case', name, '--contestant', contestant, '--units', String(units)], {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'ignore'],
            timeout: 300_000,
          });
        } catch (error) {
          console.error(`[cpu-cost] ${broker} ${name} ${contestant}: not measured (${(error as Error).message.split('\n')[0]})`);
          continue;
        }
        const result = JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, number>;
        samples.get(contestant)!.push(result);
        console.error(`[cpu-cost] ${broker} ${name} round ${round} ${contestant}: ${Math.round(result.perSecond!)}/s, ${result.processMicros!.toFixed(1)} µs process + ${result.brokerMicros!.toFixed(1)} µs broker per unit`);
      }
    }
    for (const [contestant, results] of samples) {
      if (results.length === 0) continue;
      const of = (key: string): Summary => summarize(results.map((r) => r[key]!));
      rows.push({ broker, case: name, contestant, perSecond: of('perSecond'), processMicros: of('processMicros'), brokerMicros: of('brokerMicros'), otherPercent: of('otherPercent') });
    }
  }
}

const cell = (s: Summary, digits: number): string => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
const lines = [
  '# CPU per call and per message',
  '',
  `- **machine**: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; **node**: ${process.version}; **date**: ${new Date().toISOString()}`,
  `- **method**: each contestant alone in a fresh process, ${rounds} rounds in alternating order; RPC: ${values['rpc-calls']} calls at 64 in flight after ${Number(values['rpc-calls']) / 2} warm-up calls, client and server in that one process; rpc-sequential: ${Number(values['rpc-calls']) / 2} calls one at a time after as many warm-up calls (nothing overlaps: the CPU of both sides per call against the time per call, 1,000,000 / per second µs); consume: a drain of ${values.messages} pre-published messages (in flight 100) after a 5,000-message warm-up, the consumer's start included as in the bench. CPU: the process's own (process.cpuUsage) and the broker server's (/proc/<pid>/stat, 10 ms steps) over the measured window, per call or message. "Others" is the rest of the machine busy meanwhile, in % of one CPU (a check that nothing else ran).`,
  '',
  '| broker | case | contestant | per second | process µs/unit | broker µs/unit | sum µs/unit | others % |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.broker} | ${r.case} | ${r.contestant} | ${cell(r.perSecond, 0)} | ${cell(r.processMicros, 1)} | ${cell(r.brokerMicros, 1)} | ${(r.processMicros.median + r.brokerMicros.median).toFixed(1)} | ${r.otherPercent.median.toFixed(0)} |`),
];
const out = resolve(fileURLToPath(new URL('../..', import.meta.url)), values.out);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.json`, `${JSON.stringify(rows, null, 2)}\n`);
writeFileSync(`${out}.md`, `${lines.join('\n')}\n`);
console.error(`[cpu-cost] wrote ${out}.md`);
