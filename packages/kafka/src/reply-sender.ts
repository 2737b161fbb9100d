import type { Kafka, Message, Producer } from 'kafkajs';

/** A fresh producer after this many distinct reply topics: kafkajs keeps every topic it ever sent to. */
const maxTopicsPerProducer = 500;

/**
 * Sends RPC replies to the callers' reply topics with a producer of its own. Reply topics come and go
 * (a client deletes its topic when it closes), and kafkajs refreshes the metadata of every topic a
 * producer ever sent to: once one is deleted, each later send to a new topic fails. So a send that
 * fails is tried once more on a new producer, and the producer is replaced after
 * `maxTopicsPerProducer` topics anyway. The service's own producer (retries, dead letters) never
 * sees a reply topic.
 */
export class ReplySender {
  readonly #kafka: Kafka;
  #producer: Promise<Producer> | undefined;
  readonly #topics = new Set<string>();

  constructor(kafka: Kafka) {
    this.#kafka = kafka;
  }

  /** Sends one reply; rejects when Kafka refused it twice. */
  async send(topic: string, message: Message): Promise<void> {
    if (!this.#topics.has(topic) && this.#topics.size >= maxTopicsPerProducer) await this.#replace();
    this.#topics.add(topic);
    try {
      await (await this.#current()).send({ topic, acks: -1, messages: [message] });
    } catch {
      // Most often a topic deleted since (kafkajs wraps it: "does not host this topic-partition"):
      // a new producer knows only the topic it sends to.
      await this.#replace();
      this.#topics.add(topic);
      await (await this.#current()).send({ topic, acks: -1, messages: [message] });
    }
  }

  async close(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    await producer?.then((opened) => opened.disconnect()).catch(() => undefined);
  }

  #current(): Promise<Producer> {
    this.#producer ??= (async () => {
      // Few retries: a failed send is tried again on a new producer, well within the caller's timeout.
      const producer = this.#kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 1, initialRetryTime: 100 } });
      await producer.connect();
      return producer;
    })().catch((error: unknown) => {
      this.#producer = undefined;
      throw error;
    });
    return this.#producer;
  }

  async #replace(): Promise<void> {
    this.#topics.clear();
    await this.close();
  }
}
