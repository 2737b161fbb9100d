import type { BrokerDriver } from './broker-driver.ts';
import { idHeader, messageBody, type PlannedMessage } from './messages.ts';

/** What the publishers did. */
export interface PublishOutcome {
  /** Ids the broker confirmed, with the time of the confirm (epoch ms). */
  readonly confirmed: Map<string, number>;
  /** Ids never confirmed before their publish deadline (not counted as published, nor as lost). */
  readonly unconfirmed: string[];
  /** Publish attempts that failed and were tried again (broker restarts, timeouts). */
  readonly retries: number;
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface PublishOptions {
  readonly publishers: number;
  /** Planned length of publishing: each publisher paces its messages over it, catching up after a stall. */
  readonly publishMs: number;
  /** How long one message is tried before it counts as unconfirmed. Default 120 s. */
  readonly messageDeadlineMs?: number;
  /** Called after each confirm (progress). */
  readonly onConfirmed?: (count: number) => void;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Publishes the plan from `publishers` concurrent publishers, each sending its share in order and
 * awaiting the broker's confirm before its next message (so a key's messages, all from one publisher,
 * are stored in publish order). A failed publish is tried again with the same id (the broker
 * de-duplicates where it can; a duplicate delivery is counted, never hidden) until its deadline.
 */
export async function publishAll(driver: BrokerDriver, plan: readonly PlannedMessage[], options: PublishOptions): Promise<PublishOutcome> {
  const confirmed = new Map<string, number>();
  const unconfirmed: string[] = [];
  let retries = 0;
  const startedAt = Date.now();
  const deadlineMs = options.messageDeadlineMs ?? 120_000;
  const shares = Array.from({ length: options.publishers }, (_, p) => plan.filter((message) => message.publisher === p));

  await Promise.all(
    shares.map(async (share) => {
      const spacing = share.length > 0 ? options.publishMs / share.length : 0;
      for (const [index, message] of share.entries()) {
        // Pacing, not synchronisation: spread the load over the planned time, catch up after a stall.
        const due = startedAt + index * spacing;
        if (due > Date.now()) await pause(due - Date.now());
        const outgoing = { id: message.id, channel: message.channel, body: messageBody(message), headers: { [idHeader]: message.id }, key: message.key };
        const giveUp = Date.now() + deadlineMs;
        for (;;) {
          try {
            await driver.publish(outgoing);
            confirmed.set(message.id, Date.now());
            options.onConfirmed?.(confirmed.size);
            break;
          } catch {
            if (Date.now() > giveUp) {
              unconfirmed.push(message.id);
              break;
            }
            retries += 1;
            await pause(250);
          }
        }
      }
    }),
  );
  return { confirmed, unconfirmed, retries, startedAt, endedAt: Date.now() };
}
