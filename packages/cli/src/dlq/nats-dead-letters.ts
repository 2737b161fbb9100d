import { describeDeadLetter, replayHeaders, type DeadLetterEntry } from '../dead-letters.ts';
import type { DeadLetterStore } from '../dead-letter-store.ts';
import { UsageError } from '../brokers.ts';

/**
 * A JetStream dead-letter stream (`<stream>-dead-letters`, or a core-NATS listener's
 * `deadLetterStream`). Entries are read by sequence; `replay` publishes each to its original subject
 * (`x-original-subject`) and deletes it from the stream once JetStream acknowledged the publish. A
 * subject no stream captures (a core-NATS listener's) is replayed only with `core`, at most once: the
 * server takes it, nobody confirms it. Every consumer of that subject receives it again.
 */
export async function natsDeadLetters(servers: string[], stream: string, options: { core?: boolean } = {}): Promise<DeadLetterStore> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
  const { headersFromNats, headersToNats } = await import('@micro-framework/nats');
  const connection = await connect({ servers });
  const manager = await jetstreamManager(connection);
  const js = jetstream(connection);
  try {
    await manager.streams.info(stream);
  } catch {
    await connection.close();
    throw new UsageError(`JetStream has no stream ${stream}`);
  }
  /** Whether a JetStream stream captures `subject` (a publish there is acknowledged). */
  const captured = async (subject: string): Promise<boolean> => manager.streams.find(subject).then(() => true, () => false);

  /** The stored messages from the oldest, skipping deleted sequences. */
  async function* stored(limit: number): AsyncGenerator<{ seq: number; entry: DeadLetterEntry; data: Uint8Array; headers: ReturnType<typeof headersFromNats> }> {
    const { state } = await manager.streams.info(stream);
    let found = 0;
    for (let seq = state.first_seq; seq <= state.last_seq && found < limit; seq += 1) {
      const message = await manager.streams.getMessage(stream, { seq }).catch(() => null);
      if (!message) continue;
      const headers = headersFromNats(message.header);
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
        if (!subject) throw new Error(`message ${entry.position} has no x-original-subject header`);
        const fresh = headersToNats(replayHeaders(headers));
        if (await captured(subject)) await js.publish(subject, data, { headers: fresh });
        else {
          // Core NATS confirms nothing: the message would be deleted with nobody proven to have it.
          if (!options.core) throw new Error(`no JetStream stream captures ${subject}: replaying ${entry.position} with core NATS could lose it (add --core to accept that)`);
          connection.publish(subject, data, { headers: fresh });
          await connection.flush();
        }
        await manager.streams.deleteMessage(stream, seq);
        replayed += 1;
        onReplayed(entry);
      }
      return replayed;
    },
    async purge() {
      return (await manager.streams.purge(stream)).purged;
    },
    close: () => connection.close(),
  };
}
