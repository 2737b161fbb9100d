import { randomUUID } from 'node:crypto';
import { JetStreamListener, NatsBackoff, NatsRpcClient, NatsRpcListener } from '@micro-framework/nats';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type Subscription } from '@nats-io/transport-node';
import type { BrokerBench, DrainContestant, FailureContestant, RpcContestant, SustainedPublisher } from '../case.ts';
import { Counter, pool } from '../counter.ts';
import { routeDrain, routeFailure, routeRpc } from '../route-contestants.ts';
import { benchMessage as body, messageData, natsServers as servers } from '../endpoints.ts';
import { retryIntervalMs } from '../failure-cost.ts';

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

  const rawFailure: FailureContestant = {
    name: '@nats-io/jetstream (raw)',
    settings: `durable pull consumer, max_messages ${inFlight}, explicit ack per message; a failed message is nak'ed with a ${retryIntervalMs} ms delay (JetStream redelivers it)`,
    async start(channel, ledger) {
      const name = `raw-${randomUUID().slice(0, 8)}`;
      await jsm.consumers.add(channel, { durable_name: name, ack_policy: AckPolicy.Explicit, max_ack_pending: 1_000 });
      const consumer = await js.consumers.get(channel, name);
      const messages = await consumer.consume({ max_messages: inFlight });
      void (async () => {
        for await (const message of messages) {
          try {
            ledger.attempt(messageData(message.data).id);
            message.ack();
          } catch {
            message.nak(retryIntervalMs);
          }
        }
      })();
      return { stop: async () => messages.stop() };
    },
  };

  const oursFailure = routeFailure({
    name: '@micro-framework/nats',
    settings: `JetStreamListener, maxWorkers ${inFlight}, NatsBackoff maxRetries 1, interval ${retryIntervalMs} ms (nak with delay, retry state in a KV bucket)`,
    maxWorkers: inFlight,
    config: { nats: { servers } },
    entrypoint: (channel) => new JetStreamListener({ stream: channel, subjects: [channel] }),
    backoff: () => new NatsBackoff({ maxRetries: 1, interval: retryIntervalMs }),
  });

  const sustainedPublisher = async (): Promise<SustainedPublisher> => {
    const subject = stream;
    return {
      // js.publish waits for an ack per message, which cost the publisher its schedule on two cores; the
      // stream stores core publishes to its subject too, and the probe checks every id arrived.
      settings: 'core nc.publish to the stream\'s subject (the stream stores it; no per-message publish ack), a flush at the end',
      publish(bodies) {
        for (const text of bodies) nc.publish(subject, text);
      },
      settle: () => nc.flush(),
    };
  };

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
    async prepare(count, make) {
      stream = `BENCH_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      streams.push(stream);
      await jsm.streams.add({ name: stream, subjects: [stream] });
      await pool(count, 256, (index) => js.publish(stream, make ? make(index) : body));
    },
    probe: 'nats',
    channel: () => stream,
    drains: [raw, ours],
    rpc: [rawRpc(), oursRpc()],
    failureCost: [rawFailure, oursFailure],
    sustainedPublisher,
    async close() {
      for (const name of streams) await jsm.streams.delete(name).catch(() => undefined);
      await nc.drain();
    },
  };
}
