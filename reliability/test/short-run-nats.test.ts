import { it } from 'vitest';
import { shortRunHolds, shortRunTimeoutMs } from './short-run.ts';

// The CI short run of issue #13 on NATS JetStream, on the run's own nats-server (NatsTestServer), so the machine's server on 4222 is never restarted nor cut.
it('short chaos run on NATS JetStream: nothing lost, no RPC call hung', () => shortRunHolds('nats', { orderJudged: false }), shortRunTimeoutMs);
