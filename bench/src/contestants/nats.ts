import { randomUUID } from 'node:crypto';
import { JetStreamListener, NatsRpcClient, NatsRpcListener } from '@micro-framework/nats';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type Subscription } from '@nats-io/transport-node';
import type { BrokerBench, DrainContestant, RpcContestant } from '../case.ts';
import { Counter, pool } from '../counter.ts';
import { routeDrain, routeRpc } from '../route-contestants.ts';
import { benchMessage as body, natsServers as servers } from '../endpoints.ts';

export async function natsBench(inFlight: number): Promise<BrokerBench> {
  const nc = await connect({ servers });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  let stream = '';
  const streams: string[] = [];

  const raw: DrainContestant = {
    name: '@nats-io/jetstream (raw)',
    settings: `durable pull consumer, max_messages ${inFlight}, explicit ack per message`,
    async drain(count) {
      const started = performance.now();
      const name = `raw-${randomUUID().slice(0, 8)}`;
      await jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit, max_ack_pending: 1_000 });
      const consumer = await js.consumers.get(stream, name);
      const messages = await consumer.consume({ max_messages: inFlight });
      const counter = new Counter(count);
      void (async () => {
        for await (const message of messages) {
          message.ack();
          counter.hit();
        }
      })();
      await counter.done;
      const elapsed = performance.now() - started;
      messages.stop();
      return elapsed;
    },
  };

  const ours = routeDrain({
    name: '@micro-framework/nats',
    settings: `JetStreamListener, maxWorkers ${inFlight} (pull size), ack after the route finished`,
    maxWorkers: inFlight,
    config: { nats: { servers } },
    entrypoint: () => new JetStreamListener({ stream, subjects: [stream] }),
  });

  const rawRpc = (): RpcContestant => {
    let subscription: Subscription | undefined;
    const subject = `bench.raw.${randomUUID().slice(0, 8)}`;
    return {
      name: '@nats-io/transport-node (raw)',
      settings: 'core request/reply through nc.request() (the client API), queue group',
      async start() {
        subscription = nc.subscribe(subject, { queue: 'bench', callback: (_error, msg) => {
          msg.respond(JSON.stringify(Number(msg.string()) * 2));
        } });
        await nc.flush();
      },
      async call(value) {
        return (await nc.request(subject, String(value), { timeout: 30_000 })).string();
      },
      async stop() {
        subscription?.unsubscribe();
      },
    };
  };

  const oursRpc = (): RpcContestant =>
    routeRpc({
      name: '@micro-framework/nats',
      settings: 'NatsRpcListener (queue group), NatsRpcClient, maxWorkers 100',
      config: { nats: { servers } },
      listener: () => new NatsRpcListener(),
      client: async () => new NatsRpcClient({ connection: nc }),
    });

  return {
    broker: 'NATS JetStream (RPC: NATS core)',
    server: `nats-server ${nc.info?.version ?? 'unknown'}`,
    async prepare(count) {
      stream = `BENCH_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      streams.push(stream);
      await jsm.streams.add({ name: stream, subjects: [stream] });
      await pool(count, 256, () => js.publish(stream, body));
    },
    probe: 'nats',
    channel: () => stream,
    drains: [raw, ours],
    rpc: [rawRpc(), oursRpc()],
    async close() {
      for (const name of streams) await jsm.streams.delete(name).catch(() => undefined);
      await nc.drain();
    },
  };
}
