import { capabilitiesLacking, type ConformanceAdapter, type DeadLetterRecord, type ListenerSpec } from '@micro-framework/core/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { headersFromNats, headersToNats } from '../nats-headers.ts';
import { defaultNatsUrl } from '../nats-options.ts';
import { NatsRpcClient, NatsRpcListener } from '../nats-rpc.ts';
import { SubjectListener } from '../subject-listener.ts';

const subjectOf = (channel: string): string => `conformance-core.${channel}`;
const deadLetterStream = 'CONFORMANCE-CORE-DEAD-LETTERS';

/**
 * The core NATS conformance factory, on the machine's NATS server (NATS_URL). Core NATS is at most
 * once; every capability it lacks is switched off with the protocol property that explains it. Dead
 * letters are kept by a JetStream stream so the dead-letter scenarios can read them.
 */
export async function natsCoreConformanceAdapter(options: { url?: string } = {}): Promise<ConformanceAdapter> {
  const url = options.url ?? process.env['NATS_URL'] ?? defaultNatsUrl;
  const outside = await connect({ servers: url });
  const jsm = await jetstreamManager(outside);
  const existing = await jsm.streams.info(deadLetterStream).catch(() => undefined);
  if (!existing) {
    // Kept one hour: test runs on a shared server leave nothing lasting.
    await jsm.streams.add({ name: deadLetterStream, subjects: [`dead-letter.${subjectOf('>')}`], max_age: 3_600 * 1e9 });
  }
  const clients: NatsRpcClient[] = [];

  const reasons = {
    durable: 'core NATS stores no message: only subscribers connected when it is published receive it',
    delayedRetry: 'core NATS has no redelivery: a retry can only wait in the process (Backoff)',
    restartableBroker: 'core NATS keeps nothing across a server restart: in-flight messages are lost by design',
    networkFault: 'core NATS does not keep messages for a subscriber that is cut off: they are lost by design (at most once)',
    consumerProcessKill: 'core NATS has no acks: a message handed to a process that dies is not delivered again',
    orderedPerKey: 'core NATS messages have no ordering key: a queue group spreads a subject over its members, and one member runs its messages concurrently',
  };
  return {
    name: 'nats (core)',
    reasons,
    capabilities: capabilitiesLacking(reasons),
    config: { nats: { servers: url } },
    createListener(spec: ListenerSpec) {
      return new SubjectListener({ subject: subjectOf(spec.channel), payloadFilter: spec.payloadFilter, format: spec.format, deadLetterStream });
    },
    async publish(channel, message) {
      outside.publish(subjectOf(channel), message.body, { headers: headersToNats(message.headers) });
      await outside.flush();
    },
    async readDeadLetters(spec) {
      const wanted = SubjectListener.deadLetterSubject(subjectOf(spec.channel));
      const found: DeadLetterRecord[] = [];
      const info = await jsm.streams.info(deadLetterStream);
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq += 1) {
        const stored = await jsm.streams.getMessage(deadLetterStream, { seq }).catch(() => null);
        if (stored && stored.subject === wanted) found.push({ body: new Uint8Array(stored.data), headers: headersFromNats(stored.header) });
      }
      return found;
    },
    createRpcListener: (rpcOptions) => new NatsRpcListener(rpcOptions),
    async createRpcClient() {
      const client = new NatsRpcClient({ nats: { servers: url } });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await outside.drain().catch(() => undefined);
    },
  };
}
