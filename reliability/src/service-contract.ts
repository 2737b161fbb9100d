import type { BrokerName, Json } from './broker-driver.ts';

/** What the orchestrator hands the consumer process (argv[2], as JSON). */
export interface ConsumerArguments {
  readonly broker: BrokerName;
  readonly spec: Json;
  readonly serviceName: string;
  /** The journal file of this incarnation. */
  readonly journal: string;
  readonly maxWorkers: number;
  /** How long a graceful stop waits for in-flight calls. */
  readonly stopTimeoutMs: number;
}

/** The consumer's RPC target. */
export const rpcTargetName = 'echo';

/** The request of the RPC target; it answers `{ id }`. */
export interface EchoRequest {
  readonly id: string;
  /** Ask the target to throw: the caller must get a typed RemoteError. */
  readonly fail: boolean;
}
