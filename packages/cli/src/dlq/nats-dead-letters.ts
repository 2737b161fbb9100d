import type { Headers } from '@micro-framework/core';
import { loadAdapter } from '../adapters.ts';
import type { DeadLetterStore } from '../dead-letter-store.ts';
import { describeDeadLetter, replayHeaders, type DeadLetterEntry } from '../dead-letters.ts';
import { UsageError } from '../usage-error.ts';

/**
 * A JetStream dead-letter stream (a JetStreamListener's `<stream>-dead-letters`, or a core-NATS
 * SubjectListener's `deadLetterStream`). Entries are read by sequence, oldest first, and never
 * consumed by `list`. `replay` publishes each to its original subject (`x-original-subject`) through
 * JetStream, with a message id made of the dead letter's stream and sequence (a second replay of it
 * within the stream's duplicate window is dropped by JetStream), and deletes it from the dead letters
 * once JetStream acknowledged. Every consumer of that subject receives it again: JetStream cannot
 * address one consumer. A subject no stream captures (a core-NATS listener's) is replayed only with
 * `core`, at most once: the server takes it, nobody confirms it.
 */
export async function natsDeadLetters(connection: Readonly<Record<string, unknown>>, stream: string, options: { core?: boolean } = {}): Promise<DeadLetterStore> {
  const nats = await loadAdapter('nats');
  const extension = new nats.NatsConnectionExtension({ ...connection, reconnect: false });
  await extension.setup();
  const manager = await extension.manager();
  let created: string;
  try {
    created = (await manager.streams.info(stream)).created;
  } catch {
    await extension.stop();
    throw new UsageError(`JetStream has no stream ${stream}`);
  }
  /** Whether a JetStream stream captures `subject` (a publish there is acknowledged). */
  const captured = async (subject: string): Promise<boolean> => manager.streams.find(subject).then(() => true, () => false);

  /** The messages stored when it began, from the oldest, skipping deleted sequences. */
  async function* stored(limit: number): AsyncGenerator<{ seq: number; entry: DeadLetterEntry; data: Uint8Array; headers: Headers }> {
    const { state } = await manager.streams.info(stream);
    let found = 0;
    for (let seq = state.first_seq; seq <= state.last_seq && found < Math.min(limit, state.messages); seq += 1) {
      const message = await manager.streams.getMessage(stream, { seq }).catch(() => null);
      if (!message) continue;
      const headers = nats.headersFromNats(message.header);
      found += 1;
      yield { seq, data: message.data, headers, entry: describeDeadLetter(`seq ${seq}`, headers, message.data, headers['x-original-subject'] ?? '?') };
    }
  }
  return {
    async list(limit) {
      const entries: DeadLetterEntry[] = [];
      for await (const { entry } of stored(limit)) entries.push(entry);
      return entries;
    },
    async replay(limit, onReplayed) {
      let replayed = 0;
      for await (const { seq, entry, data, headers } of stored(limit)) {
        const subject = headers['x-original-subject'];
        if (!subject) throw new Error(`message ${entry.position} has no x-original-subject header: nowhere to replay it`);
        const fresh = nats.headersToNats(replayHeaders(headers));
        let to: string;
        if (await captured(subject)) {
          const ack = await extension.jetstream.publish(subject, data, { headers: fresh, msgID: `micro-framework-cli:${stream}:${created}:${seq}` });
          to = `subject ${subject} (stream ${ack.stream}, sequence ${ack.seq}${ack.duplicate ? ', already replayed' : ''})`;
        } else {
          // Core NATS confirms nothing: the message would be deleted with nobody proven to have it.
          if (!options.core) throw new Error(`no JetStream stream captures ${subject}: replaying ${entry.position} with core NATS could lose it (add --core to accept that)`);
          extension.connection.publish(subject, data, { headers: fresh });
          await extension.connection.flush();
          to = `subject ${subject} (core NATS)`;
        }
        await manager.streams.deleteMessage(stream, seq, false);
        replayed += 1;
        onReplayed(entry, to);
      }
      return replayed;
    },
    async purge() {
      return (await manager.streams.purge(stream)).purged;
    },
    close: () => extension.stop(),
  };
}
