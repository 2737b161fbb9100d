import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Payload, type Subscription } from '@nats-io/transport-node';

/** How a call through the inbox ended: the reply, no server listening on the subject, no reply in time, or the inbox closed first. */
export type InboxOutcome =
  | { readonly kind: 'reply'; readonly message: Msg }
  | { readonly kind: 'no-responders' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'closed'; readonly error?: Error };

interface PendingCall {
  readonly settle: (outcome: InboxOutcome) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * The replies of one RPC client on one connection: a single wildcard subscription on a private inbox
 * and a reply subject per call. Unlike the connection's `request()`, which builds two errors per call
 * up front for their stack traces, a call costs one map entry and one timer.
 */
export class RpcReplyInbox {
  readonly #connection: NatsConnection;
  readonly #prefix = createInbox();
  readonly #subscription: Subscription;
  readonly #pending = new Map<string, PendingCall>();
  #next = 0;

  constructor(connection: NatsConnection) {
    this.#connection = connection;
    this.#subscription = connection.subscribe(`${this.#prefix}.*`, {
      callback: (error, message) => {
        if (!error) this.#receive(message);
      },
    });
  }

  /**
   * Publishes `data` (with `headers`) to `subject` with a reply subject of this inbox. Resolves with the first reply,
   * with `no-responders` when the server reports nobody subscribed (status 503), with `timeout` after
   * `timeoutMs`, or with `closed` when close() came first; rejects only when the publish itself fails.
   */
  call(subject: string, data: Payload, timeoutMs: number, headers?: MsgHdrs): Promise<InboxOutcome> {
    const token = (this.#next++).toString(36);
    return new Promise<InboxOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(token);
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      this.#pending.set(token, { settle: resolve, timer });
      try {
        this.#connection.publish(subject, data, { reply: `${this.#prefix}.${token}`, headers });
      } catch (error) {
        clearTimeout(timer);
        this.#pending.delete(token);
        reject(error);
      }
    });
  }

  /** Stops listening; calls still waiting end with `closed` at once (carrying `error`, why, when given). */
  close(error?: Error): void {
    try {
      this.#subscription.unsubscribe();
    } catch {
      // Closed with its connection.
    }
    for (const [token, call] of this.#pending) {
      clearTimeout(call.timer);
      this.#pending.delete(token);
      call.settle(error ? { kind: 'closed', error } : { kind: 'closed' });
    }
  }

  #receive(message: Msg): void {
    const token = message.subject.slice(this.#prefix.length + 1);
    const call = this.#pending.get(token);
    if (!call) return;
    this.#pending.delete(token);
    clearTimeout(call.timer);
    const noResponders = message.data.length === 0 && message.headers?.code === 503;
    call.settle(noResponders ? { kind: 'no-responders' } : { kind: 'reply', message });
  }
}
