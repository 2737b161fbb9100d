import {
  Extension,
  ExtensionIsStopped,
  RpcClient,
  RpcCommand,
  RpcEntrypoint,
  RpcNoResponders,
  RpcTargetNotFound,
  RpcTimeout,
  answerIntrospection,
  decodeJson,
  defaultRpcTimeoutMs,
  defaultStopTimeoutMs,
  encodeJson,
  parseRpcReply,
  parseRpcRequest,
  rpcErrorReply,
  rpcRequestBody,
  toError,
  unwrapRpcReply,
  type RpcCallOptions,
  type RpcEntrypointOptions,
  type RpcReplyBody,
  type StopOptions,
} from '@micro-framework/core';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { sharedNatsConnection, type NatsConnectionExtension } from './nats-connection.ts';
import { headersFromNats } from './nats-headers.ts';
import { RpcReplyInbox } from './rpc-reply-inbox.ts';
import { defaultNatsUrl, natsConnectionKey, type NatsOptions } from './nats-options.ts';

/** `<service>.rpc.<target>`: the subject of one RPC target; instances of the service form queue group `<service>`. */
export function rpcSubject(service: string, target: string): string {
  return `${service}.rpc.${target}`;
}

type Answer = (msg: Msg) => Promise<RpcReplyBody | undefined>;

/** Subscribes with a queue group and replies to each request; undefined (stopping) sends no reply. */
function serve(connection: NatsConnection, subject: string, queue: string, answer: Answer): Subscription {
  return connection.subscribe(subject, {
    queue,
    callback: (error, msg) => {
      if (error) return;
      void answer(msg)
        .catch((failure: unknown) => rpcErrorReply(toError(failure)))
        .then((reply) => {
          if (reply && msg.reply) msg.respond(encodeJson(reply));
        });
    },
  });
}

/** Answers `__list_targets__` and `__get_target__` for the service instance. */
class NatsRpcIntrospection extends Extension {
  readonly #connection: NatsConnectionExtension;
  #subscriptions: Subscription[] = [];

  constructor(connection: NatsConnectionExtension) {
    super();
    this.#connection = connection;
  }

  override async start(): Promise<void> {
    const service = this.context.config.serviceName;
    this.#subscriptions = [RpcCommand.listTargets, RpcCommand.getTarget].map((command) =>
      serve(this.#connection.connection, rpcSubject(service, command), service, async (msg) =>
        answerIntrospection(this.runner, parseRpcRequest(decodeJson(msg.data))),
      ),
    );
  }

  override async stop(): Promise<void> {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#subscriptions = [];
  }
}

/**
 * Exposes the route's target as `<service>.rpc.<target>` with queue group `<service>`: one instance
 * answers each request with the micro_framework reply body. A stopping instance does not answer, so
 * the caller times out rather than getting a wrong answer.
 */
export class NatsRpcListener extends RpcEntrypoint {
  readonly #nats: NatsOptions | undefined;
  #connection: NatsConnectionExtension | undefined;
  #subscription: Subscription | undefined;

  constructor(options: RpcEntrypointOptions & { nats?: NatsOptions } = {}) {
    super(options);
    this.#nats = options.nats;
  }

  override async setup(): Promise<void> {
    const connection = await sharedNatsConnection(this.context, this.#nats);
    this.#connection = connection;
    await this.context.shared(`${natsConnectionKey(connection.options)}:rpc-introspection`, () => new NatsRpcIntrospection(connection));
  }

  override async start(): Promise<void> {
    const service = this.context.config.serviceName;
    const subject = rpcSubject(service, this.rpcName);
    this.#subscription = serve(this.#connection!.connection, subject, service, async (msg) => {
      try {
        return await this.handleRequest(parseRpcRequest(decodeJson(msg.data)), { headers: headersFromNats(msg.headers), channel: subject }, msg);
      } catch (error) {
        if (error instanceof ExtensionIsStopped) return undefined;
        throw error;
      }
    });
  }

  override async stop(options: StopOptions = {}): Promise<void> {
    this.#subscription?.unsubscribe();
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
  }
}

/**
 * Calls RPC targets over NATS request/reply. With nobody subscribed NATS answers "no responders" at
 * once; the client then asks the service for its targets to tell a missing target
 * (RpcTargetNotFound) from a missing service (RpcNoResponders). Never retries.
 */
export class NatsRpcClient extends RpcClient {
  readonly #options: NatsOptions;
  #connection: Promise<NatsConnection> | undefined;
  readonly #shared: NatsConnection | undefined;
  #inbox: Promise<RpcReplyInbox> | undefined;

  constructor(options: { connection?: NatsConnection; nats?: NatsOptions } = {}) {
    super();
    this.#shared = options.connection;
    this.#options = options.nats ?? { servers: process.env['NATS_URL'] ?? defaultNatsUrl };
  }

  override async call<T = unknown>(service: string, target: string, args: readonly unknown[] = [], options: RpcCallOptions = {}): Promise<T> {
    const inbox = await this.#replyInbox();
    const timeoutMs = options.timeoutMs ?? defaultRpcTimeoutMs;
    const started = Date.now();
    const outcome = await inbox.call(rpcSubject(service, target), encodeJson(rpcRequestBody(target, args, options.kwargs)), timeoutMs);
    if (outcome.kind === 'timeout') throw new RpcTimeout(service, target, timeoutMs);
    if (outcome.kind === 'closed') throw new ExtensionIsStopped('NatsRpcClient');
    if (outcome.kind === 'no-responders') {
      if (target === RpcCommand.listTargets || target === RpcCommand.getTarget) throw new RpcNoResponders(service, target);
      const left = Math.max(1, Math.min(2_000, timeoutMs - (Date.now() - started)));
      await this.listTargets(service, { timeoutMs: left }).catch((probe: unknown) => {
        throw probe instanceof RpcNoResponders ? new RpcNoResponders(service, target) : probe;
      });
      throw new RpcTargetNotFound(service, target);
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
    this.#inbox ??= this.#connect().then((connection) => new RpcReplyInbox(connection));
    return this.#inbox;
  }

  #connect(): Promise<NatsConnection> {
    if (this.#shared) return Promise.resolve(this.#shared);
    this.#connection ??= connect({ reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 500, ...this.#options });
    return this.#connection;
  }
}
