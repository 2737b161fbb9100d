import { RpcTimeout } from '../errors.ts';
import { Extension, defaultStopTimeoutMs, type StopOptions } from '../extension.ts';
import type { Headers } from '../meta.ts';
import { RpcClient, defaultRpcTimeoutMs, type RpcCallOptions } from '../rpc-client.ts';
import { RpcDispatcher } from '../rpc-dispatcher.ts';
import { RpcEntrypoint, type RpcEntrypointOptions } from '../rpc-entrypoint.ts';
import { decodeJson, encodeRpcRequest, parseRpcReply, rpcRequestHeaders, unwrapRpcReply } from '../rpc-protocol.ts';
import { InMemoryBroker } from './in-memory-broker.ts';

/**
 * One responder per service instance: hands each request to the RpcDispatcher. A request whose target
 * is stopping (or whose caller gave up) is declined, so the broker tries the next instance.
 */
class InMemoryRpcServer extends Extension {
  readonly #broker: InMemoryBroker;
  #unregister: (() => void) | undefined;
  #dispatcher: RpcDispatcher | undefined;
  #nextEntryId = 0;

  constructor(broker: InMemoryBroker) {
    super();
    this.#broker = broker;
  }

  override async start(): Promise<void> {
    this.#dispatcher = new RpcDispatcher(this.runner);
    this.#unregister = this.#broker.respond(this.context.config.serviceName, (body, headers) => this.#answer(body, headers));
  }

  override async stop(): Promise<void> {
    this.#unregister?.();
    this.#unregister = undefined;
  }

  async #answer(body: Uint8Array, headers: Headers): Promise<Uint8Array | undefined> {
    const dispatcher = this.#dispatcher;
    if (!dispatcher) return undefined;
    this.#nextEntryId += 1;
    const answer = await dispatcher.answer(this.#nextEntryId, { body, headers, channel: `rpc:${this.context.config.serviceName}` });
    return answer.kind === 'reply' ? answer.body : undefined;
  }
}

/**
 * Exposes the route's target as an RPC target of the service on the in-memory broker. Calls are
 * spread over the running instances of the service; a target error is replied, never retried.
 */
export class InMemoryRpcListener extends RpcEntrypoint<number> {
  override get messagingSystem(): string {
    return 'in_memory';
  }

  readonly broker: InMemoryBroker;

  constructor(options: RpcEntrypointOptions & { broker?: InMemoryBroker } = {}) {
    super(options);
    this.broker = options.broker ?? InMemoryBroker.default;
  }

  override async setup(): Promise<void> {
    await this.context.shared('in-memory-rpc-server', () => new InMemoryRpcServer(this.broker));
  }

  override async stop(options: StopOptions = {}): Promise<void> {
    await this.drain(options.timeoutMs ?? defaultStopTimeoutMs);
  }
}

/** Calls RPC targets through the in-memory broker. */
export class InMemoryRpcClient extends RpcClient {
  readonly broker: InMemoryBroker;
  readonly #pending = new Set<() => void>();

  readonly #maxPayloadBytes: number | undefined;

  /** `maxPayloadBytes`: every call's default limit on its encoded request (see RpcCallOptions). */
  constructor(options: { broker?: InMemoryBroker; maxPayloadBytes?: number } = {}) {
    super();
    this.broker = options.broker ?? InMemoryBroker.default;
    this.#maxPayloadBytes = options.maxPayloadBytes;
  }

  override async call<T = unknown>(
    service: string,
    target: string,
    args: readonly unknown[] = [],
    options: RpcCallOptions = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? defaultRpcTimeoutMs;
    const body = encodeRpcRequest(target, args, { kwargs: options.kwargs, maxPayloadBytes: options.maxPayloadBytes ?? this.#maxPayloadBytes });
    return new Promise<T>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        this.#pending.delete(cancel);
      };
      const cancel = (): void => {
        settle();
        reject(new RpcTimeout(service, target, 0));
      };
      const timer = setTimeout(() => {
        settle();
        reject(new RpcTimeout(service, target, timeoutMs));
      }, timeoutMs);
      this.#pending.add(cancel);
      this.broker.request(service, target, body, rpcRequestHeaders(timeoutMs)).then(
        (reply) => {
          if (!this.#pending.has(cancel)) return;
          settle();
          try {
            resolve(unwrapRpcReply(parseRpcReply(decodeJson(reply)), service, target) as T);
          } catch (error) {
            reject(error);
          }
        },
        (error: unknown) => {
          if (!this.#pending.has(cancel)) return;
          settle();
          reject(error);
        },
      );
    });
  }

  /** Rejects every pending call (as a timeout of 0 ms) and forgets them. */
  override async close(): Promise<void> {
    for (const cancel of [...this.#pending]) cancel();
  }
}
