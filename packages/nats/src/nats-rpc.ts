import {
  Extension,
  ExtensionIsStopped,
  RpcClient,
  RpcCommand,
  RpcDispatcher,
  RpcEntrypoint,
  RpcTimeout,
  decodeJson,
  defaultRpcTimeoutMs,
  defaultStopTimeoutMs,
  encodeRpcReply,
  encodeRpcRequest,
  parseRpcReply,
  rpcErrorReply,
  rpcRequestHeaders,
  unwrapRpcReply,
  type RpcAnswer,
  type RpcCallOptions,
  type RpcEntrypointOptions,
  type StopOptions,
} from '@micro-framework/core';
import { ConnectionError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { connectNats, sharedNatsConnection, type NatsConnectionExtension } from './nats-connection.ts';
import { headersToNats, readNatsHeaders } from './nats-headers.ts';
import { RpcReplyInbox } from './rpc-reply-inbox.ts';
import { defaultNatsUrl, natsAddress, natsConnectionKey, type NatsOptions } from './nats-options.ts';

/** `<service>.rpc.<target>`: the subject of one RPC target; instances of the service form queue group `<service>`. */
export function rpcSubject(service: string, target: string): string {
  return `${service}.rpc.${target}`;
}

/**
 * Subscribes with a queue group and carries out the dispatcher's answer for each request: the reply
 * is sent; a request refused because its route is stopping gets an ExtensionIsStopped error reply
 * (core NATS cannot hand it to another instance, and the caller learns at once it may call again);
 * one whose caller gave up gets nothing. `track` counts each request as in-flight work.
 */
function serve(
  connection: NatsConnection,
  subject: string,
  queue: string,
  answer: (msg: Msg) => Promise<RpcAnswer>,
  track: (work: Promise<void>) => Promise<void> = (work) => work,
): Subscription {
  return connection.subscribe(subject, {
    queue,
    callback: (error, msg) => {
      if (error) return;
      // Nothing may throw out of a subscription callback: it would stop the connection's reader.
      void track(
        answer(msg).then((outcome) => {
          const body = outcome.kind === 'reply' ? outcome.body : outcome.kind === 'give-back' ? encodeRpcReply(rpcErrorReply(outcome.error)) : undefined;
          try {
            if (body && msg.reply) msg.respond(body);
          } catch {
            // The connection is closing: the caller's timeout ends the call.
          }
        }),
      );
    },
  });
}

/** Unsubscribes each of `subscriptions`; one whose connection is closed has nothing to unsubscribe from. */
function unsubscribe(subscriptions: readonly (Subscription | undefined)[]): void {
  for (const subscription of subscriptions) {
    try {
      subscription?.unsubscribe();
    } catch {
      // Closed with its connection.
    }
  }
}

/** The request as the dispatcher reads it (headers it cannot read are left out: the request is still answered). */
function request(msg: Msg, channel: string) {
  return { body: msg.data, headers: readNatsHeaders(msg).headers, channel };
}

/** Answers `__list_targets__` and `__get_target__` for the service instance. */
class NatsRpcIntrospection extends Extension {
  readonly #connection: NatsConnectionExtension;
  #subscriptions: Subscription[] = [];
  #unwatch: (() => void) | undefined;

  constructor(connection: NatsConnectionExtension) {
    super();
    this.#connection = connection;
  }

  override async start(): Promise<void> {
    const service = this.context.config.serviceName;
    const dispatcher = new RpcDispatcher(this.runner);
    const subscribe = (connection: NatsConnection): Subscription[] =>
      [RpcCommand.listTargets, RpcCommand.getTarget].map((command) => {
        const subject = rpcSubject(service, command);
        return serve(connection, subject, service, (msg) => dispatcher.answerIntrospection(request(msg, subject)));
      });
    this.#subscriptions = subscribe(this.#connection.connection);
    this.#unwatch ??= this.#connection.onReopen(async (reopened) => {
      if (this.#subscriptions.length === 0) return;
      this.#subscriptions = subscribe(reopened);
      await reopened.flush();
    });
    await this.#connection.connection.flush();
  }

  override async stopIntake(): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = undefined;
    unsubscribe(this.#subscriptions);
    this.#subscriptions = [];
  }

  override async stop(): Promise<void> {
    await this.stopIntake();
  }
}

/**
 * Exposes the route's target as `<service>.rpc.<target>` with queue group `<service>`: one instance
 * answers each request with the micro_framework reply body. A request whose caller's deadline passed
 * is not run; one that reaches a stopping instance gets an ExtensionIsStopped error reply at once.
 */
export class NatsRpcListener extends RpcEntrypoint<Msg> {
  readonly #nats: NatsOptions | undefined;
  #connection: NatsConnectionExtension | undefined;
  #subscription: Subscription | undefined;
  #unwatch: (() => void) | undefined;

  constructor(options: RpcEntrypointOptions & { nats?: NatsOptions } = {}) {
    super(options);
    this.#nats = options.nats;
  }

  override get messagingSystem(): string {
    return 'nats';
  }

  override readiness(): string | undefined {
    return this.#connection?.isConnected ? undefined : 'no connection to NATS';
  }

  override brokerNames(): Record<string, unknown> {
    return { target: this.rpcName, subject: rpcSubject(this.context.config.serviceName, this.rpcName) };
  }

  override async setup(): Promise<void> {
    const connection = await sharedNatsConnection(this.context, this.#nats);
    this.#connection = connection;
    await this.context.shared(`${natsConnectionKey(connection.options)}:rpc-introspection`, () => new NatsRpcIntrospection(connection));
  }

  override async start(): Promise<void> {
    const service = this.context.config.serviceName;
    const subject = rpcSubject(service, this.rpcName);
    const dispatcher = new RpcDispatcher(this.runner);
    const subscribe = (connection: NatsConnection): Subscription =>
      serve(connection, subject, service, (msg) => dispatcher.answer(msg, request(msg, subject), this), (work) => this.track(work));
    this.#subscription = subscribe(this.#connection!.connection);
    // A connection nats.js closed for good is replaced (see NatsConnectionExtension.onReopen): subscribe again there.
    this.#unwatch ??= this.#connection!.onReopen(async (reopened) => {
      if (!this.#subscription) return;
      this.#subscription = subscribe(reopened);
      await reopened.flush();
    });
    // Started means subscribed: a call made right after start must not meet "no responders".
    await this.#connection!.connection.flush();
  }

  override async stopIntake(): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = undefined;
    unsubscribe([this.#subscription]);
    this.#subscription = undefined;
  }

  override async stop(options: StopOptions = {}): Promise<void> {
    await this.stopIntake();
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
  }
}

/**
 * Calls RPC targets over NATS request/reply; each request carries its deadline (`x-rpc-deadline`).
 * With nobody subscribed NATS answers "no responders" at once; the client then asks the service for
 * its targets to tell a missing target (RpcTargetNotFound) from a missing service (RpcNoResponders).
 * Never retries. A request larger than `maxPayloadBytes` (the call's, else the client's) is refused
 * with PayloadTooLarge before anything is sent. A client given `nats` options opens its own
 * connection at the first call (see connectNats); when nats.js closes it for good, calls waiting
 * for their reply fail at once with nats.js's ConnectionError and the next call opens another.
 */
export class NatsRpcClient extends RpcClient {
  readonly #options: NatsOptions;
  #connection: Promise<NatsConnection> | undefined;
  readonly #shared: NatsConnection | undefined;
  #inbox: Promise<RpcReplyInbox> | undefined;
  readonly #maxPayloadBytes: number | undefined;

  /** `maxPayloadBytes`: every call's default limit on its encoded request (see RpcCallOptions). */
  constructor(options: { connection?: NatsConnection; nats?: NatsOptions; maxPayloadBytes?: number } = {}) {
    super();
    this.#shared = options.connection;
    this.#maxPayloadBytes = options.maxPayloadBytes;
    this.#options = options.nats ?? { servers: process.env['NATS_URL'] ?? defaultNatsUrl };
  }

  override async call<T = unknown>(service: string, target: string, args: readonly unknown[] = [], options: RpcCallOptions = {}): Promise<T> {
    const body = encodeRpcRequest(target, args, { kwargs: options.kwargs, maxPayloadBytes: options.maxPayloadBytes ?? this.#maxPayloadBytes });
    const inbox = await this.#replyInbox();
    const timeoutMs = options.timeoutMs ?? defaultRpcTimeoutMs;
    const started = Date.now();
    const outcome = await inbox.call(
      rpcSubject(service, target),
      body,
      timeoutMs,
      headersToNats(rpcRequestHeaders(timeoutMs, started)),
    );
    if (outcome.kind === 'timeout') throw new RpcTimeout(service, target, timeoutMs);
    if (outcome.kind === 'closed') throw outcome.error ?? new ExtensionIsStopped('NatsRpcClient');
    if (outcome.kind === 'no-responders') {
      return this.explainUnanswered(service, target, Math.max(1, Math.min(2_000, timeoutMs - (Date.now() - started))));
    }
    return unwrapRpcReply(parseRpcReply(decodeJson(outcome.message.data)), service, target) as T;
  }

  /** Drains the connection if this client opened it. */
  override async close(): Promise<void> {
    const inbox = this.#inbox;
    this.#inbox = undefined;
    (await inbox?.catch(() => undefined))?.close();
    if (this.#shared || !this.#connection) return;
    const connection = await this.#connection.catch(() => undefined);
    this.#connection = undefined;
    await connection?.drain().catch(() => undefined);
  }

  #replyInbox(): Promise<RpcReplyInbox> {
    if (this.#inbox) return this.#inbox;
    const inbox = this.#connect().then((connection) => new RpcReplyInbox(connection));
    this.#inbox = inbox;
    // A failed first connection (a refused login, say) is not kept: the next call tries again.
    inbox.catch(() => {
      if (this.#inbox === inbox) this.#inbox = undefined;
    });
    return inbox;
  }

  #connect(): Promise<NatsConnection> {
    if (this.#shared) return Promise.resolve(this.#shared);
    if (this.#connection) return this.#connection;
    const connection = connectNats(this.#options);
    this.#connection = connection;
    // One nats.js closed for good (out of reconnection attempts) is not kept: the next call opens
    // another. Calls waiting for their reply on it fail at once with a ConnectionError.
    const forget = (closed: Error | void): void => {
      if (this.#connection !== connection) return;
      this.#connection = undefined;
      const inbox = this.#inbox;
      this.#inbox = undefined;
      const error = new ConnectionError(`the NATS connection to ${natsAddress(this.#options)} was closed for good before the reply came${closed ? ` (${closed.name})` : ''}`, closed ? { cause: closed } : undefined);
      void inbox?.then((open) => open.close(error), () => undefined);
    };
    connection.then((open) => open.closed().then(forget), () => {
      if (this.#connection === connection) this.#connection = undefined;
    });
    return connection;
  }
}
