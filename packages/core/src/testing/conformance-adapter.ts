import type { Backoff, BackoffOptions } from '../backoff.ts';
import type { Config } from '../config.ts';
import type { Entrypoint } from '../entrypoint.ts';
import type { Headers } from '../meta.ts';
import type { PayloadFormat } from '../payload-decoder.ts';
import type { RpcClient } from '../rpc-client.ts';
import type { RpcEntrypointOptions } from '../rpc-entrypoint.ts';

/**
 * What an adapter can show. A capability may be off only where the protocol itself lacks the
 * property; `reasons` says which property, and the suite prints it for every scenario it skips.
 */
export interface ConformanceCapabilities {
  /** Messages wait for a consumer that is not running (published before listen, retry survives restart). */
  readonly durable: boolean;
  /** Instances of one service share the work (queue groups, consumer groups). */
  readonly competingConsumers: boolean;
  /** For one key, first deliveries keep publish order. */
  readonly orderedPerKey: boolean;
  /** The broker holds a retry until it is due (DelayedBackoff or the adapter's own). */
  readonly delayedRetry: boolean;
  readonly deadLetter: boolean;
  readonly rpc: boolean;
  /** The adapter can restart its broker (restartBroker). */
  readonly restartableBroker: boolean;
  /** The adapter can cut the network between service and broker (cutNetwork). */
  readonly networkFault: boolean;
  /** A consumer can run in a child process that the suite kills (spawnConsumerProcess). */
  readonly consumerProcessKill: boolean;
}

export type CapabilityName = keyof ConformanceCapabilities;

/** Every capability on: what an adapter declares when its protocol has every property. */
export const fullCapabilities: ConformanceCapabilities = Object.freeze({
  durable: true,
  competingConsumers: true,
  orderedPerKey: true,
  delayedRetry: true,
  deadLetter: true,
  rpc: true,
  restartableBroker: true,
  networkFault: true,
  consumerProcessKill: true,
});

/**
 * The capabilities of an adapter whose protocol lacks exactly the properties named in `reasons` (each
 * with the protocol reason the suite prints when it skips a scenario); every other one is on.
 */
export function capabilitiesLacking(reasons: Partial<Record<CapabilityName, string>>): ConformanceCapabilities {
  const names = Object.keys(fullCapabilities) as CapabilityName[];
  return Object.freeze(Object.fromEntries(names.map((name) => [name, reasons[name] === undefined])) as Record<CapabilityName, boolean>);
}

/** A listener the suite asks for: instances with the same serviceName compete, others fan out. */
export interface ListenerSpec {
  readonly channel: string;
  readonly serviceName: string;
  readonly payloadFilter?: (payload: unknown) => boolean;
  readonly format?: PayloadFormat;
}

/** A message published from outside the service. */
export interface OutsideMessage {
  readonly body: Uint8Array;
  readonly headers?: Headers;
  readonly key?: string;
}

/** A message read from a dead-letter destination. */
export interface DeadLetterRecord {
  readonly body: Uint8Array;
  readonly headers: Headers;
}

/** A consumer running in a child process, handling messages of `spec` with a handler that blocks. */
export interface ConsumerProcess {
  /** Resolves when the child has started handling a message (so killing it now loses that call). */
  readonly handling: Promise<void>;
  kill(): Promise<void>;
}

/**
 * The factory an adapter hands to `describeConformance`. Every method that publishes resolves only
 * once the broker confirmed; optional members go with the capability that needs them.
 */
export interface ConformanceAdapter {
  readonly name: string;
  readonly capabilities: ConformanceCapabilities;
  /** Why each switched-off capability is a property of the protocol. */
  readonly reasons: Partial<Record<CapabilityName, string>>;
  /** Config the suite merges into every runner (broker URLs...). */
  readonly config?: Partial<Config>;
  createListener(spec: ListenerSpec): Entrypoint;
  publish(channel: string, message: OutsideMessage): Promise<void>;
  /** A broker-delayed backoff for listeners of this adapter. */
  createDelayedBackoff?(options: BackoffOptions): Backoff;
  /** Every dead-lettered message of that listener so far (non-destructive). */
  readDeadLetters?(spec: ListenerSpec): Promise<DeadLetterRecord[]>;
  createRpcListener?(options: RpcEntrypointOptions): Entrypoint;
  createRpcClient?(): Promise<RpcClient>;
  restartBroker?(): Promise<void>;
  /** Cuts traffic between services and broker for `ms`, then restores it. */
  cutNetwork?(ms: number): Promise<void>;
  spawnConsumerProcess?(spec: ListenerSpec): Promise<ConsumerProcess>;
  /** Frees what the adapter holds (clients, connections). */
  close?(): Promise<void>;
}
