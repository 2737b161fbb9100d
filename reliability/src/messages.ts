import type { Prng } from './prng.ts';

/** The two channels of the consumer service: an event route with retries and a callback, and a keyed route. */
export type Channel = 'events' | 'keyed';

/**
 * What a message asks of the consumer's target. `ok` is the load; the rest is the poison (about 1 %):
 * - `bad-json`: a body that is not JSON (dead letter, reason `decode`);
 * - `schema-reject`: JSON the route's schema refuses (dead letter, reason `decode`);
 * - `throw-once`: the target fails on the first attempt only (a broker-delayed retry recovers it);
 * - `throw-always`: fails every attempt; the callback handles it;
 * - `throw-always-dead`: fails every attempt and so does the callback (dead letter, reason `exhausted`);
 * - `throw-non-error`: throws a plain object, never an Error; the callback handles it;
 * - `multi-line`: throws an Error whose message has CR/LF lines, and so does the callback (dead letter).
 */
export type MessageKind = 'ok' | 'bad-json' | 'schema-reject' | 'throw-once' | 'throw-always' | 'throw-always-dead' | 'throw-non-error' | 'multi-line';

/** Where a message of a kind must end: processed by the target, handled by the callback, or dead-lettered. */
export type ExpectedOutcome = 'processed' | 'callback' | 'dead-letter:decode' | 'dead-letter:exhausted';

export const expectedOutcome: Record<MessageKind, ExpectedOutcome> = {
  ok: 'processed',
  'bad-json': 'dead-letter:decode',
  'schema-reject': 'dead-letter:decode',
  'throw-once': 'processed',
  'throw-always': 'callback',
  'throw-always-dead': 'dead-letter:exhausted',
  'throw-non-error': 'callback',
  'multi-line': 'dead-letter:exhausted',
};

/** Poison kinds per channel: the keyed route has no retry nor callback, so a failure there is a dead letter. */
export const poisonKinds: Record<Channel, readonly MessageKind[]> = {
  events: ['bad-json', 'schema-reject', 'throw-once', 'throw-always', 'throw-always-dead', 'throw-non-error', 'multi-line'],
  keyed: ['bad-json', 'schema-reject', 'throw-always-dead'],
};

/** The header every published message carries with its id, so even a body that is not JSON can be traced. */
export const idHeader = 'x-chaos-id';

/** The JSON body of a (well-formed) message. */
export interface ChaosPayload {
  readonly id: string;
  readonly kind: MessageKind;
  readonly publisher: number;
  readonly key?: string;
  readonly seq?: number;
}

/** One message of the run's plan. */
export interface PlannedMessage {
  readonly id: string;
  readonly channel: Channel;
  readonly kind: MessageKind;
  readonly publisher: number;
  /** Keyed channel only: the key and the message's position among the key's messages. */
  readonly key?: string;
  readonly seq?: number;
}

export interface PlanOptions {
  readonly messages: number;
  readonly publishers: number;
  /** Share of messages that are poison; default 1 %. */
  readonly poisonRate?: number;
  /** Share of messages on the keyed channel; default 30 %. */
  readonly keyedShare?: number;
  /** Keys per publisher on the keyed channel; default 4. A key belongs to one publisher, so its publish order is known. */
  readonly keysPerPublisher?: number;
}

/**
 * The messages of a run, drawn from the seeded PRNG: their channel, whether they are poison, their
 * key. Message i goes to publisher i mod publishers. Poison kinds are handed out in turn so each kind
 * appears even in a short run.
 */
export function planMessages(prng: Prng, options: PlanOptions): PlannedMessage[] {
  const poisonRate = options.poisonRate ?? 0.01;
  const keyedShare = options.keyedShare ?? 0.3;
  const keysPerPublisher = options.keysPerPublisher ?? 4;
  const nextPoison: Record<Channel, number> = { events: 0, keyed: 0 };
  const keySeq = new Map<string, number>();
  const plan: PlannedMessage[] = [];
  for (let i = 0; i < options.messages; i += 1) {
    const publisher = i % options.publishers;
    const channel: Channel = prng.next() < keyedShare ? 'keyed' : 'events';
    let kind: MessageKind = 'ok';
    if (prng.next() < poisonRate) {
      const kinds = poisonKinds[channel];
      kind = kinds[nextPoison[channel]++ % kinds.length]!;
    }
    const id = `m${i}`;
    if (channel === 'keyed') {
      const key = `k${publisher}-${prng.int(keysPerPublisher)}`;
      const seq = keySeq.get(key) ?? 0;
      keySeq.set(key, seq + 1);
      plan.push({ id, channel, kind, publisher, key, seq });
    } else {
      plan.push({ id, channel, kind, publisher });
    }
  }
  return plan;
}

const encoder = new TextEncoder();

/** The body of a planned message: JSON of its payload, a payload the schema rejects, or bytes that are not JSON. */
export function messageBody(message: PlannedMessage): Uint8Array {
  if (message.kind === 'bad-json') return encoder.encode(`{"id":"${message.id}","kind":"bad-json",`);
  if (message.kind === 'schema-reject') return encoder.encode(JSON.stringify({ id: message.id, kind: message.kind, publisher: 'not a number' }));
  const payload: ChaosPayload = { id: message.id, kind: message.kind, publisher: message.publisher, key: message.key, seq: message.seq };
  return encoder.encode(JSON.stringify(payload));
}
