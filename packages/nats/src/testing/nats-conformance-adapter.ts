import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcpProxy, spawnConsumerScript } from '@micro-framework/conformance';
import { capabilitiesLacking, type ConformanceAdapter, type ConsumerProcess, type DeadLetterRecord, type ListenerSpec } from '@micro-framework/core/testing';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { JetStreamListener } from '../jetstream-listener.ts';
import { NatsBackoff } from '../nats-backoff.ts';
import { headersFromNats, headersToNats } from '../nats-headers.ts';
import { NatsRpcClient, NatsRpcListener } from '../nats-rpc.ts';
import { conformanceAckWaitMs, conformanceStream, conformanceSubject } from './conformance-names.ts';
import { NatsTestServer } from './nats-test-server.ts';

/**
 * The JetStream conformance factory. It starts its own nats-server (own port and store directory) so
 * the broker-restart scenario never stops the machine's shared server; services reach it through a
 * TcpProxy so the network can be cut.
 */
export async function natsJetStreamConformanceAdapter(): Promise<ConformanceAdapter> {
  const server = await NatsTestServer.start();
  const proxy = new TcpProxy({ host: '127.0.0.1', port: server.port });
  const serviceUrl = `nats://127.0.0.1:${await proxy.start()}`;
  const outside = await connect({ servers: server.url, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  const jsm = await jetstreamManager(outside);
  await jsm.streams.add({ name: conformanceStream, subjects: [conformanceSubject('>')] });
  const js = jetstream(outside);
  const listeners = new Map<string, JetStreamListener>();
  const key = (spec: ListenerSpec): string => `${spec.channel}\u0000${spec.serviceName}`;
  const clients: NatsRpcClient[] = [];

  const reasons = {
    orderedPerKey:
      'JetStream messages have no ordering key: a consumer hands out messages of its subjects in order, but with max_ack_pending above 1 and competing instances two messages of one key run at once (per-key order needs a subject per key partition with one consumer each)',
  };
  return {
    name: 'nats (JetStream)',
    capabilities: capabilitiesLacking(reasons),
    reasons,
    config: { nats: { servers: serviceUrl } },
    createListener(spec) {
      const listener = new JetStreamListener({
        stream: conformanceStream,
        subjects: [conformanceSubject(spec.channel)],
        payloadFilter: spec.payloadFilter,
        format: spec.format,
        ackWaitMs: conformanceAckWaitMs,
      });
      listeners.set(key(spec), listener);
      return listener;
    },
    async publish(channel, message) {
      await js.publish(conformanceSubject(channel), message.body, { headers: headersToNats(message.headers), timeout: 5_000 });
    },
    createDelayedBackoff: (options) => new NatsBackoff(options),
    async readDeadLetters(spec) {
      const listener = listeners.get(key(spec));
      if (!listener) return [];
      const found: DeadLetterRecord[] = [];
      const info = await jsm.streams.info(listener.deadLetterStream).catch(() => undefined);
      if (!info || info.state.messages === 0) return found;
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq += 1) {
        const stored = await jsm.streams.getMessage(listener.deadLetterStream, { seq }).catch(() => null);
        if (stored && stored.subject === listener.deadLetterSubject) {
          found.push({ body: new Uint8Array(stored.data), headers: headersFromNats(stored.header) });
        }
      }
      return found;
    },
    createRpcListener: (options) => new NatsRpcListener(options),
    async createRpcClient() {
      const client = new NatsRpcClient({ nats: { servers: serviceUrl } });
      clients.push(client);
      return client;
    },
    restartBroker: () => server.restart(),
    cutNetwork: (ms) => proxy.cutFor(ms),
    async spawnConsumerProcess(spec): Promise<ConsumerProcess> {
      const here = fileURLToPath(import.meta.url);
      const script = fileURLToPath(new URL(`./consumer-process${extname(here)}`, import.meta.url));
      return spawnConsumerScript(script, { ...spec, url: serviceUrl });
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await outside.drain().catch(() => undefined);
      await proxy.close();
      await server.stop();
    },
  };
}
