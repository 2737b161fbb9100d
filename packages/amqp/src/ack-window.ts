import { CoalescedSettler } from '@micro-framework/core';
import type { Channel, ConsumeMessage } from 'amqplib';

/**
 * The acks of one channel, sent in as few frames as possible. Once per event-loop turn, a single
 * `multiple` ack covers the deliveries finished before the oldest one still open (every delivery
 * before that one is finished or was settled another way), and finished deliveries after it are acked
 * one by one. A message is acked only after its route finished, as without the window. The window
 * holds only the deliveries still open: one that never finishes costs no memory for those after it.
 */
export class AmqpAckWindow {
  readonly #channel: Channel;
  /** Delivery tags neither finished nor settled another way, in delivery order (a Set keeps insertion order). */
  readonly #open = new Set<number>();
  /** Tags finished since the last send. */
  #finished: number[] = [];
  /** Sends the window's acks once per event-loop turn. */
  readonly #turn = new CoalescedSettler();

  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** Records a delivery; call it for every message of the channel, in the order they arrive. */
  delivered(message: ConsumeMessage): void {
    this.#open.add(message.fields.deliveryTag);
  }

  /** Acks `message` at the end of this event-loop turn (or at the next flush()), with the others finished by then. */
  ack(message: ConsumeMessage): void {
    const tag = message.fields.deliveryTag;
    this.#open.delete(tag);
    this.#finished.push(tag);
    if (this.#turn.pending === 0) this.#turn.defer(() => this.#sendAcks());
  }

  /** Records that `message` was settled another way (rejected): it no longer holds back the window. */
  settledElsewhere(message: ConsumeMessage): void {
    this.#open.delete(message.fields.deliveryTag);
  }

  /** Deliveries the window still holds: open ones, and finished ones whose ack is not sent yet. */
  get tracked(): number {
    return this.#open.size + this.#finished.length;
  }

  /**
   * Sends the pending acks now. Never throws: on a closed channel the acks are dropped, and RabbitMQ
   * redelivers every message not acked, so none is lost.
   */
  flush(): void {
    this.#turn.flush();
  }

  #sendAcks(): void {
    const finished = this.#finished;
    this.#finished = [];
    const firstOpen = this.#open.values().next().value;
    // A `multiple` ack up to the last finished tag before the first open one; the rest one by one.
    let upTo: number | undefined;
    const later: number[] = [];
    for (const tag of finished) {
      if (firstOpen !== undefined && tag > firstOpen) later.push(tag);
      else if (upTo === undefined || tag > upTo) upTo = tag;
    }
    try {
      if (upTo !== undefined) this.#channel.ack(tagged(upTo), true);
      for (const tag of later) this.#channel.ack(tagged(tag));
    } catch {
      // The channel closed: its unacked messages go back to the queue.
    }
  }
}

/** The part of a message amqplib reads to ack it: its delivery tag. */
function tagged(deliveryTag: number): ConsumeMessage {
  return { fields: { deliveryTag } } as ConsumeMessage;
}
