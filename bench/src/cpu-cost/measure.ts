/**
 * One measurement of the CPU-cost tool, in a process of its own (see main.ts): starts one contestant,
 * warms it up, then runs the measured window and prints one JSON line with its rate and the CPU time
 * per call or message spent by this process and by the broker's server.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import type { BrokerBench } from '../case.ts';
import { amqpBench } from '../contestants/amqp.ts';
import { kafkaBench } from '../contestants/kafka.ts';
import { natsBench } from '../contestants/nats.ts';
import { pool } from '../counter.ts';
import type { PeersModule } from '../peer-context.ts';
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
const factories: Record<string, (inFlight: number) => Promise<BrokerBench>> = { amqp: amqpBench, nats: natsBench, kafka: kafkaBench };
const factory = factories[broker];
if (!factory || !['rpc', 'rpc-sequential', 'consume'].includes(values.case ?? '') || !values.contestant || !(units > 0)) {
  throw new Error('usage: measure.ts --broker amqp|nats|kafka --case rpc|rpc-sequential|consume --contestant <name> --units N [--profile file]');
}

const bench = await factory(inFlight);
let peers: PeersModule | undefined;
try {
  peers = (await import(new URL('../../peers/src/peers.ts', import.meta.url).href)) as PeersModule;
} catch {
  // Without bench/peers installed only the raw client and ours can be measured.
}
const peer = peers?.peerContestants(broker as 'amqp' | 'nats' | 'kafka', { inFlight, channel: () => bench.channel() });
const server = brokerPid(broker);

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
  const contestant = [...bench.rpc, ...(peer?.rpc ?? [])].find((c) => c.name === values.contestant);
  if (!contestant) throw new Error(`no RPC contestant ${values.contestant} on ${broker}`);
  await contestant.start();
  await pool(200, 16, (i) => contestant.call(i));
  // One call at a time: nothing overlaps, so a call's latency is the CPU spent on its path plus waits.
  const inFlight = values.case === 'rpc' ? 64 : 1;
  await pool(units / 2, inFlight, (i) => contestant.call(i));
  result = await measured(() => pool(units, inFlight, (i) => contestant.call(i)));
  await contestant.stop();
} else {
  const contestant = [...bench.drains, ...(peer?.drains ?? [])].find((c) => c.name === values.contestant);
  if (!contestant) throw new Error(`no consume contestant ${values.contestant} on ${broker}`);
  await bench.prepare(Math.min(units, 5_000));
  await contestant.drain(Math.min(units, 5_000));
  await bench.prepare(units);
  result = await measured(() => contestant.drain(units));
}
await bench.close();
console.log(JSON.stringify(result));
process.exit(0);
