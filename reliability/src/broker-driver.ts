import type { Backoff, BackoffOptions, Config, Entrypoint, Headers, RpcClient } from '@micro-framework/core';
import type { Channel } from './messages.ts';

/** The brokers the CLI knows; a driver module in src/drivers makes one runnable. */
export const brokerNames = ['nats', 'amqp', 'kafka', 'memory'] as const;
export type BrokerName = (typeof brokerNames)[number];

/** A JSON value: what goes over the consumer process's command line. */
export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

/** A message the publishers hand to the driver. */
export interface OutgoingMessage {
  readonly id: string;
  readonly channel: Channel;
  readonly body: Uint8Array;
  readonly headers: Headers;
  /** Keyed channel only: the ordering key (Kafka's record key, say). */
  readonly key?: string;
}

/** A message read back from a dead-letter destination. */
export interface DeadLetter {
  /** The `x-chaos-id` header of the message; undefined when it did not survive (a bug worth reporting). */
  readonly id: string | undefined;
  readonly channel: Channel | 'unknown';
  readonly headers: Headers;
}

/** Whether the broker keeps per-key order on the keyed route, and if not, the protocol's reason. */
export type KeyedOrder = { readonly on: true } | { readonly on: false; readonly reason: string };

/**
 * One broker, seen from the orchestrator. It starts its own broker (or uses the machine's, with names
 * unique to the run), publishes from outside the service with the broker's confirm, reads dead
 * letters, restarts the broker, and makes RPC clients. Services reach it through a TCP proxy the
 * orchestrator owns (so the network can be cut): `proxyTarget` is where the proxy forwards to.
 */
export interface BrokerDriver {
  readonly broker: BrokerName;
  /** A human name, e.g. `nats (JetStream)`. */
  readonly label: string;
  readonly keyedOrder: KeyedOrder;
  /** Lines the results print under the broker's figures (why a figure is not applicable, settings...). */
  readonly notes: readonly string[];
  /** Where the proxy forwards to; `listenPort` when the proxy must listen on a fixed port (Kafka's advertised listener). */
  readonly proxyTarget: { readonly host: string; readonly port: number; readonly listenPort?: number };
  /** What the consumer process needs to build its routes (see ServiceBindings), reaching the broker at the proxy's port. */
  serviceSpec(proxyPort: number): Json;
  /** Publishes; resolves once the broker confirmed it stored the message. Publishing the same id again must be safe. */
  publish(message: OutgoingMessage): Promise<void>;
  /** Every dead letter of the service's routes so far (non-destructive). */
  readDeadLetters(): Promise<DeadLetter[]>;
  /** Messages the broker still holds for the service (not yet delivered, or delivered and unacked), when it can tell. */
  backlog?(): Promise<number>;
  /** Stops the broker and starts it again; resolves once it answers. */
  restartBroker(): Promise<void>;
  /** An RPC client reaching the service's RPC target (from outside the service). */
  createRpcClient(): Promise<RpcClient>;
  /** Versions of the broker and its client libraries, for the results. */
  versions(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

/**
 * One broker, seen from the consumer process: the config and entrypoints of its three routes. Built
 * from the JSON `serviceSpec` the driver produced.
 */
export interface ServiceBindings {
  /** Config merged into the runner's (broker URLs...). */
  readonly config: Partial<Config>;
  /** The event route's entrypoint (broker-delayed retries, callback). */
  eventEntrypoint(): Entrypoint;
  /** The keyed route's entrypoint. */
  keyedEntrypoint(): Entrypoint;
  /** The RPC target's entrypoint, exposed as `name`. */
  rpcEntrypoint(name: string): Entrypoint;
  /** The broker-delayed backoff of the event route. */
  delayedBackoff(options: BackoffOptions): Backoff;
}

export interface DriverStartOptions {
  /** The consumer's service name, unique to the run (queues, consumer groups and RPC subjects derive from it). */
  readonly serviceName: string;
  /** How long a delivery may stay unacked before the broker gives it again, where the broker has such a setting. */
  readonly ackWaitMs: number;
}

/** What a module in src/drivers exports: the orchestrator's side and the consumer's side of one broker. */
export interface DriverModule {
  start(options: DriverStartOptions): Promise<BrokerDriver>;
  bindings(spec: Json, serviceName: string): ServiceBindings;
}
