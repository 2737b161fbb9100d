import { ExtensionIsStopped, RpcTargetNotFound, RpcTimeout, toError } from '../errors.ts';
import { Extension, defaultStopTimeoutMs, type StopOptions } from '../extension.ts';
import { RpcClient, defaultRpcTimeoutMs, type RpcCallOptions } from '../rpc-client.ts';
import { RpcEntrypoint, answerIntrospection, rpcEntrypoints, type RpcEntrypointOptions } from '../rpc-entrypoint.ts';
import {
  decodeJson,
  encodeJson,
  parseRpcReply,
  parseRpcRequest,
  rpcErrorReply,
  rpcRequestBody,
  unwrapRpcReply,
} from '../rpc-protocol.ts';
import { InMemoryBroker } from './in-memory-broker.ts';

/** One responder per service instance: decodes requests and hands each to the named RPC entrypoint. */
class InMemoryRpcServer extends Extension {
  readonly #broker: InMemoryBroker;
  #unregister: (() => void) | undefined;
  #nextEntryId = 0;

  constructor(broker: InMemoryBroker) {
    super();
    this.#broker = broker;
  }

  override async start(): Promise<void> {
    this.#unregister = this.#broker.respond(this.context.config.serviceName, (body) => this.#answer(body));
  }

  override async stop(): Promise<void> {
    this.#unregister?.();
    this.#unregister = undefined;
  }

  async #answer(body: Uint8Array): Promise<Uint8Array | undefined> {
    let request;
    try {
      request = parseRpcRequest(decodeJson(body));
    } catch (error) {
      return encodeJson(rpcErrorReply(toError(error)));
    }
    const introspection = answerIntrospection(this.runner, request);
    if (introspection) return encodeJson(introspection);
    const entrypoint = rpcEntrypoints(this.runner).get(request.command);
    if (!entrypoint) return encodeJson(rpcErrorReply(new RpcTargetNotFound(this.runner.config.serviceName, request.command)));
    try {
      this.#nextEntryId += 1;
      return encodeJson(await entrypoint.handleRequest(request, { channel: `rpc:${request.command}` }, this.#nextEntryId));
    } catch (error) {
      if (error instanceof ExtensionIsStopped) return undefined;
      return encodeJson(rpcErrorReply(toError(error)));
    }
  }
}

/**
 * Exposes the route's target as an RPC target of the service on the in-memory broker. Calls are
 * spread over the running instances of the service; a target error is replied, never retried.
 */
export class InMemoryRpcListener extends RpcEntrypoint {
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

  constructor(options: { broker?: InMemoryBroker } = {}) {
    super();
    this.broker = options.broker ?? InMemoryBroker.default;
  }

  override async call<T = unknown>(
    service: string,
    target: string,
    args: readonly unknown[] = [],
    options: RpcCallOptions = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? defaultRpcTimeoutMs;
    const body = encodeJson(rpcRequestBody(target, args, options.kwargs));
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
      this.broker.request(service, target, body).then(
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
