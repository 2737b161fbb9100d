import { it } from 'vitest';
import { shortRunHolds, shortRunTimeoutMs } from './short-run.ts';

// The CI short run of issue #13 on Kafka, on a broker of the run's own (tools/kafka/kafka.mjs on free ports, storage under the OS temp dir), so the machine's Kafka on 9092 is never restarted nor cut; per-key order is judged.
it('short chaos run on Kafka: nothing lost, no RPC call hung', () => shortRunHolds('kafka', { orderJudged: true }), shortRunTimeoutMs);
