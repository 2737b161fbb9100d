import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times. */
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** How the broker's process is found on this machine (pgrep arguments), per bench broker name. */
const brokerProcess: Record<string, string[]> = {
  amqp: ['-f', 'beam.smp'],
  nats: ['-x', 'nats-server'],
  kafka: ['-f', 'kafka.Kafka'],
};

/** The pid of the broker's server process on this machine; throws when none runs. */
export function brokerPid(broker: string): number {
  const args = brokerProcess[broker];
  if (!args) throw new Error(`no broker process known for ${broker}`);
  const pid = Number(execFileSync('pgrep', args).toString().trim().split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no ${broker} broker process found (pgrep ${args.join(' ')})`);
  return pid;
}

/** CPU time (user + system, µs) a process has used so far, from /proc/<pid>/stat (10 ms steps at 100 ticks/s). */
export function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may hold spaces: utime and stime are the 14th and 15th fields.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1e6;
}

/** CPU time (µs) the whole machine spent busy so far (every CPU, idle and iowait excluded), from /proc/stat. */
export function machineBusyMicros(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  return ((total - fields[3]! - fields[4]!) / ticksPerSecond) * 1e6;
}
