import { DelayedBackoff } from '../backoff.ts';
import { InMemoryBroker } from '../memory/in-memory-broker.ts';
import { InMemoryEventListener } from '../memory/in-memory-event-listener.ts';
import { InMemoryRpcClient, InMemoryRpcListener } from '../memory/in-memory-rpc.ts';
import { capabilitiesLacking, type ConformanceAdapter, type ListenerSpec } from './conformance-adapter.ts';

const sourceService = 'conformance';

/** The in-memory broker's conformance factory, on a fresh broker of its own. */
export function inMemoryConformanceAdapter(broker = new InMemoryBroker()): ConformanceAdapter {
  const listeners = new Map<string, InMemoryEventListener>();
  const key = (spec: ListenerSpec): string => `${spec.channel}\u0000${spec.serviceName}`;
  const reasons = {
    restartableBroker: 'the in-memory broker lives inside the service process: there is no broker to restart',
    networkFault: 'the in-memory broker has no network between service and broker',
    consumerProcessKill: 'the in-memory broker is not shared between processes',
  };
  return {
    name: 'in-memory',
    reasons,
    capabilities: capabilitiesLacking(reasons),
    createListener(spec) {
      const listener = new InMemoryEventListener({
        sourceService,
        eventName: spec.channel,
        payloadFilter: spec.payloadFilter,
        format: spec.format,
        broker,
      });
      listeners.set(key(spec), listener);
      return listener;
    },
    async publish(channel, message) {
      await broker.publish(`${sourceService}.${channel}`, { body: message.body, headers: message.headers ?? {}, key: message.key });
    },
    createDelayedBackoff: (options) => new DelayedBackoff(options),
    async readDeadLetters(spec) {
      const listener = listeners.get(key(spec));
      if (!listener) return [];
      return broker.peek(listener.deadLetterQueueName).map((message) => ({ body: message.body, headers: message.headers }));
    },
    createRpcListener: (options) => new InMemoryRpcListener({ ...options, broker }),
    createRpcClient: async () => new InMemoryRpcClient({ broker }),
  };
}
