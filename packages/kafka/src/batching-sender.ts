import type { Message, Producer } from 'kafkajs';

interface Queued {
  readonly topic: string;
  readonly message: Message;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Sends records through one producer in as few produce requests as possible: records queued while a
 * request is on its way go out together in the next one (acks = all). A producer with one request in
 * flight (idempotent) otherwise sends concurrent records one request after the other.
 */
export class BatchingSender {
  readonly #producer: Producer;
  #queue: Queued[] = [];
  #sending = false;

  constructor(producer: Producer) {
    this.#producer = producer;
  }

  /** Resolves once all in-sync replicas acknowledged the request that carried the record; rejects with that request's error. */
  send(topic: string, message: Message): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ topic, message, resolve, reject });
      if (!this.#sending) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#sending = true;
    // Let the records of this event-loop turn join the first request too.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      const byTopic = new Map<string, Message[]>();
      for (const { topic, message } of batch) {
        const messages = byTopic.get(topic) ?? [];
        if (messages.length === 0) byTopic.set(topic, messages);
        messages.push(message);
      }
      try {
        await this.#producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
        for (const queued of batch) queued.resolve();
      } catch (error) {
        for (const queued of batch) queued.reject(error);
      }
    }
    this.#sending = false;
  }
}
