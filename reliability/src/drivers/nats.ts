import { JetStreamListener, NatsBackoff, NatsRpcClient, NatsRpcListener, headersFromNats, headersToNats } from '@micro-framework/nats';
import { NatsTestServer } from '@micro-framework/nats/testing';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { BrokerDriver, DeadLetter, DriverModule, Json, ServiceBindings } from '../broker-driver.ts';
import { idHeader, type Channel } from '../messages.ts';
import { packageVersion } from '../versions.ts';

/** The stream of the run and the subject of each channel. */
const stream = 'CHAOS';
const subjects: Record<Channel, string> = { events: 'chaos.events', keyed: 'chaos.keyed' };

interface NatsServiceSpec {
  readonly servers: string;
  readonly ackWaitMs: number;
}

const keyedOrderReason =
  'JetStream messages have no ordering key: with max_ack_pending above 1 (here maxWorkers 50) two messages of one key run at once and a nak or redelivery reorders them; per-key order would need a subject per key partition with one consumer each. The keyed route runs, its order is recorded but not judged.';

/**
 * NATS JetStream: its own nats-server (own port and store directory, from @micro-framework/nats/testing)
 * so the broker restarts disturb nobody else. Publishers and the RPC caller connect to the server
 * directly; the consumer service connects through the orchestrator's TCP proxy.
 */
export const natsDriver: DriverModule = {
  async start({ ackWaitMs }) {
    const server = await NatsTestServer.start();
    const outside = await connect({ servers: server.url, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 200, name: 'chaos-outside' });
    const jsm = await jetstreamManager(outside);
    await jsm.streams.add({ name: stream, subjects: Object.values(subjects) });
    const js = jetstream(outside);
    const deadLetterStream = `${stream}-dead-letters`;
    /** Dead letters already read, by stream sequence: each read fetches only the new ones. */
    const deadLetters = new Map<number, DeadLetter>();
    const clients: NatsRpcClient[] = [];

    const driver: BrokerDriver = {
      broker: 'nats',
      label: 'nats (JetStream)',
      keyedOrder: { on: false, reason: keyedOrderReason },
      notes: [
        'Core NATS is not in the table: it is at most once by design (no storage, no acks): a message published while no instance listens, or during a kill or a cut, is gone. JetStream is the NATS figure.',
        `The run's own nats-server (JetStream, file storage); the listeners' ackWait is ${ackWaitMs / 1_000} s (default 30 s) so a killed consumer's unacked messages come back within seconds.`,
        'After a broker restart, deliveries sometimes resume only 4–5 s later: a bare nats.js consume() on the same server shows the same gaps (about 0.6 s or 4.4 s after a restart), so that recovery time is the client\'s and the server\'s, not the framework\'s.',
      ],
      proxyTarget: { host: '127.0.0.1', port: server.port },
      serviceSpec: (proxyPort) => ({ servers: `nats://127.0.0.1:${proxyPort}`, ackWaitMs }) satisfies NatsServiceSpec,
      async publish(message) {
        await js.publish(subjects[message.channel], message.body, { headers: headersToNats(message.headers), msgID: message.id, timeout: 5_000 });
      },
      async readDeadLetters() {
        const info = await jsm.streams.info(deadLetterStream).catch(() => undefined);
        if (!info || info.state.messages === 0) return [...deadLetters.values()];
        for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq += 1) {
          if (deadLetters.has(seq)) continue;
          const stored = await jsm.streams.getMessage(deadLetterStream, { seq }).catch(() => null);
          if (!stored) continue;
          const headers = headersFromNats(stored.header);
          const original = headers['x-original-subject'];
          const channel = (Object.keys(subjects) as Channel[]).find((name) => subjects[name] === original) ?? 'unknown';
          deadLetters.set(seq, { id: headers[idHeader], channel, headers });
        }
        return [...deadLetters.values()];
      },
      async backlog() {
        let held = 0;
        for await (const consumer of jsm.consumers.list(stream)) held += consumer.num_pending + consumer.num_ack_pending;
        return held;
      },
      restartBroker: () => server.restart(),
      async createRpcClient() {
        const client = new NatsRpcClient({ nats: { servers: server.url } });
        clients.push(client);
        return client;
      },
      async versions() {
        return {
          'nats-server': outside.info?.version ?? 'unknown',
          '@nats-io/transport-node': packageVersion('@nats-io/transport-node'),
          '@nats-io/jetstream': packageVersion('@nats-io/jetstream'),
        };
      },
      async close() {
        await Promise.all(clients.map((client) => client.close()));
        await outside.drain().catch(() => undefined);
        await server.stop();
      },
    };
    return driver;
  },

  bindings(spec: Json): ServiceBindings {
    const { servers, ackWaitMs } = spec as unknown as NatsServiceSpec;
    const listener = (channel: Channel): JetStreamListener => new JetStreamListener({ stream, subjects: [subjects[channel]], ackWaitMs });
    return {
      config: { nats: { servers } },
      eventEntrypoint: () => listener('events'),
      keyedEntrypoint: () => listener('keyed'),
      rpcEntrypoint: (name) => new NatsRpcListener({ name }),
      delayedBackoff: (options) => new NatsBackoff(options),
    };
  },
};
