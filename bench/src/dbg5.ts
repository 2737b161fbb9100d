import { amqpBench } from './contestants/amqp.ts';
import { pool } from './counter.ts';
import { percentile } from './stats.ts';
const bench = await amqpBench(100);
const peers = await import('../peers/src/peers.ts');
const all = [...bench.rpc, ...peers.peerContestants('amqp', { inFlight: 100, channel: () => bench.channel() }).rpc];
for (const c of all) {
  await c.start(); await pool(500, 16, (i) => c.call(i));
  const lat: number[] = [];
  for (let i = 0; i < 2000; i++) { const t = performance.now(); await c.call(i); lat.push(performance.now() - t); }
  const t0 = performance.now(); await pool(4000, 64, (i) => c.call(i));
  console.log(c.name.padEnd(24), 'p50', percentile(lat, 50).toFixed(3), 'p99', percentile(lat, 99).toFixed(3), Math.round(4000 / ((performance.now() - t0) / 1000)), 'calls/s');
  await c.stop();
}
await bench.close(); process.exit(0);
