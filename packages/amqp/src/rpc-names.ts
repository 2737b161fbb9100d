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
