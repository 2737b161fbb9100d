import { RpcCommand } from '@micro-framework/core';

/** The topic exchange all RPC requests and replies go through (micro_framework's convention). */
export const rpcExchange = 'ufw-rpc';

/** `rpc-<service>-<target>`: the durable queue of one RPC target, bound with `<service>.<target>`. */
export function rpcTargetQueueName(service: string, target: string): string {
  return `rpc-${service}-${target}`;
}

/** `rpc-<service>`: the queue answering the introspection commands of a service. */
export function rpcServiceQueueName(service: string): string {
  return `rpc-${service}`;
}

export function rpcRoutingKey(service: string, target: string): string {
  return `${service}.${target}`;
}

/**
 * `<service>._broadcast.<command>`: the routing key micro_framework sends its introspection commands
 * (`__list_targets__`, `__get_target__`) with; a service's introspection queue is bound with it too.
 */
export function rpcBroadcastRoutingKey(service: string, command: string): string {
  return `${service}._broadcast.${command}`;
}

/** The routing key of a request: introspection commands go by the broadcast key, calls by `<service>.<target>`. */
export function rpcRequestRoutingKey(service: string, command: string): string {
  return command === RpcCommand.listTargets || command === RpcCommand.getTarget ? rpcBroadcastRoutingKey(service, command) : rpcRoutingKey(service, command);
}

/** The name prefix of every client reply queue of this package (`rpc.reply-<uuid>`). */
export const rpcReplyQueuePrefix = 'rpc.reply-';

const replyQueueName = /^rpc\.reply-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Whether `name` has the exact shape of this package's client reply queues, `rpc.reply-<uuid>` (not
 * Nameko's `rpc.reply-<service>-<uuid>`, which share the prefix).
 */
export function isRpcReplyQueueName(name: string): boolean {
  return replyQueueName.test(name);
}

/**
 * Sent as `1` by this package's RPC client: reply_to is the reply queue's own name, so the reply may
 * go straight to it through the default exchange (one routing step less). Honoured only for reply_to
 * names of this package's reply queues (isRpcReplyQueueName); every other reply goes through `ufw-rpc`.
 */
export const rpcDirectReplyHeader = 'x-rpc-direct-reply';
