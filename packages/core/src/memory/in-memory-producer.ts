import { withTraceContext } from '../tracing.ts';
import type { Dependency } from '../dependency.ts';
import type { Headers } from '../meta.ts';
import { encodePayload } from '../payload-decoder.ts';
import type { Worker } from '../worker.ts';
import { InMemoryBroker } from './in-memory-broker.ts';
import { eventChannel } from './in-memory-event-listener.ts';

export interface InMemoryPublishOptions {
  readonly headers?: Headers;
  /** Partition / ordering key, where the broker has one. */
  readonly key?: string;
}

/** Publishes events of one source service. `publish` resolves once the broker stored the event. */
export class InMemoryPublisher {
  readonly sourceService: string;
  readonly broker: InMemoryBroker;

  constructor(options: { sourceService: string; broker?: InMemoryBroker }) {
    this.sourceService = options.sourceService;
    this.broker = options.broker ?? InMemoryBroker.default;
  }

  /** Publishes `payload` (JSON, or bytes as they are) as event `eventName` of the source service. */
  async publish(eventName: string, payload: unknown, options: InMemoryPublishOptions = {}): Promise<void> {
    await this.broker.publish(eventChannel(this.sourceService, eventName), {
      body: encodePayload(payload),
      headers: withTraceContext(options.headers ?? {}),
      key: options.key,
    });
  }
}

/** Injects a publisher of the running service's events (its serviceName is the source). */
export class InMemoryProducer implements Dependency<InMemoryPublisher> {
  readonly #broker: InMemoryBroker | undefined;

  constructor(options: { broker?: InMemoryBroker } = {}) {
    this.#broker = options.broker;
  }

  get(worker: Worker): InMemoryPublisher {
    return new InMemoryPublisher({ sourceService: worker.config.serviceName, broker: this.#broker });
  }
}
