/**
 * One measurement of the CPU-cost tool, in a process of its own (see main.ts): starts one contestant,
 * warms it up, then runs the measured window and prints one JSON line with its rate and the CPU time
 * per call or message spent by this process and by the broker's server.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { brokerBenches, loadPeers } from '../broker-benches.ts';
import type { DrainContestant, RpcContestant } from '../case.ts';
import { pool } from '../counter.ts';
import type { PeerContestants } from '../peer-context.ts';
import { brokerPid, machineBusyMicros, processCpuMicros } from './proc-cpu.ts';

const { values } = parseArgs({
  options: {
    broker: { type: 'string' },
    case: { type: 'string' },
    contestant: { type: 'string' },
    units: { type: 'string' },
    'in-flight': { type: 'string', default: '100' },
    profile: { type: 'string' },
  },
});
const broker = values.broker ?? '';
const inFlight = Number(values['in-flight']);
const units = Number(values.units);
const factory = brokerBenches[broker];
if (!factory || !['rpc', 'rpc-sequential', 'consume'].includes(values.case ?? '') || !values.contestant || !(units > 0)) {
  throw new Error('usage: measure.ts --broker amqp|nats|kafka --case rpc|rpc-sequential|consume --contestant <name> --units N [--profile file]');
}

const bench = await factory(inFlight);
const server = brokerPid(broker);

/** The contestant of that name: the raw client's and ours from the broker's bench, a peer's from bench/peers. */
async function contestantNamed<C extends { readonly name: string }>(own: readonly C[], ofPeers: (peers: PeerContestants) => readonly C[]): Promise<C> {
  const named = (c: C): boolean => c.name === values.contestant;
  const found = own.find(named) ?? ofPeers((await loadPeers()).peerContestants(broker as 'amqp' | 'nats' | 'kafka', { inFlight, channel: () => bench.channel() })).find(named);
  if (!found) throw new Error(`no ${values.case} contestant ${values.contestant} on ${broker}`);
  return found;
}

/** Runs `window` and returns what it cost; with --profile, samples this process meanwhile (slows it). */
async function measured(window: () => Promise<unknown>): Promise<Record<string, number>> {
  let session: Session | undefined;
  if (values.profile) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const [brokerBefore, machineBefore, ownBefore, started] = [processCpuMicros(server), machineBusyMicros(), process.cpuUsage(), performance.now()];
  await window();
  const seconds = (performance.now() - started) / 1_000;
  const own = process.cpuUsage(ownBefore);
  const brokerMicros = processCpuMicros(server) - brokerBefore;
  const otherMicros = machineBusyMicros() - machineBefore - own.user - own.system - brokerMicros;
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(values.profile!, JSON.stringify(profile));
    session.disconnect();
  }
  return {
    perSecond: units / seconds,
    processMicros: (own.user + own.system) / units,
    brokerMicros: brokerMicros / units,
    // The rest of the machine, busy meanwhile (a check that nothing else ran): % of one CPU.
    otherPercent: (otherMicros / 1e6 / seconds) * 100,
  };
}

let result: Record<string, number>;
if (values.case === 'rpc' || values.case === 'rpc-sequential') {
  const contestant = await contestantNamed<RpcContestant>(bench.rpc, (peers) => peers.rpc);
  await contestant.start();
  await pool(200, 16, (i) => contestant.call(i));
  // One call at a time: nothing overlaps, so a call's latency is the CPU spent on its path plus waits.
  const inFlight = values.case === 'rpc' ? 64 : 1;
  await pool(units / 2, inFlight, (i) => contestant.call(i));
  result = await measured(() => pool(units, inFlight, (i) => contestant.call(i)));
  await contestant.stop();
} else {
  const contestant = await contestantNamed<DrainContestant>(bench.drains, (peers) => peers.drains);
  await bench.prepare(Math.min(units, 5_000));
  await contestant.drain(Math.min(units, 5_000));
  await bench.prepare(units);
  result = await measured(() => contestant.drain(units));
}
await bench.close();
console.log(JSON.stringify(result));
process.exit(0);
