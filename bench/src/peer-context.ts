import type { DrainContestant, FailureContestant, RpcContestant } from './case.ts';

/** What the frameworks we compare against (bench/peers) need from a broker's bench. */
export interface PeerContext {
  /** In-flight limit every drain contestant gets (prefetch, max in flight). */
  readonly inFlight: number;
  /** The queue, stream or topic the last prepare() filled. */
  channel(): string;
}

/** Contestants of the peer frameworks for one broker, and the cases they do not support, with why. */
export interface PeerContestants {
  readonly drains: readonly DrainContestant[];
  readonly rpc: readonly RpcContestant[];
  /** Contestants of the failure-cost case: only where the peer has a retry of its own on this broker. */
  readonly failureCost: readonly FailureContestant[];
  readonly unsupported: readonly string[];
}

/** The shape of bench/peers/src/peers.ts, loaded only when its dependencies are installed. */
export interface PeersModule {
  peerContestants(broker: 'amqp' | 'nats' | 'kafka', context: PeerContext): PeerContestants;
  /** Versions of the peer packages, for the results header. */
  peerVersions(): string;
}
