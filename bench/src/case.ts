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

/** Everything the bench measures for one broker. */
export interface BrokerBench {
  readonly broker: string;
  /** The broker's name and version as the server reports it, for the results header. */
  readonly server: string;
  /** Publishes `count` small messages where the next drain will read them. */
  prepare(count: number): Promise<void>;
  readonly drains: readonly DrainContestant[];
  readonly rpc: readonly RpcContestant[];
  /** Probe name of this broker for memory-probe.ts, and the channel the last prepare() filled. */
  readonly probe: string;
  channel(): string;
  close(): Promise<void>;
}
