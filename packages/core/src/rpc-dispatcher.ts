import { DecodeError, ExtensionIsStopped, PayloadTooLarge, RpcTargetNotFound, toError } from './errors.ts';
import type { Headers, Meta } from './meta.ts';
import { RpcEntrypoint, answerIntrospection, rpcEntrypoints } from './rpc-entrypoint.ts';
import {
  decodeJson,
  encodeRpcReply,
  parseRpcRequest,
  rpcCallArguments,
  rpcDeadlineOf,
  rpcErrorReply,
  rpcSuccessReply,
  type RpcReplyBody,
  type RpcRequestBody,
} from './rpc-protocol.ts';
import type { Runner } from './runner.ts';

/**
 * What to do with one RPC request:
 * - `reply`: send `body` to the caller (data or error; always encodable);
 * - `give-back`: the target's route is stopping and did not start the call: let another instance
 *   answer where the protocol can (requeue), else tell the caller;
 * - `expired`: the caller's deadline passed before the call started: nobody waits for a reply.
 */
export type RpcAnswer =
  | { readonly kind: 'reply'; readonly body: Uint8Array }
  | { readonly kind: 'give-back'; readonly error: Error }
  | { readonly kind: 'expired' };

export interface RpcRequestMessage {
  readonly body: Uint8Array;
  /** The request's headers (its caller's deadline among them). */
  readonly headers: Headers;
  /** Queue, topic or subject it came on: the target's meta.channel. */
  readonly channel: string;
  /** Further meta for the target. */
  readonly meta?: Partial<Meta>;
}

/** The largest introspection request read when the config sets no maxPayloadBytes (they are a few hundred bytes). */
const introspectionRequestLimit = 65_536;

/**
 * Answers RPC requests for a runner: size limit, decode, deadline, introspection, target lookup, run,
 * encode, once for every adapter. Only the runner's RPC entrypoints are called; any other command
 * (introspection switched off by `config.rpcIntrospection: false` included) is RpcTargetNotFound. `answer` never rejects: whatever happens becomes one of the RpcAnswers.
 */
export class RpcDispatcher {
  readonly runner: Runner;

  constructor(runner: Runner) {
    this.runner = runner;
  }

  /**
   * Answers one request. With `entrypoint`, the request came on that target's own queue or subject
   * and must name it; without, its command is looked up among the runner's RPC entrypoints.
   */
  async answer<D>(delivery: D, message: RpcRequestMessage, entrypoint?: RpcEntrypoint<D>): Promise<RpcAnswer> {
    return this.#answer(delivery, message, entrypoint === undefined ? 'any-target' : entrypoint);
  }

  /**
   * Answers a request that came on the service's introspection queue or subject: only
   * `__list_targets__` and `__get_target__` (unless `rpcIntrospection` is false); any other command
   * is RpcTargetNotFound and runs nothing, so that address cannot be used to reach a target around
   * the target's own queue, subject or permissions.
   */
  async answerIntrospection(message: RpcRequestMessage): Promise<RpcAnswer> {
    return this.#answer(undefined, message, 'introspection-only');
  }

  async #answer<D>(delivery: D, message: RpcRequestMessage, scope: RpcEntrypoint<D> | 'any-target' | 'introspection-only'): Promise<RpcAnswer> {
    const entrypoint = typeof scope === 'string' ? undefined : scope;
    try {
      // A shared request's candidates, found once: they bound its size before decoding, then name its target.
      const candidates = scope === 'any-target' ? rpcEntrypoints(this.runner) : undefined;
      const deadline = rpcDeadlineOf(message.headers);
      if (deadline !== undefined && Date.now() > deadline) return { kind: 'expired' };
      const size = message.body.byteLength;
      const limit = entrypoint
        ? entrypoint.route.maxPayloadBytes
        : scope === 'introspection-only'
          ? (this.runner.config.maxPayloadBytes ?? introspectionRequestLimit)
          : this.#largestAccepted(candidates!);
      if (limit !== undefined && size > limit) return this.#reply(rpcErrorReply(new PayloadTooLarge(size, limit, 'RPC request')));
      let request: RpcRequestBody;
      try {
        request = parseRpcRequest(decodeJson(message.body));
      } catch (error) {
        return this.#reply(rpcErrorReply(DecodeError.from(error)));
      }
      const introspection = answerIntrospection(this.runner, request);
      if (introspection) return this.#reply(introspection);
      if (scope === 'introspection-only') return this.#reply(rpcErrorReply(new RpcTargetNotFound(this.runner.config.serviceName, request.command)));
      const target = entrypoint ?? (candidates?.get(request.command) as RpcEntrypoint<D> | undefined);
      if (!target || request.command !== target.rpcName) {
        return this.#reply(rpcErrorReply(new RpcTargetNotFound(this.runner.config.serviceName, request.command)));
      }
      const routeLimit = target.route.maxPayloadBytes;
      if (routeLimit !== undefined && size > routeLimit) return this.#reply(rpcErrorReply(new PayloadTooLarge(size, routeLimit, 'RPC request')));
      if (target.isBound) this.runner.telemetry.emit('received', target.route.labels);
      const meta = { ...message.meta, headers: message.headers, channel: message.channel };
      let worker;
      try {
        worker = await target.callRoute(delivery, rpcCallArguments(request), meta);
      } catch (thrown) {
        const error = toError(thrown);
        if (error instanceof ExtensionIsStopped && target.route.isStopped) return { kind: 'give-back', error };
        return this.#reply(rpcErrorReply(error));
      }
      if (worker === null) return this.#reply(rpcSuccessReply(null));
      return this.#reply(worker.exception ? rpcErrorReply(worker.exception) : rpcSuccessReply(worker.result));
    } catch (error) {
      return this.#reply(rpcErrorReply(toError(error)));
    }
  }

  /**
   * Before a shared request is decoded its target is unknown: the largest body any RPC route of the
   * runner accepts (undefined when one has no limit); the target's own limit is checked once known.
   */
  #largestAccepted(candidates: ReadonlyMap<string, RpcEntrypoint<unknown>>): number | undefined {
    let largest: number | undefined = this.runner.config.maxPayloadBytes;
    for (const entrypoint of candidates.values()) {
      const limit = entrypoint.route.maxPayloadBytes;
      if (limit === undefined) return undefined;
      largest = Math.max(largest ?? 0, limit);
    }
    return largest;
  }

  #reply(reply: RpcReplyBody): RpcAnswer {
    return { kind: 'reply', body: encodeRpcReply(reply) };
  }
}
