import { CoalescedSettler } from '@micro-framework/core';
import type { Channel, ConsumeMessage } from 'amqplib';

/**
 * The acks of one channel, sent in as few frames as possible. Deliveries are tracked in order;
 * once per event-loop turn, a single `multiple` ack covers every delivery up to the last one whose
 * route finished with no unfinished delivery before it, and finished deliveries after a gap are acked
 * one by one. A message is acked only after its route finished, as without the window.
 */
export class AmqpAckWindow {
  readonly #channel: Channel;
  /** Delivery tags not acked yet, in delivery order (ascending); `#head` is the first one still open. */
  readonly #tags: number[] = [];
  #head = 0;
  /** Tags finished (to ack) and tags already settled (acked one by one or rejected). */
  readonly #finished = new Set<number>();
  readonly #settled = new Set<number>();
  /** Sends the window's acks once per event-loop turn. */
  readonly #turn = new CoalescedSettler();

  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** Records a delivery; call it for every message of the channel, in the order they arrive. */
  delivered(message: ConsumeMessage): void {
    this.#tags.push(message.fields.deliveryTag);
  }

  /** Acks `message` at the end of this event-loop turn (or at the next flush()), with the others finished by then. */
  ack(message: ConsumeMessage): void {
    this.#finished.add(message.fields.deliveryTag);
    if (this.#turn.pending === 0) this.#turn.defer(() => this.#sendAcks());
  }

  /** Records that `message` was settled another way (rejected): it no longer holds back the window. */
  settledElsewhere(message: ConsumeMessage): void {
    this.#settled.add(message.fields.deliveryTag);
    // Moves the window past it even when nothing is acked (every message handed back, say).
    if (this.#turn.pending === 0) this.#turn.defer(() => this.#sendAcks());
  }

  /** Deliveries the window still tracks (not acked nor rejected, or settled behind an open one). */
  get tracked(): number {
    return this.#tags.length - this.#head;
  }

  /**
   * Sends the pending acks now. Never throws: on a closed channel the acks are dropped, and RabbitMQ
   * redelivers every message not acked, so none is lost.
   */
  flush(): void {
    this.#turn.flush();
  }

  #sendAcks(): void {
    // The last finished tag of the settled prefix: a `multiple` ack names a delivery still open.
    let upTo: number | undefined;
    while (this.#head < this.#tags.length) {
      const tag = this.#tags[this.#head]!;
      if (this.#finished.delete(tag)) upTo = tag;
      else if (!this.#settled.delete(tag)) break;
      this.#head += 1;
    }
    if (this.#head > 1_024) {
      this.#tags.splice(0, this.#head);
      this.#head = 0;
    }
    // Finished deliveries after an unfinished one: ack each, and remember them as settled.
    const later = [...this.#finished];
    this.#finished.clear();
    for (const tag of later) this.#settled.add(tag);
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
