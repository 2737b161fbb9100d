import type { FailureLedger } from './failure-ledger.ts';

/** What a throughput contestant does: drain `count` pre-published messages; resolves with elapsed ms. */
export interface DrainContestant {
  readonly name: string;
  /** Settings printed with the results (prefetch, acks...). */
  readonly settings: string;
  drain(count: number): Promise<number>;
}

/** What an RPC contestant does: set up a server and a client, then run calls. */
export interface RpcContestant {
  readonly name: string;
  readonly settings: string;
  start(): Promise<void>;
  /** One call; resolves when the reply arrived. */
  call(value: number): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * A contestant of the failure-cost case: consumes the messages prepareFailureCase() published (JSON
 * `{ pattern, data: { id } }`) and passes each id to `ledger.attempt(id)`, which throws on a planned
 * failure; the contestant's own retry must bring that message back. Resolves with the elapsed ms from
 * before its start until every id was handled (see failure-cost.ts).
 */
export interface FailureContestant {
  readonly name: string;
  /** What it does on a failure (republish, nak with delay, broker-delayed backoff...), printed with its figure. */
  readonly settings: string;
  /** Starts a consumer of `channel` handling every message through `ledger`; resolves once it consumes. */
  start(channel: string, ledger: FailureLedger): Promise<{ stop(): Promise<unknown> }>;
}

/** Publishes the sustained case's messages as the schedule says, without waiting for each. */
export interface SustainedPublisher {
  readonly settings: string;
  /** Publishes these bodies now; a returned promise means "wait before publishing more" (back-pressure). */
  publish(bodies: readonly string[]): void | Promise<void>;
  /** Resolves once every publish was acknowledged by the broker; rejects with the first failure. */
  settle(): Promise<void>;
}

/** Everything the bench measures for one broker. */
export interface BrokerBench {
  readonly broker: string;
  /** The broker's name and version as the server reports it, for the results header. */
  readonly server: string;
  /**
   * Publishes `count` small messages to a fresh queue, stream or topic where the next drain will read
   * them: the bench message, or `body(index)` when given.
   */
  prepare(count: number, body?: (index: number) => string): Promise<void>;
  readonly drains: readonly DrainContestant[];
  readonly rpc: readonly RpcContestant[];
  /** The raw client and ours in the failure-cost case. */
  readonly failureCost: readonly FailureContestant[];
  /** A publisher to the channel the last prepare() created, for the sustained case. */
  sustainedPublisher(): Promise<SustainedPublisher>;
  /** Probe name of this broker for memory-probe.ts, and the channel the last prepare() filled. */
  readonly probe: string;
  channel(): string;
  close(): Promise<void>;
}
