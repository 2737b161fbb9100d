import { randomUUID } from 'node:crypto';
import channels from '@moleculer/channels';
import { logLevel } from 'kafkajs';
import moleculer from 'moleculer';
import type { DrainContestant, FailureContestant, RpcContestant } from '../../src/case.ts';
import { amqpUrl, kafkaBrokers, kafkaPartitions, messageData, natsServers } from '../../src/endpoints.ts';
import type { PeerContestants, PeerContext } from '../../src/peer-context.ts';
import { timedDrain } from '../../src/timed-drain.ts';

const { ServiceBroker } = moleculer;
const name = 'Moleculer';

/** A channels adapter configuration (@moleculer/channels `adapter` option) and the per-channel options. */
interface ChannelSetup {
  readonly adapter: { type: string; options: Record<string, unknown> };
  /** Channel name, group and adapter-specific options, for the channel the last prepare() filled. */
  channel(): { name: string; group: string; options: Record<string, unknown> };
}

/** Drains with a Moleculer service whose one channel handler counts (acked by the adapter once it returns). */
function moleculerDrain(settings: string, setup: ChannelSetup): DrainContestant {
  return timedDrain(name, settings, async (counter) => {
    const channel = setup.channel();
    const middleware = channels.Middleware({ adapter: setup.adapter } as Parameters<typeof channels.Middleware>[0]);
    const broker = new ServiceBroker({ nodeID: `bench-drain-${randomUUID().slice(0, 8)}`, logger: false, transporter: null, middlewares: [middleware as moleculer.Middleware] });
    broker.createService({
      name: 'bench',
      channels: { [channel.name]: { group: channel.group, ...channel.options, handler: () => counter.hit() } },
    } as moleculer.ServiceSchema);
    await broker.start();
    return broker;
  });
}

/**
 * The failure-cost case with a Moleculer service whose channel handler passes each id to the ledger,
 * with the channel's `maxRetries` 2: @moleculer/channels counts the first delivery, so 2 means one retry.
 */
function moleculerFailure(settings: string, setup: ChannelSetup): FailureContestant {
  return {
    name,
    settings,
    async start(_channel, ledger) {
      const channel = setup.channel();
      const middleware = channels.Middleware({ adapter: setup.adapter } as Parameters<typeof channels.Middleware>[0]);
      const broker = new ServiceBroker({ nodeID: `bench-failure-${randomUUID().slice(0, 8)}`, logger: false, transporter: null, middlewares: [middleware as moleculer.Middleware] });
      broker.createService({
        name: 'bench',
        channels: { [channel.name]: { group: channel.group, maxRetries: 2, ...channel.options, handler: (payload: unknown) => ledger.attempt(messageData(payload).id) } },
      } as moleculer.ServiceSchema);
      await broker.start();
      return broker;
    },
  };
}

/** RPC between two Moleculer brokers (one serving `double`, one calling it) over `transporter`. */
function moleculerRpc(settings: string, transporter: { type: string; options: Record<string, unknown> }): RpcContestant {
  const namespace = `bench-${randomUUID().slice(0, 8)}`;
  // The transporter passes options its typings leave out (AMQP `socketOptions`) on to the client library.
  const options = { namespace, logger: false, transporter: transporter as moleculer.TransporterConfig, requestTimeout: 30_000 } as const;
  const server = new ServiceBroker({ ...options, nodeID: `${namespace}-server` });
  const client = new ServiceBroker({ ...options, nodeID: `${namespace}-client` });
  server.createService({ name: 'bench', actions: { double: (ctx: moleculer.Context<{ value: number }>) => ctx.params.value * 2 } });
  return {
    name,
    settings,
    async start() {
      await Promise.all([server.start(), client.start()]);
      await client.waitForServices('bench', 60_000);
      await client.call('bench.double', { value: 0 });
    },
    call: (value) => client.call('bench.double', { value }),
    async stop() {
      await client.stop();
      await server.stop();
    },
  };
}

export function moleculerContestants(broker: 'amqp' | 'nats' | 'kafka', context: PeerContext): PeerContestants {
  const maxInFlight = context.inFlight;
  switch (broker) {
    case 'amqp': {
      const setup: ChannelSetup = {
        adapter: {
          type: 'AMQP',
          options: {
            maxInFlight,
            amqp: { url: amqpUrl, socketOptions: { noDelay: true }, queueOptions: { durable: true, arguments: { 'x-expires': 600_000 } }, exchangeOptions: { autoDelete: true } },
          },
        },
        // prepare() filled `bench.<id>`: the adapter consumes queue `<group>.<channel name>`.
        channel: () => ({ name: context.channel().slice('bench.'.length), group: 'bench', options: {} }),
      };
      return {
        drains: [moleculerDrain(`@moleculer/channels AMQP adapter, maxInFlight ${maxInFlight} (= prefetch), ack after the handler, noDelay`, setup)],
        failureCost: [
          moleculerFailure(`@moleculer/channels AMQP adapter, maxInFlight ${maxInFlight}, channel maxRetries 2 (the first delivery counts: one retry); a failed message is published again to the queue at once (no delay option, no publisher confirm) and the original acked`, setup),
        ],
        rpc: [moleculerRpc('AMQP transporter, prefetch 100, noDelay (the defaults are prefetch 1 and Nagle on)', { type: 'AMQP', options: { url: amqpUrl, prefetch: 100, socketOptions: { noDelay: true } } })],
        unsupported: [],
      };
    }
    case 'nats': {
      const setup: ChannelSetup = {
        adapter: { type: 'NATS', options: { maxInFlight, nats: { url: natsServers } } },
        channel: () => ({ name: context.channel(), group: 'bench', options: { nats: { consumerOptions: { config: { deliver_policy: 'all' } } } } }),
      };
      return {
        drains: [moleculerDrain(`@moleculer/channels NATS JetStream adapter (push consumer, queue group), maxInFlight ${maxInFlight} (= max_ack_pending), deliver_policy all`, setup)],
        failureCost: [
          moleculerFailure(`@moleculer/channels NATS JetStream adapter (push consumer), maxInFlight ${maxInFlight}, channel maxRetries 2 (the first delivery counts: one retry); a failed message is nak'ed without delay (no delay option)`, setup),
        ],
        rpc: [moleculerRpc('NATS transporter (core NATS)', { type: 'NATS', options: { url: natsServers } })],
        unsupported: [],
      };
    }
    case 'kafka': {
      const setup: ChannelSetup = {
        adapter: { type: 'Kafka', options: { maxInFlight, kafka: { brokers: kafkaBrokers, logLevel: logLevel.NOTHING } } },
        channel: () => ({ name: context.channel(), group: `bench-${randomUUID().slice(0, 8)}`, options: { kafka: { fromBeginning: true, partitionsConsumedConcurrently: kafkaPartitions } } }),
      };
      return {
        drains: [moleculerDrain(`@moleculer/channels Kafka adapter, eachMessage with a commit per message, partitionsConsumedConcurrently ${kafkaPartitions}`, setup)],
        failureCost: [
          moleculerFailure(`@moleculer/channels Kafka adapter, partitionsConsumedConcurrently ${kafkaPartitions}, channel maxRetries 2 (the first delivery counts: one retry); a failed record is produced again to the topic at once (no delay option), then its offset committed`, setup),
        ],
        rpc: [moleculerRpc('Kafka transporter (@platformatic/kafka)', { type: 'Kafka', options: { bootstrapBrokers: kafkaBrokers } })],
        unsupported: [],
      };
    }
  }
}
