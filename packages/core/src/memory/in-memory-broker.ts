import { RpcNoResponders } from '../errors.ts';
import type { Headers } from '../meta.ts';

/** A message as the in-memory broker stores it: bytes and string headers, like a real broker. */
export interface MemoryMessage {
  readonly body: Uint8Array;
  readonly headers: Headers;
  /** Ordering key: a message is not delivered while an earlier one of its key is unacked. */
  readonly key?: string;
}

/** One delivery of a message to a consumer. */
export interface MemoryDelivery {
  readonly message: MemoryMessage;
  readonly queue: string;
  /** True when this message was delivered before and given back or abandoned. */
  readonly redelivered: boolean;
  readonly deliveryCount: number;
}

interface Stored {
  readonly message: MemoryMessage;
  deliveryCount: number;
}

interface QueueState {
  readonly name: string;
  readonly ready: Stored[];
  readonly consumers: MemoryConsumer[];
  /** Keys with a delivery unacked: their next message waits. */
  readonly busyKeys: Set<string>;
  next: number;
}

/** Answers the RPC request bytes (and headers) with reply bytes; resolves to undefined to decline (stopping). */
export type MemoryRpcResponder = (request: Uint8Array, headers: Headers) => Promise<Uint8Array | undefined>;

/**
 * A consumer of one queue with a prefetch limit. Every delivery must be acked or given back; closing
 * gives back whatever is still unacked, and later acks of those deliveries are ignored. Messages come
 * back to the queue on the next event-loop turn, so hand-backs never starve the event loop.
 */
export class MemoryConsumer {
  readonly prefetch: number;
  readonly #broker: InMemoryBroker;
  readonly #queue: QueueState;
  readonly #handler: (delivery: MemoryDelivery) => void;
  readonly #unacked = new Map<MemoryDelivery, Stored>();
  #cancelled = false;

  constructor(broker: InMemoryBroker, queue: QueueState, prefetch: number, handler: (delivery: MemoryDelivery) => void) {
    this.#broker = broker;
    this.#queue = queue;
    this.prefetch = prefetch;
    this.#handler = handler;
  }

  get unackedCount(): number {
    return this.#unacked.size;
  }

  /** @internal can this consumer take one more delivery now */
  get hasCapacity(): boolean {
    return !this.#cancelled && this.#unacked.size < this.prefetch;
  }

  /** @internal hands a stored message to the handler */
  deliver(stored: Stored): void {
    stored.deliveryCount += 1;
    const delivery: MemoryDelivery = {
      message: stored.message,
      queue: this.#queue.name,
      redelivered: stored.deliveryCount > 1,
      deliveryCount: stored.deliveryCount,
    };
    this.#unacked.set(delivery, stored);
    if (stored.message.key !== undefined) this.#queue.busyKeys.add(stored.message.key);
    queueMicrotask(() => this.#handler(delivery));
  }

  /** Removes the message for good. Ignored when the delivery is unknown (already settled, or closed). */
  ack(delivery: MemoryDelivery): void {
    const stored = this.#unacked.get(delivery);
    if (!stored) return;
    this.#unacked.delete(delivery);
    this.#release(stored);
    this.#broker.dispatch(this.#queue);
  }

  /** Puts the message back at the head of its queue; it is delivered again from the next event-loop turn. */
  giveBack(delivery: MemoryDelivery): void {
    const stored = this.#unacked.get(delivery);
    if (!stored) return;
    this.#unacked.delete(delivery);
    this.#release(stored);
    this.#queue.ready.unshift(stored);
    this.#broker.dispatchSoon(this.#queue);
  }

  /** Stops new deliveries; unacked ones can still be acked. */
  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    const index = this.#queue.consumers.indexOf(this);
    if (index >= 0) this.#queue.consumers.splice(index, 1);
  }

  /** Cancels and gives back every unacked delivery (as a closed channel would). */
  close(): void {
    this.cancel();
    const pending = [...this.#unacked.values()];
    this.#unacked.clear();
    for (const stored of pending) this.#release(stored);
    this.#queue.ready.unshift(...pending);
    this.#broker.dispatchSoon(this.#queue);
  }

  #release(stored: Stored): void {
    if (stored.message.key !== undefined) this.#queue.busyKeys.delete(stored.message.key);
  }
}

/**
 * The embedded broker: named queues bound to channels (fan-out to every bound queue, competing
 * consumers on one queue), ordering keys (one unacked message per key at a time, like message groups),
 * delayed sends, and RPC responders per service. It lives as long as the process, so it survives a
 * service restart but not a process exit.
 */
export class InMemoryBroker {
  /** The process-wide broker the in-memory entrypoints use unless given another. */
  static readonly default = new InMemoryBroker();

  readonly #queues = new Map<string, QueueState>();
  readonly #bindings = new Map<string, Set<string>>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #responders = new Map<string, MemoryRpcResponder[]>();
  readonly #dispatching = new Set<QueueState>();

  /** Creates the queue if missing; idempotent. */
  declareQueue(name: string): void {
    if (!this.#queues.has(name)) this.#queues.set(name, { name, ready: [], consumers: [], busyKeys: new Set(), next: 0 });
  }

  /** Routes every later publish on `channel` to `queue` as well. */
  bindQueue(queue: string, channel: string): void {
    this.declareQueue(queue);
    let bound = this.#bindings.get(channel);
    if (!bound) this.#bindings.set(channel, (bound = new Set()));
    bound.add(queue);
  }

  /** Copies the message into every queue bound to the channel; resolves once stored. */
  async publish(channel: string, message: MemoryMessage): Promise<void> {
    for (const queue of this.#bindings.get(channel) ?? []) this.#enqueue(this.#queue(queue), message);
  }

  /** Stores the message in one queue, now or after `delayMs`. Resolves once accepted. */
  async sendToQueue(queue: string, message: MemoryMessage, delayMs = 0): Promise<void> {
    const state = this.#queue(queue);
    if (delayMs <= 0) {
      this.#enqueue(state, message);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#enqueue(state, message);
    }, delayMs);
    this.#timers.add(timer);
  }

  /** Starts a consumer on the queue (declared if missing) with at most `prefetch` unacked deliveries. */
  consume(queue: string, prefetch: number, handler: (delivery: MemoryDelivery) => void): MemoryConsumer {
    const state = this.#queue(queue);
    const consumer = new MemoryConsumer(this, state, prefetch, handler);
    state.consumers.push(consumer);
    this.dispatch(state);
    return consumer;
  }

  /** The messages waiting in a queue (not those delivered and unacked), oldest first. */
  peek(queue: string): MemoryMessage[] {
    return (this.#queues.get(queue)?.ready ?? []).map((stored) => stored.message);
  }

  /** How many messages wait for delivery (delayed ones not yet due excluded); 0 for an unknown queue. */
  depth(queue: string): number {
    return this.#queues.get(queue)?.ready.length ?? 0;
  }

  /** Registers a responder for RPC calls to `service`; returns a function that removes it. */
  respond(service: string, responder: MemoryRpcResponder): () => void {
    let list = this.#responders.get(service);
    if (!list) this.#responders.set(service, (list = []));
    list.push(responder);
    return () => {
      const current = this.#responders.get(service) ?? [];
      const index = current.indexOf(responder);
      if (index >= 0) current.splice(index, 1);
    };
  }

  /**
   * Sends request bytes to one responder of the service (round robin); a declining responder passes
   * the call to the next. Rejects with RpcNoResponders when none is registered or all declined.
   */
  async request(service: string, target: string, body: Uint8Array, headers: Headers = {}): Promise<Uint8Array> {
    const list = [...(this.#responders.get(service) ?? [])];
    const start = list.length > 0 ? Math.floor(Math.random() * list.length) : 0;
    for (let i = 0; i < list.length; i += 1) {
      const responder = list[(start + i) % list.length];
      const reply = responder ? await responder(body, headers) : undefined;
      if (reply !== undefined) return reply;
    }
    throw new RpcNoResponders(service, target);
  }

  /** Drops every queue, binding, timer and responder (for tests that want a fresh broker state). */
  reset(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#queues.clear();
    this.#bindings.clear();
    this.#responders.clear();
  }

  /**
   * @internal delivers ready messages to consumers with capacity, round robin, oldest first; a
   * message whose key has a delivery unacked waits (later messages of other keys pass it).
   */
  dispatch(queue: QueueState): void {
    let index = 0;
    while (index < queue.ready.length) {
      const key = queue.ready[index]!.message.key;
      if (key !== undefined && queue.busyKeys.has(key)) {
        index += 1;
        continue;
      }
      const consumers = queue.consumers;
      let chosen: MemoryConsumer | undefined;
      for (let i = 0; i < consumers.length; i += 1) {
        const candidate = consumers[(queue.next + i) % consumers.length];
        if (candidate?.hasCapacity) {
          chosen = candidate;
          queue.next = (queue.next + i + 1) % consumers.length;
          break;
        }
      }
      if (!chosen) return;
      chosen.deliver(queue.ready.splice(index, 1)[0]!);
    }
  }

  /** @internal dispatches on the next event-loop turn (once per queue however often asked) */
  dispatchSoon(queue: QueueState): void {
    if (this.#dispatching.has(queue)) return;
    this.#dispatching.add(queue);
    setImmediate(() => {
      this.#dispatching.delete(queue);
      this.dispatch(queue);
    });
  }

  #queue(name: string): QueueState {
    this.declareQueue(name);
    return this.#queues.get(name) as QueueState;
  }

  #enqueue(queue: QueueState, message: MemoryMessage): void {
    queue.ready.push({ message, deliveryCount: 0 });
    this.dispatch(queue);
  }
}
